// Package echo is a tiny test server for sandbox pods: HTTP on a TCP port
// (GET / answers with who served it, /healthz answers ok) and a UDP echo on
// the same port number.
package echo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Reply is the JSON answer of GET /.
type Reply struct {
	Pod    string `json:"pod"`
	Node   string `json:"node"`
	Host   string `json:"host"`
	Client string `json:"client"`
}

// Serve runs both servers until ctx ends.
func Serve(ctx context.Context, port int) error {
	addr := net.JoinHostPort("", strconv.Itoa(port))
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Reply{Pod: os.Getenv("POD_NAME"), Node: os.Getenv("NODE_NAME"), Host: host, Client: r.RemoteAddr})
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listening udp %s: %w", addr, err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	go func() {
		<-ctx.Done()
		pc.Close()
		srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "echo-server: http and udp echo on %s (pod %q, node %q)\n", addr, os.Getenv("POD_NAME"), os.Getenv("NODE_NAME"))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http %s: %w", addr, err)
	}
	return nil
}
