package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

const testToken = "s3cret-token"

func testIdentity() Identity {
	return Identity{Node: "node-1", Pod: "agent-abc", Namespace: "netdoctor", IPs: []string{"127.0.0.1", "::1"}, Version: "test"}
}

// apiServer serves the agent's HTTP API on loopback.
func apiServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	s := NewServer(Options{Identity: testIdentity(), Token: token})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// slowIdentity is a stand-in target agent that waits delay before
// answering and records how many requests it is handling at once.
type slowIdentity struct {
	delay          time.Duration
	inFlight, peak atomic.Int32
	served         atomic.Int32
	srv            *httptest.Server
	node           string
}

func newSlowIdentity(t *testing.T, node string, delay time.Duration) *slowIdentity {
	t.Helper()
	si := &slowIdentity{delay: delay, node: node}
	si.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := si.inFlight.Add(1)
		defer si.inFlight.Add(-1)
		for {
			p := si.peak.Load()
			if n <= p || si.peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-time.After(si.delay):
		case <-r.Context().Done():
			return
		}
		si.served.Add(1)
		json.NewEncoder(w).Encode(Identity{Node: si.node, Pod: si.node + "-pod"})
	}))
	t.Cleanup(si.srv.Close)
	return si
}

func (si *slowIdentity) target(id string) probe.Target {
	addr := si.srv.Listener.Addr().(*net.TCPAddr)
	return probe.Target{ID: id, Kind: probe.KindTCP, Address: addr.IP.String(), Port: addr.Port, ExpectNode: si.node}
}

func post(t *testing.T, url, token, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+ProbePath, strings.NewReader(body))
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestProbeAPIToken(t *testing.T) {
	body := `{"targets":[],"concurrency":1,"timeoutSeconds":1}`
	tests := []struct {
		name       string
		configured string
		sent       string
		want       int
		wantBody   string
	}{
		{"no token sent", testToken, "", http.StatusUnauthorized, "missing or wrong X-Netdoctor-Token"},
		{"wrong token", testToken, "guess", http.StatusUnauthorized, "missing or wrong"},
		{"token prefix is not the token", testToken, testToken[:5], http.StatusUnauthorized, "missing or wrong"},
		{"right token", testToken, testToken, http.StatusOK, ""},
		{"agent without token", "", testToken, http.StatusServiceUnavailable, "has no token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := apiServer(t, tc.configured)
			resp, got := post(t, srv.URL, tc.sent, body)
			if resp.StatusCode != tc.want || !strings.Contains(got, tc.wantBody) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, got, tc.want, tc.wantBody)
			}
		})
	}
}

func TestProbeAPIBadRequest(t *testing.T) {
	srv := apiServer(t, testToken)
	tooMany := ProbeRequest{Concurrency: 1, TimeoutSeconds: 1, Targets: make([]probe.Target, MaxTargets+1)}
	for i := range tooMany.Targets {
		tooMany.Targets[i] = probe.Target{Kind: probe.KindConn, Address: "127.0.0.1", Port: 1}
	}
	tooManyJSON, _ := json.Marshal(tooMany)
	tests := []struct {
		name, body string
		want       []string
	}{
		{"not JSON", `hello`, []string{"bad probe request body"}},
		{"unknown field", `{"targets":[],"concurrency":1,"timeoutSeconds":1,"parallel":5}`, []string{`unknown field "parallel"`}},
		{"zero concurrency and timeout", `{"targets":[],"concurrency":0,"timeoutSeconds":0}`,
			[]string{"concurrency must be at least 1, got 0", "timeoutSeconds must be greater than 0, got 0"}},
		{"unknown kind", `{"targets":[{"id":"a","kind":"tcp","address":"127.0.0.1","port":1},{"id":"b","kind":"carrier-pigeon"}],"concurrency":1,"timeoutSeconds":1}`,
			[]string{`targets[1] (id "b"): unknown kind "carrier-pigeon"`}},
		{"too many targets", string(tooManyJSON), []string{"10001 targets in one request, the limit is 10000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := post(t, srv.URL, testToken, tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d %q, want 400", resp.StatusCode, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("body %q does not contain %q", got, w)
				}
			}
		})
	}
}

func TestProbeAPIStreamsInCompletionOrder(t *testing.T) {
	srv := apiServer(t, testToken)
	slow := newSlowIdentity(t, "slow-node", 600*time.Millisecond)
	fast := newSlowIdentity(t, "fast-node", 0)
	req := ProbeRequest{Concurrency: 2, TimeoutSeconds: 5, Targets: []probe.Target{slow.target("slow"), fast.target("fast")}}

	start := time.Now()
	var got []string
	var arrived []time.Duration
	err := StreamProbe(context.Background(), http.DefaultClient, srv.URL, testToken, req, func(r probe.Result) {
		got = append(got, r.ID)
		arrived = append(arrived, time.Since(start))
		if !r.OK {
			t.Errorf("%s: %s", r.ID, r.Reason)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "fast,slow" {
		t.Fatalf("results in order %v, want fast,slow (completion order)", got)
	}
	// Streaming, not buffering: the fast result reached the client while the
	// slow probe was still running.
	if arrived[0] > 400*time.Millisecond || arrived[1] < 550*time.Millisecond {
		t.Errorf("arrival times %v: fast should arrive long before the slow one's 600ms", arrived)
	}
}

func TestProbeAPIConcurrencyCap(t *testing.T) {
	srv := apiServer(t, testToken)
	target := newSlowIdentity(t, "node-2", 100*time.Millisecond)
	const n, limit = 12, 3
	req := ProbeRequest{Concurrency: limit, TimeoutSeconds: 5}
	for i := 0; i < n; i++ {
		req.Targets = append(req.Targets, target.target(fmt.Sprint(i)))
	}
	seen := map[string]bool{}
	err := StreamProbe(context.Background(), http.DefaultClient, srv.URL, testToken, req, func(r probe.Result) {
		seen[r.ID] = true
		if !r.OK {
			t.Errorf("%s: %s", r.ID, r.Reason)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Errorf("got %d distinct results, want %d", len(seen), n)
	}
	if p := target.peak.Load(); p != limit {
		t.Errorf("peak concurrent probes %d, want exactly the cap %d", p, limit)
	}
}

func TestProbeAPIPerProbeTimeout(t *testing.T) {
	srv := apiServer(t, testToken)
	slow := newSlowIdentity(t, "node-2", 3*time.Second)
	req := ProbeRequest{Concurrency: 1, TimeoutSeconds: 0.3, Targets: []probe.Target{slow.target("a")}}
	var res probe.Result
	start := time.Now()
	if err := StreamProbe(context.Background(), http.DefaultClient, srv.URL, testToken, req, func(r probe.Result) { res = r }); err != nil {
		t.Fatal(err)
	}
	if res.Class != probe.ClassTimeout || time.Since(start) > 2*time.Second {
		t.Fatalf("got %+v after %s, want a timeout after about 300ms", res, time.Since(start))
	}
}

func TestProbeAPIStopsWhenClientGoesAway(t *testing.T) {
	srv := apiServer(t, testToken)
	target := newSlowIdentity(t, "node-2", 200*time.Millisecond)
	req := ProbeRequest{Concurrency: 1, TimeoutSeconds: 5}
	for i := 0; i < 20; i++ {
		req.Targets = append(req.Targets, target.target(fmt.Sprint(i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := StreamProbe(ctx, http.DefaultClient, srv.URL, testToken, req, func(probe.Result) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the client's cancellation", err)
	}
	time.Sleep(600 * time.Millisecond) // ample time for 2-3 more probes if the agent kept going
	if n := target.served.Load(); n > 2 {
		t.Errorf("agent went on probing after the client left: %d of 20 targets served", n)
	}
}

func TestStreamProbeHTTPError(t *testing.T) {
	srv := apiServer(t, testToken)
	err := StreamProbe(context.Background(), http.DefaultClient, srv.URL, "wrong", ProbeRequest{Concurrency: 1, TimeoutSeconds: 1}, func(probe.Result) {})
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got %v, want an HTTPError 401", err)
	}
}

// TestPaddingHeaderMatchesProbe pins the wire names older agents and
// probes use: a rename on either side breaks the other version.
func TestPaddingHeaderMatchesProbe(t *testing.T) {
	for _, c := range []struct{ name, got, want string }{
		{"agent.PaddingHeader", PaddingHeader, "X-Netdoctor-Pad"},
		{"probe.PaddingHeader", probe.PaddingHeader, "X-Netdoctor-Pad"},
		{"agent.IdentityPath", IdentityPath, "/identity"},
		{"probe.IdentityPath", probe.IdentityPath, "/identity"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, the wire uses %q", c.name, c.got, c.want)
		}
	}
}

// runAgent starts a real agent on a free port of every loopback address.
func runAgent(t *testing.T) *Server {
	t.Helper()
	s := NewServer(Options{Identity: testIdentity(), Token: testToken})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent stopped with %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Error("agent did not shut down")
		}
	})
	for i := 0; i < 100 && !s.ready.Load(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func TestAgentAnswersProbes(t *testing.T) {
	s := runAgent(t)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.Port(), ReadyzPath))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, addr := range []string{"127.0.0.1", "::1"} {
		if ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0")); err != nil {
			t.Logf("skipping %s: not usable here: %v", addr, err)
			continue
		} else {
			ln.Close()
		}
		for _, kind := range []probe.Kind{probe.KindTCP, probe.KindUDP} {
			t.Run(fmt.Sprintf("%s %s", kind, addr), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				r := probe.Run(ctx, probe.Target{Kind: kind, Address: addr, Port: s.Port(), ExpectNode: "node-1", ExpectPod: "agent-abc"})
				if !r.OK || r.Responder != "node-1/agent-abc" {
					t.Fatalf("got %+v", r)
				}
				r = probe.Run(ctx, probe.Target{Kind: kind, Address: addr, Port: s.Port(), ExpectNode: "node-2"})
				if r.Class != probe.ClassWrongResponder {
					t.Fatalf("expecting another node: got %+v", r)
				}
			})
		}
	}
}

// TestIdentityPadding checks the agent's answer is about as big as the
// padded request, so full-size packets flow in both directions.
func TestIdentityPadding(t *testing.T) {
	s := runAgent(t)
	for _, pad := range []int{0, 1300, 8000} {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port()))
		if err != nil {
			t.Fatal(err)
		}
		var req bytes.Buffer
		fmt.Fprintf(&req, "GET /identity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
		if pad > 0 {
			fmt.Fprintf(&req, "%s: %s\r\n", PaddingHeader, strings.Repeat("x", pad))
		}
		req.WriteString("\r\n")
		conn.Write(req.Bytes())
		answer, _ := io.ReadAll(conn)
		conn.Close()
		_, body, _ := strings.Cut(string(answer), "\r\n\r\n")
		var id Identity
		if err := json.Unmarshal([]byte(body), &id); err != nil || id.Node != "node-1" {
			t.Fatalf("pad %d: answer is not the identity: %v %q", pad, err, body)
		}
		if pad == 0 {
			if id.Pad != "" {
				t.Errorf("unpadded request got a padded answer")
			}
			continue
		}
		if d := len(answer) - req.Len(); d < -24 || d > 24 {
			t.Errorf("pad %d: request %d bytes, answer %d bytes; want about equal", pad, req.Len(), len(answer))
		}
	}
}

// TestSeparateAPIPort: with an API port, the probe API lives only there and
// the data port serves only what probes need, so a firewall on the data port
// cannot cut the CLI off from the agent (and the API is not on the probed port).
func TestSeparateAPIPort(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiPort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	s := NewServer(Options{Identity: Identity{Node: "node-1", Pod: "agent-abc"}, APIPort: apiPort, Token: "secret"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	for i := 0; i < 100 && !s.ready.Load(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	status := func(method string, port int, path string) int {
		req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), strings.NewReader(`{"targets":[],"concurrency":1,"timeoutSeconds":1}`))
		req.Header.Set(TokenHeader, "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s on %d: %v", method, path, port, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		method string
		port   int
		path   string
		want   int
	}{
		{"GET", s.Port(), IdentityPath, 200},
		{"POST", s.Port(), ProbePath, 404}, // not on the probed port
		{"GET", apiPort, ReadyzPath, 200},
		{"POST", apiPort, ProbePath, 200},
		{"GET", apiPort, IdentityPath, 404},
	} {
		if got := status(tc.method, tc.port, tc.path); got != tc.want {
			t.Errorf("%s %s on port %d: %d, want %d", tc.method, tc.path, tc.port, got, tc.want)
		}
	}
	if APIPortFor(8889) != 8890 || APIPortFor(65535) != 65534 {
		t.Errorf("APIPortFor: %d %d", APIPortFor(8889), APIPortFor(65535))
	}
}

// TestListenPortTaken: a probe port another process holds (on the host
// network: the node's port) is an error naming the port and the node.
func TestListenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	s := NewServer(Options{Identity: Identity{Node: "node-7"}, Port: port})
	err = s.Listen()
	if err == nil {
		t.Fatal("Listen on a taken port succeeded")
	}
	for _, want := range []string{fmt.Sprintf("port %d", port), "already in use on node node-7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
