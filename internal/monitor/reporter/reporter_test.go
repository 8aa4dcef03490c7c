package reporter

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/server"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// fixedRoster is the server's view of the cluster in this test.
type fixedRoster []server.ExpectedAgent

func (f fixedRoster) Expected(context.Context) ([]server.ExpectedAgent, error) { return f, nil }

// startIdentity runs a real check-agent identity server on 127.0.0.1.
func startIdentity(t *testing.T, node, pod string) int {
	t.Helper()
	s := agent.NewServer(agent.Options{Identity: agent.Identity{Node: node, Pod: pod}})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Port()
}

// startDNS runs a miekg/dns server on 127.0.0.1 answering A for name.
func startDNS(t *testing.T, name string) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == dns.Fqdn(name) && q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(dns.Fqdn(name) + " 5 IN A 10.96.0.1")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// oneRound runs one round of agent n1 (pod network, 127.0.0.1) with cfg's
// server and probes, sends the report and returns it.
func oneRound(t *testing.T, cfg Config) api.Report {
	t.Helper()
	cfg.Token, cfg.Node, cfg.Pod, cfg.Network, cfg.IPs = "tok", "n1", "agent-n1", api.NetworkPod, []string{"127.0.0.1"}
	cfg.Interval, cfg.ProbeTimeout, cfg.PeersPerNode, cfg.Concurrency = 15*time.Second, 2*time.Second, 3, 4
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep := a.Round(ctx)
	if err := a.Send(ctx, rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestRoundAgainstRealServers runs one agent round against a real monitor
// server, real peer identity servers, a real DNS server and a TCP listener
// standing in for the API server, all on loopback, and checks what the
// server's matrix and agents endpoints then show.
func TestRoundAgainstRealServers(t *testing.T) {
	const name = "kubernetes.default.svc.cluster.local"
	n2Port := startIdentity(t, "n2", "agent-n2")
	dnsPort := startDNS(t, name)
	dead := closedPort(t)
	now := time.Now()
	srv, err := server.New(server.Config{Token: "tok", Interval: 15 * time.Second, AgentPort: 1, Roster: nil})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetExpected(fixedRoster{
		{Name: "n1-private_network", Node: "n1", Network: api.NetworkPod, IPs: []string{"127.0.0.1"}, Since: now, Counted: true},
		{Name: "n2-private_network", Node: "n2", Network: api.NetworkPod, Pod: "agent-n2", IPs: []string{"127.0.0.1"}, Port: n2Port, Since: now, Counted: true},
		// n3's address answers, but it is n2's agent: a misrouted path.
		{Name: "n3-private_network", Node: "n3", Network: api.NetworkPod, IPs: []string{"127.0.0.1"}, Port: n2Port, Since: now, Counted: true},
		{Name: "n4-host_network", Node: "n4", Network: api.NetworkHost, IPs: []string{"127.0.0.1"}, Port: dead, Since: now, Counted: true},
		{Name: "n5-private_network", Node: "n5", Network: api.NetworkPod, IPs: []string{"127.0.0.1"}, Skip: "node NotReady", Since: now},
	})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	apiHost := strings.TrimPrefix(hs.URL, "http://")

	rep := oneRound(t, Config{
		ServerURL: hs.URL, Jitter: 0.2,
		DNSServer: "127.0.0.1", DNSPort: dnsPort, DNSName: name, APIServer: apiHost,
	})

	m := srv.Matrix(false)
	got := map[string]probe.FailureClass{}
	for _, p := range m.Pairs {
		if p.Source != "n1-private_network" {
			t.Errorf("pair from %s", p.Source)
		}
		got[p.Target] = p.Class
		if p.OK != (p.Class == "") {
			t.Errorf("%s: ok=%v class=%q", p.Target, p.OK, p.Class)
		}
	}
	want := map[string]probe.FailureClass{
		"n2-private_network": probe.ClassNone,
		"n3-private_network": probe.ClassWrongResponder,
		"n4-host_network":    probe.ClassRefused,
	}
	if len(got) != len(want) {
		t.Errorf("matrix targets = %v, want %v", got, want)
	}
	for tg, cls := range want {
		if c, ok := got[tg]; !ok || c != cls {
			t.Errorf("n1 -> %s: class %q (present %v), want %q", tg, c, ok, cls)
		}
	}
	if len(rep.SkippedPeers) != 1 || rep.SkippedPeers[0].Name != "n5-private_network" || rep.SkippedPeers[0].Reason != "node NotReady" {
		t.Errorf("skipped = %+v", rep.SkippedPeers)
	}

	e, ok := srv.Agent("n1-private_network")
	if !ok {
		t.Fatal("server has no report from n1")
	}
	hp := e.HTTPProbe
	if hp == nil || !hp.ConnectionResult || hp.Code != 200 || hp.TotalMs <= 0 || hp.TCPConnectionMs <= 0 || hp.TotalMs < hp.ConnectMs {
		t.Errorf("http probe = %+v", hp)
	}
	if e.DNS == nil || !e.DNS.OK || e.DNS.LatencyMs <= 0 {
		t.Errorf("dns = %+v", e.DNS)
	}
	if e.APIServer == nil || !e.APIServer.OK {
		t.Errorf("apiserver = %+v", e.APIServer)
	}
	if e.Round != 1 || e.PodName != "agent-n1" || e.Uptime == "" || e.HostDate.IsZero() {
		t.Errorf("report fields: %+v", e.Report)
	}
}

func TestSendWithWrongTokenFails(t *testing.T) {
	srv, err := server.New(server.Config{Token: "right", Interval: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	a, err := New(Config{ServerURL: hs.URL, Token: "wrong", Node: "n1", Network: api.NetworkHost,
		Interval: 15 * time.Second, ProbeTimeout: time.Second, PeersPerNode: 3, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Send(context.Background(), a.Round(context.Background()))
	if err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("err = %v, want a 401", err)
	}
	if len(srv.Agents()) != 0 {
		t.Error("server stored a report sent with the wrong token")
	}
}

func TestConfigValidateNamesFlags(t *testing.T) {
	err := Config{Network: "weird", Interval: time.Millisecond, Jitter: 2}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--server", "--token-file", "--node", "--network", "--interval", "--jitter", "--probe-timeout", "--peers-per-node", "--concurrency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}

// TestReportsReuseOneConnection: getting the peer list and sending reports
// round after round go over one keep-alive connection, so an agent needs
// no new connection (and no cluster DNS lookup) per request.
func TestReportsReuseOneConnection(t *testing.T) {
	srv, err := server.New(server.Config{Token: "tok", Interval: 15 * time.Second, AgentPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	var mu sync.Mutex
	conns := 0
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	hs.Start()
	defer hs.Close()
	a, err := New(Config{ServerURL: hs.URL, Token: "tok", Node: "n1", Network: api.NetworkPod,
		Interval: 15 * time.Second, ProbeTimeout: time.Second, PeersPerNode: 3, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := a.FetchPeers(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Send(ctx, api.Report{NodeName: "n1", Network: api.NetworkPod, ReportInterval: 15, HostDate: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("6 requests opened %d connections, want 1 (keep-alive)", conns)
	}
}

// TestRoundKinds: an agent configured for udp and icmp (no tcp, no dns)
// probes its peers with exactly those kinds, planned by the same planner
// as netctl check, and the server's matrix shows one pair per kind.
func TestRoundKinds(t *testing.T) {
	n2Port := startIdentity(t, "n2", "agent-n2")
	now := time.Now()
	srv, err := server.New(server.Config{Token: "tok", Interval: 15 * time.Second, AgentPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetExpected(fixedRoster{
		{Name: "n1-private_network", Node: "n1", Network: api.NetworkPod, IPs: []string{"127.0.0.1"}, Since: now, Counted: true},
		{Name: "n2-private_network", Node: "n2", Network: api.NetworkPod, Pod: "agent-n2", IPs: []string{"127.0.0.1"}, Port: n2Port, Since: now, Counted: true},
	})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	rep := oneRound(t, Config{ServerURL: hs.URL, Kinds: []probe.Kind{probe.KindUDP, probe.KindICMP}, DNSServer: "127.0.0.1"})
	got := map[string]bool{}
	for _, p := range srv.Matrix(false).Pairs {
		got[p.Target+" "+string(p.Kind)] = p.OK
		if !p.OK {
			t.Errorf("%s %s: %s %s", p.Target, p.Kind, p.Class, p.Reason)
		}
	}
	want := map[string]bool{"n2-private_network udp": true, "n2-private_network icmp": true}
	if len(got) != len(want) {
		t.Errorf("matrix pairs %v, want %v", got, want)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s pair in %v", k, got)
		}
	}
	if rep.DNS != nil {
		t.Errorf("dns was probed without the dns kind: %+v", rep.DNS)
	}
	if err := (Config{Kinds: []probe.Kind{"sctp"}}).Validate(); err == nil || !strings.Contains(err.Error(), `--kinds: "sctp"`) {
		t.Errorf("Validate with kind sctp: %v", err)
	}
}
