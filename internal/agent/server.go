// Package agent is the in-cluster agent (`netctl agent`): it answers the tcp
// probe on GET /identity, echoes the udp probe on the same port number, and
// runs batches of probes for the CLI on POST /v1/probe. See api.go for the
// wire API.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// shutdownGrace is how long in-flight requests get after a stop signal.
const shutdownGrace = 5 * time.Second

// Options configure a Server.
type Options struct {
	Identity Identity
	// Port for HTTP (tcp) and the UDP echo; 0 picks a free port (tests).
	Port int
	// APIPort, when > 0, serves the control API (POST /v1/probe, /healthz,
	// /readyz) on its own listener, and the data port serves only what
	// probes need (GET /identity, UDP echo) plus health. 0 serves
	// everything on Port. netctl deploys agents with APIPortFor(Port).
	APIPort int
	// Token protects POST /v1/probe. Empty disables that endpoint (503):
	// an agent without a token never runs probes for anyone.
	Token  string
	Logger *slog.Logger
	// ProcRoot is where GET /v1/facts reads /proc from ("" = "/proc").
	ProcRoot string
}

// Server is one agent. Create it with NewServer, then Run it (or Listen
// and Serve separately when the caller needs the chosen port first).
type Server struct {
	opts  Options
	log   *slog.Logger
	ready atomic.Bool
	tcp   net.Listener
	api   net.Listener // nil when the API shares the data port
	udp   []net.PacketConn
	port  int

	// loading is held while a POST /v1/load runs: one run at a time, so
	// two callers never double the rate they each asked for.
	loading sync.Mutex
}

// NewServer returns a server that is not yet listening.
func NewServer(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log}
}

// Port is the port the server listens on (valid after Listen).
func (s *Server) Port() int { return s.port }

// Run listens and serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Listen opens the TCP listener and the UDP echo sockets on one port number.
// A port another process holds is named with the node, since on the host
// network it is the node's port (the CLI shows this as the agent's reason).
func (s *Server) Listen() error {
	err := s.listen()
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("port already in use on node %s (another process listens there; set port/--port to a free one): %w", s.opts.Identity.Node, err)
	}
	return err
}

func (s *Server) listen() error {
	const attempts = 10 // only port 0 can retry: TCP's free port may be taken for UDP
	var lastErr error
	for i := 0; i < attempts; i++ {
		ln, err := listenTCP(s.opts.Port)
		if err != nil {
			return err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		udp, err := listenUDP(port, s.log)
		if err != nil {
			ln.Close()
			lastErr = err
			if s.opts.Port != 0 {
				break
			}
			continue
		}
		if s.opts.APIPort > 0 {
			api, err := listenTCP(s.opts.APIPort)
			if err != nil {
				ln.Close()
				for _, pc := range udp {
					pc.Close()
				}
				return fmt.Errorf("control API: %w", err)
			}
			s.api = api
		}
		s.tcp, s.udp, s.port = ln, udp, port
		return nil
	}
	return lastErr
}

// listenTCP listens on all addresses of both families: one dual-stack
// socket on [::], or IPv4 only when the kernel has no IPv6.
func listenTCP(port int) (net.Listener, error) {
	addr := ":" + strconv.Itoa(port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var err4 error
		if ln, err4 = net.Listen("tcp4", addr); err4 != nil {
			return nil, fmt.Errorf("listening on tcp port %d: %w", port, errors.Join(err, err4))
		}
	}
	return ln, nil
}

// Serve serves HTTP and the UDP echo on the listeners opened by Listen
// until ctx is done.
func (s *Server) Serve(ctx context.Context) error {
	if s.tcp == nil {
		return errors.New("agent: Serve called before Listen")
	}
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			// No WriteTimeout: a probe batch streams for as long as it runs.
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
	}
	servers := []*http.Server{newServer(s.Handler())}
	listeners := []net.Listener{s.tcp}
	if s.api != nil {
		servers = []*http.Server{newServer(s.dataHandler()), newServer(s.apiHandler())}
		listeners = append(listeners, s.api)
	}
	var wg sync.WaitGroup
	for _, pc := range s.udp {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveEcho(pc)
		}()
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	s.ready.Store(true)
	s.log.Info("agent listening", "port", s.port, "node", s.opts.Identity.Node, "pod", s.opts.Identity.Pod,
		"probeAPI", s.opts.Token != "")

	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.ready.Store(false)
		s.log.Info("agent shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		for _, srv := range servers {
			err = errors.Join(err, srv.Shutdown(sctx))
		}
		cancel()
		<-errc
	}
	// Stop the others when one failed, and wait for every Serve to return.
	for _, srv := range servers {
		srv.Close()
	}
	for range len(servers) - 1 {
		<-errc
	}
	for _, pc := range s.udp {
		pc.Close()
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Handler is the agent's whole HTTP API on one port (also used directly by
// tests).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+IdentityPath, s.handleIdentity)
	s.addHealth(mux)
	s.addEcho(mux)
	mux.HandleFunc("POST "+ProbePath, s.handleProbe)
	mux.HandleFunc("GET "+FactsPath, s.handleFacts)
	mux.HandleFunc("POST "+LoadPath, s.handleLoad)
	return mux
}

// dataHandler is what the data port serves when the API has its own port.
func (s *Server) dataHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+IdentityPath, s.handleIdentity)
	s.addHealth(mux)
	s.addEcho(mux)
	return mux
}

// apiHandler is the control API on its own port.
func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	s.addHealth(mux)
	mux.HandleFunc("POST "+ProbePath, s.handleProbe)
	mux.HandleFunc("GET "+FactsPath, s.handleFacts)
	mux.HandleFunc("POST "+LoadPath, s.handleLoad)
	return mux
}

func (s *Server) addHealth(mux *http.ServeMux) {
	mux.HandleFunc("GET "+HealthzPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET "+ReadyzPath, func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready: listeners not up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}
