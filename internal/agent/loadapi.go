package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/load"
)

// Paths of the load engine (netctl reach).
//
//	GET  /echo, /echo/...  (data port) -> load.EchoReply (JSON): who answered
//	                   and what it saw (client address, Host, path). Any path
//	                   under /echo/ answers too, for ingress path routing.
//	POST /v1/load      (control port) -> body load.Request, header TokenHeader;
//	                   response load.Response once the run has ended (at most
//	                   duration + 2 x perRequestTimeout). One run
//	                   at a time per agent: 409 while another runs.
const (
	EchoPath = "/echo"
	LoadPath = "/v1/load"
)

func (s *Server) addEcho(mux *http.ServeMux) {
	mux.HandleFunc("GET "+EchoPath, s.handleEcho)
	mux.HandleFunc("GET "+EchoPath+"/", s.handleEcho)
}

// handleEcho names this agent and what it saw of the request. PodIP is the
// address the connection arrived at: behind a Service's DNAT, the pod IP
// the VIP was translated to.
func (s *Server) handleEcho(w http.ResponseWriter, r *http.Request) {
	reply := load.EchoReply{
		Node:       s.opts.Identity.Node,
		Pod:        s.opts.Identity.Pod,
		ClientAddr: r.RemoteAddr,
		Host:       r.Host,
		Path:       r.URL.Path,
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			reply.PodIP = strings.TrimPrefix(host, "::ffff:")
		}
	}
	body, _ := json.Marshal(reply)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// handleLoad runs one load.Request and answers its results.
func (s *Server) handleLoad(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var req load.Request
	if !decodeValid(w, r, &req, "load") {
		return
	}
	if !s.loading.TryLock() {
		http.Error(w, "a load run is already in progress on this agent: wait for it to end", http.StatusConflict)
		return
	}
	defer s.loading.Unlock()
	start := time.Now()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	stop := keepWriting(w, loadKeepAlive)
	results := load.Run(r.Context(), req) // the client going away stops the run
	stop()
	var sent, ok int64
	for _, t := range results {
		sent += t.Requests
		ok += t.Succeeded
	}
	s.log.Info("load run done", "targets", len(req.Targets), "qps", req.QPS, "requests", sent, "succeeded", ok,
		"duration", time.Since(start).String(), "clientGone", r.Context().Err() != nil)
	json.NewEncoder(w).Encode(load.Response{Results: results})
}

// loadKeepAlive is how often a running load answer sends a byte.
const loadKeepAlive = 15 * time.Second

// keepWriting sends a newline every interval until stop is called, so that
// proxies on the way (the API server's pod proxy, load balancers in front
// of it) do not take a run of minutes for an idle connection. A JSON
// decoder skips the leading whitespace.
func keepWriting(w http.ResponseWriter, interval time.Duration) (stop func()) {
	rc := http.NewResponseController(w)
	rc.Flush()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				w.Write([]byte("\n"))
				rc.Flush()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// Load runs req on the agent at baseURL (as for StreamProbe) and returns its
// results once the run has ended. ctx must allow req.Duration plus
// twice req.PerRequestTimeout and the way there and back.
func Load(ctx context.Context, c Doer, baseURL, token string, req load.Request) (load.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return load.Response{}, fmt.Errorf("encoding load request: %w", err)
	}
	url := strings.TrimSuffix(baseURL, "/") + LoadPath
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return load.Response{}, fmt.Errorf("building load request for %s: %w", url, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(TokenHeader, token)
	resp, err := c.Do(hreq)
	if err != nil {
		return load.Response{}, fmt.Errorf("posting load run to %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return load.Response{}, &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	var out load.Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&out); err != nil {
		return load.Response{}, fmt.Errorf("decoding load results from %s: %w", url, err)
	}
	if len(out.Results) != len(req.Targets) {
		return out, fmt.Errorf("load results from %s: %d results for %d targets", url, len(out.Results), len(req.Targets))
	}
	return out, nil
}
