package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// maxRequestBytes bounds a ProbeRequest body: 10,000 targets of a few
// hundred bytes each fit with room to spare.
const maxRequestBytes = 16 << 20

// Validate reports every problem with a batch at once, naming the field.
func (r ProbeRequest) Validate() error {
	var errs []error
	if r.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency must be at least 1, got %d", r.Concurrency))
	}
	if !(r.TimeoutSeconds > 0) {
		errs = append(errs, fmt.Errorf("timeoutSeconds must be greater than 0, got %v", r.TimeoutSeconds))
	}
	if len(r.Targets) > MaxTargets {
		errs = append(errs, fmt.Errorf("targets: %d targets in one request, the limit is %d: split the batch", len(r.Targets), MaxTargets))
	}
	for i, t := range r.Targets {
		if !probe.Known(t.Kind) {
			errs = append(errs, fmt.Errorf("targets[%d] (id %q): unknown kind %q", i, t.ID, t.Kind))
		}
	}
	return errors.Join(errs...)
}

// authorized checks the token of a control API request and answers 503
// (agent without a token) or 401 itself when it is not authorized.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Token == "" {
		http.Error(w, "probe API disabled: this agent has no token (start it with --token-file)", http.StatusServiceUnavailable)
		return false
	}
	got := r.Header.Get(TokenHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) != 1 {
		s.log.Warn("control API request with a missing or wrong token", "path", r.URL.Path, "remote", r.RemoteAddr, "tokenSent", got != "")
		http.Error(w, "missing or wrong "+TokenHeader, http.StatusUnauthorized)
		return false
	}
	return true
}

// decodeValid reads a control API request body (JSON, no unknown fields)
// into req and validates it, answering 400 itself when either fails.
func decodeValid(w http.ResponseWriter, r *http.Request, req interface{ Validate() error }, what string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		http.Error(w, "bad "+what+" request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	if err := req.Validate(); err != nil {
		http.Error(w, "bad "+what+" request: "+strings.ReplaceAll(err.Error(), "\n", "; "), http.StatusBadRequest)
		return false
	}
	return true
}

// handleProbe runs a batch and streams each result as one NDJSON line the
// moment it finishes.
func (s *Server) handleProbe(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var req ProbeRequest
	if !decodeValid(w, r, &req, "probe") {
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}

	start := time.Now()
	ctx, cancel := context.WithCancel(r.Context()) // the client going away stops the batch
	defer cancel()
	results := make(chan probe.Result)
	go runBatch(ctx, req, results)

	enc := json.NewEncoder(w)
	sent, failed := 0, 0
	keepalive := time.NewTicker(KeepaliveInterval)
	defer keepalive.Stop()
	for open := true; open; {
		select {
		case res, ok := <-results:
			if open = ok; !ok || ctx.Err() != nil {
				continue // done, or drain: the client is gone
			}
			keepalive.Reset(KeepaliveInterval)
			if err := enc.Encode(res); err != nil {
				cancel()
				continue
			}
			sent++
			if !res.OK {
				failed++
			}
		case <-keepalive.C:
			if ctx.Err() != nil {
				continue
			}
			if _, err := io.WriteString(w, "\n"); err != nil {
				cancel()
				continue
			}
		}
		if flusher != nil && ctx.Err() == nil {
			flusher.Flush()
		}
	}
	s.log.Info("probe batch done", "targets", len(req.Targets), "sent", sent, "failed", failed,
		"concurrency", req.Concurrency, "duration", time.Since(start).String(), "clientGone", r.Context().Err() != nil)
}

// runBatch runs every target with at most req.Concurrency in flight, each
// under its own timeout, and sends the results in completion order. It
// closes results when done; it stops starting probes when ctx ends.
func runBatch(ctx context.Context, req ProbeRequest, results chan<- probe.Result) {
	defer close(results)
	timeout := time.Duration(req.TimeoutSeconds * float64(time.Second))
	var g errgroup.Group
	g.SetLimit(req.Concurrency)
	for _, t := range req.Targets {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			pctx, cancel := context.WithTimeout(ctx, timeout)
			res := probe.Run(pctx, t)
			cancel()
			select {
			case results <- res:
			case <-ctx.Done():
			}
			return nil
		})
	}
	g.Wait()
}
