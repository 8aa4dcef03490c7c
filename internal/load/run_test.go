package load

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer answers like an agent's /echo for backend name, and records
// when each request arrived and how many connections it accepted.
type echoServer struct {
	*httptest.Server
	mu       sync.Mutex
	arrivals []time.Time
	hosts    map[string]int // Host headers seen
	conns    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
}

func newEchoServer(t testing.TB, name string, delay time.Duration) *echoServer {
	t.Helper()
	return newEchoServerOn(t, "tcp", "127.0.0.1:0", name, delay)
}

func newEchoServerOn(t testing.TB, network, addr, name string, delay time.Duration) *echoServer {
	t.Helper()
	e := &echoServer{hosts: map[string]int{}}
	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		for p := e.peak.Load(); n > p && !e.peak.CompareAndSwap(p, n); p = e.peak.Load() {
		}
		e.mu.Lock()
		e.arrivals = append(e.arrivals, time.Now())
		e.hosts[r.Host]++
		e.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		fmt.Fprintf(w, `{"node":%q,"pod":%q,"podIP":"127.0.0.1","clientAddr":%q,"host":%q,"path":%q}`,
			name+"-node", name+"-pod", r.RemoteAddr, r.Host, r.URL.Path)
	}))
	e.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			e.conns.Add(1)
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listening on %s %s: %v", network, addr, err)
	}
	e.Listener.Close()
	e.Listener = ln
	e.Start()
	t.Cleanup(e.Close)
	return e
}

func (e *echoServer) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.arrivals)
}

func TestPacerHoldsQPSOverTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s run")
	}
	a, b := newEchoServer(t, "a", 0), newEchoServer(t, "b", 0)
	req := Request{QPS: 1000, Duration: 10 * time.Second, PerRequestTimeout: 2 * time.Second,
		Targets: []Target{{ID: "a", URL: a.URL + "/echo"}, {ID: "b", URL: b.URL + "/echo"}}}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := Run(context.Background(), req)
	took := time.Since(start)

	var all []time.Time
	for _, e := range []*echoServer{a, b} {
		all = append(all, e.arrivals...)
	}
	first, last := all[0], all[0]
	for _, at := range all {
		if at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	rate := float64(len(all)-1) / last.Sub(first).Seconds()
	t.Logf("%d requests arrived in %s: %.1f/s; Run took %s", len(all), last.Sub(first), rate, took)
	if math.Abs(rate-1000) > 20 {
		t.Errorf("achieved %.1f requests/s, want 1000 within 2%%", rate)
	}
	if len(all) != 10000 || math.Abs(took.Seconds()-10) > 0.2 {
		t.Errorf("%d requests in %s, want 10000 in 10 s within 2%%", len(all), took)
	}
	// The total is split across the targets, never multiplied by them.
	for i, r := range res {
		if r.Requests != 5000 || r.Succeeded != 5000 {
			t.Errorf("target %s: %d requests, %d succeeded, want 5000 each", r.ID, r.Requests, r.Succeeded)
		}
		if r.Latency.Count() != 5000 || r.Connect.Count() != 5000 || r.FirstByte.Count() != 5000 {
			t.Errorf("target %s: latency/connect/firstByte counts %d/%d/%d", r.ID, r.Latency.Count(), r.Connect.Count(), r.FirstByte.Count())
		}
		// A new connection per request by default.
		if c := []*echoServer{a, b}[i].conns.Load(); c != 5000 {
			t.Errorf("target %s: %d connections for 5000 requests", r.ID, c)
		}
	}
}

func TestKeepAliveReusesConnections(t *testing.T) {
	e := newEchoServer(t, "a", 0)
	res := Run(context.Background(), Request{QPS: 200, Duration: time.Second, PerRequestTimeout: time.Second, KeepAlive: true,
		Targets: []Target{{ID: "a", URL: e.URL + "/echo"}}})
	if res[0].Succeeded != 200 {
		t.Fatalf("%d of 200 succeeded: %+v", res[0].Succeeded, res[0])
	}
	// Without keep-alive this is 200. With it, the pool grows only while
	// requests overlap, which a loaded machine makes happen (8 were seen at
	// load 13 on 2 cores): at least ten requests per connection.
	if c := e.conns.Load(); c > 20 {
		t.Errorf("keep-alive opened %d connections for 200 sequential-rate requests", c)
	}
}

// roundRobin is a strict round-robin balancer over backends (as a
// Service balancing per connection, or Traefik's WRR): a tiny stand-in
// whose answers name the backend that served them.
func roundRobin(t *testing.T, backends ...*echoServer) *httptest.Server {
	var n atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backend := backends[(n.Add(1)-1)%int64(len(backends))]
		resp, err := http.Get(backend.URL + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(lb.Close)
	return lb
}

func TestBackendsFromEchoReplies(t *testing.T) {
	lb := roundRobin(t, newEchoServer(t, "a", 0), newEchoServer(t, "b", 0))
	res := Run(context.Background(), Request{QPS: 100, Duration: time.Second, PerRequestTimeout: time.Second,
		Targets: []Target{{ID: "svc", URL: lb.URL + "/echo/x", Host: "svc.example"}}})
	r := res[0]
	if len(r.Backends) != 2 || r.Backends[0].Node != "a-node" || r.Backends[1].Pod != "b-pod" ||
		r.Backends[0].Count+r.Backends[1].Count != 100 || r.Backends[0].ClientAddr != "127.0.0.1" {
		t.Fatalf("backends %+v", r.Backends)
	}
}

// TestRoundRobinBalancerSeenByEveryTarget: two targets behind one strict
// round-robin balancer (as Traefik's WRR) each see both backends. With the
// targets always sent in the same order, every request of one target landed
// on the same backend.
func TestRoundRobinBalancerSeenByEveryTarget(t *testing.T) {
	lb := roundRobin(t, newEchoServer(t, "a", 0), newEchoServer(t, "b", 0))
	res := Run(context.Background(), Request{QPS: 100, Duration: 2 * time.Second, PerRequestTimeout: time.Second,
		Targets: []Target{{ID: "x", URL: lb.URL + "/echo/x"}, {ID: "y", URL: lb.URL + "/echo/y"}}})
	for _, r := range res {
		if r.Succeeded != 100 {
			t.Fatalf("%s: %d of 100 succeeded: %+v", r.ID, r.Succeeded, r.Errors)
		}
		// Both backends, each at least a fifth of the target's requests
		// (binomial(100, 1/2): below 20 has probability ~1e-9).
		if len(r.Backends) != 2 || r.Backends[0].Count < 20 || r.Backends[1].Count < 20 {
			t.Errorf("%s: backends %+v, want both answering about half", r.ID, r.Backends)
		}
	}
}

func TestErrorClassesAgainstRealServers(t *testing.T) {
	// A port nobody listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + ln.Addr().String() + "/echo"
	ln.Close()

	slow := newEchoServer(t, "slow", 2*time.Second)
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no backends", http.StatusServiceUnavailable)
	}))
	defer status.Close()
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.(*net.TCPConn).SetLinger(0) // close with RST
			c.Close()
		}
	}))
	defer reset.Close()

	for _, keepAlive := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepAlive=%v", keepAlive), func(t *testing.T) {
			checkErrorClasses(t, keepAlive, refusedURL, slow.URL, status.URL, reset.URL)
		})
	}
}

func checkErrorClasses(t *testing.T, keepAlive bool, refusedURL, slowURL, statusURL, resetURL string) {
	res := Run(context.Background(), Request{QPS: 50, Duration: time.Second, PerRequestTimeout: 300 * time.Millisecond, KeepAlive: keepAlive,
		Targets: []Target{
			{ID: "refused", URL: refusedURL},
			{ID: "timeout", URL: slowURL + "/echo"},
			{ID: "status", URL: statusURL + "/echo"},
			{ID: "expected-503", URL: statusURL + "/echo", ExpectStatus: []int{503}},
			{ID: "reset", URL: resetURL + "/echo"},
		}})
	want := map[string]string{"refused": ErrRefused, "timeout": ErrTimeout, "status": ErrStatus, "reset": ErrReset}
	for _, r := range res {
		t.Logf("%s: %d requests, %d ok, codes %v, errors %v, samples %q", r.ID, r.Requests, r.Succeeded, r.StatusCodes, r.Errors, r.ErrorSamples)
		if r.Requests != 10 {
			t.Errorf("%s: %d requests, want 10 (50 QPS over 5 targets for 1 s)", r.ID, r.Requests)
		}
		if r.ID == "expected-503" {
			if r.Succeeded != 10 || r.StatusCodes[503] != 10 || len(r.Errors) != 0 {
				t.Errorf("expected 503 not counted as success: %+v", r)
			}
			continue
		}
		if r.Succeeded != 0 || r.Errors[want[r.ID]] != 10 || len(r.Errors) != 1 || len(r.ErrorSamples) == 0 {
			t.Errorf("%s: want 10 errors of class %q only, got %v", r.ID, want[r.ID], r.Errors)
		}
		if r.ID == "reset" && len(r.ErrorSamples) != 1 {
			t.Errorf("reset: one cause gave %d samples %q: the local port should not make them distinct", len(r.ErrorSamples), r.ErrorSamples)
		}
		if r.Latency.Count() != 0 {
			t.Errorf("%s: failed requests in the latency histogram", r.ID)
		}
	}
	if res[2].StatusCodes[503] != 10 {
		t.Errorf("status codes %v", res[2].StatusCodes)
	}
}

// With one slot per target and a backend slower than the pace, requests
// wait for the slot; their latency counts from when they were due (so it
// grows far beyond the backend's 40 ms), the backend never sees more than
// one at a time, requests that cannot get the slot within their timeout are
// counted as not sent, and the other target, whose backend is fast, loses
// nothing to the slow one.
func TestBoundedInFlightAndLatencyFromIntendedTime(t *testing.T) {
	slow, fast := newEchoServer(t, "slow", 40*time.Millisecond), newEchoServer(t, "fast", 0)
	res := Run(context.Background(), Request{QPS: 200, Duration: time.Second, PerRequestTimeout: 300 * time.Millisecond, MaxInFlight: 2,
		Targets: []Target{{ID: "slow", URL: slow.URL + "/echo"}, {ID: "fast", URL: fast.URL + "/echo"}}})
	r := res[0]
	t.Logf("slow: requests %d, ok %d, errors %v, p50 %d us, max %d us", r.Requests, r.Succeeded, r.Errors, r.Latency.Quantile(0.5), r.Latency.Max())
	if p := slow.peak.Load(); p != 1 {
		t.Errorf("slow backend saw %d requests at once with one slot", p)
	}
	if r.Requests != 100 || r.Errors[ErrNotSent] == 0 || r.Succeeded+r.Errors[ErrNotSent] != 100 || r.Queued == 0 || r.Queued >= r.Succeeded {
		t.Errorf("want 100 requests, some not sent, the rest succeeded: %+v", r)
	}
	if r.Latency.Max() < 200_000 {
		t.Errorf("max latency %d us: queueing behind the slot is not counted from the intended time", r.Latency.Max())
	}
	if got := int64(slow.count()); got != r.Succeeded {
		t.Errorf("slow backend served %d, engine counts %d succeeded", got, r.Succeeded)
	}
	if f := res[1]; f.Requests != 100 || f.Succeeded != 100 || f.Latency.Quantile(0.99) > 100_000 {
		t.Errorf("fast target suffered from the slow one: %d requests, %d ok, p99 %d us", f.Requests, f.Succeeded, f.Latency.Quantile(0.99))
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	e := newEchoServer(t, "a", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Run(ctx, Request{QPS: 100, Duration: time.Minute, PerRequestTimeout: time.Second,
		Targets: []Target{{ID: "a", URL: e.URL + "/echo"}}})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Run took %s after its context ended", took)
	}
	if res[0].Requests < 10 || res[0].Requests > 60 {
		t.Fatalf("%d requests in 300 ms at 100 QPS", res[0].Requests)
	}
}

// A backend that accepts connections and never answers: the engine's
// goroutines stay within maxInFlight however many requests fall due, and
// every request fails as a timeout or not-sent.
func TestGoroutinesBoundedByMaxInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()

	base := runtime.NumGoroutine()
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				peak.Store(max(peak.Load(), int64(runtime.NumGoroutine()-base)))
			}
		}
	}()
	res := Run(context.Background(), Request{QPS: 2000, Duration: time.Second, PerRequestTimeout: 200 * time.Millisecond, MaxInFlight: 10,
		Targets: []Target{{ID: "silent", URL: "http://" + ln.Addr().String() + "/echo"}}})
	close(done)
	r := res[0]
	t.Logf("peak goroutines above base %d; %+v", peak.Load(), r.Errors)
	// The requests, each with at most a brief AfterFunc goroutine when its
	// timeout fires, and the sampler: far below the 2,000 requests due.
	if p := peak.Load(); p > 2*10+1 {
		t.Errorf("%d goroutines above the base with maxInFlight 10", p)
	}
	if r.Requests != 2000 || r.Succeeded != 0 || r.Errors[ErrTimeout]+r.Errors[ErrNotSent] != 2000 || r.Errors[ErrNotSent] == 0 {
		t.Errorf("want 2000 requests, all timeout or not-sent: %+v", r)
	}
}

// IPv6 literal URLs and a Host header (ingress, gateway), on new
// connections and kept-alive ones.
func TestIPv6TargetAndHostHeader(t *testing.T) {
	e := newEchoServerOn(t, "tcp6", "[::1]:0", "six", 0)
	for _, keepAlive := range []bool{false, true} {
		res := Run(context.Background(), Request{QPS: 50, Duration: time.Second, PerRequestTimeout: time.Second, KeepAlive: keepAlive,
			Targets: []Target{{ID: "v6", URL: e.URL + "/echo/path", Host: "reach.example"}}})
		if r := res[0]; r.Succeeded != 50 || len(r.Backends) != 1 || r.Backends[0].ClientAddr != "::1" {
			t.Errorf("keepAlive %v: %+v", keepAlive, r)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hosts["reach.example"] != 100 || len(e.hosts) != 1 {
		t.Errorf("Host headers seen: %v", e.hosts)
	}
}
