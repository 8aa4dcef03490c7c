package agent

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// handleIdentity answers who this agent is. When the request carries a
// PaddingHeader the answer is padded to about the request's size, so the
// tcp probe sends and receives a full-size packet.
func (s *Server) handleIdentity(w http.ResponseWriter, r *http.Request) {
	id := s.opts.Identity
	body, err := json.Marshal(id)
	if err != nil {
		http.Error(w, "encoding identity: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if r.Header.Get(PaddingHeader) != "" {
		if n := requestSize(r) - len(body) - responseOverhead(r); n > 0 {
			id.Pad = strings.Repeat("x", n)
			body, _ = json.Marshal(id)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// requestSize estimates the bytes the request took on the wire.
func requestSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// responseOverhead is what Go's server adds around the body: status line,
// Content-Type, Date, Content-Length, Connection, and the `,"pad":""` the
// padding itself needs.
func responseOverhead(r *http.Request) int {
	n := len("HTTP/1.1 200 OK\r\n") +
		len("Content-Type: application/json\r\n") +
		len("Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n") +
		len("Content-Length: 1500\r\n") +
		len("\r\n") +
		len(`,"pad":""`)
	if r.Close {
		n += len("Connection: close\r\n")
	}
	return n
}
