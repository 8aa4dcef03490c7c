package load

import (
	"context"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsServer is a miekg/dns server on loopback UDP answering ok.test (A
// and AAAA) after delay, NXDOMAIN for anything else; it notes when each
// query arrived and how many it worked on at once.
type dnsServer struct {
	addr string

	mu       sync.Mutex
	arrivals []time.Time
	busy     int
	peak     int
}

func newDNSServer(t *testing.T, delay time.Duration) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.mu.Lock()
		s.arrivals = append(s.arrivals, time.Now())
		s.busy++
		s.peak = max(s.peak, s.busy)
		s.mu.Unlock()
		time.Sleep(delay)
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch {
		case q.Name != "ok.test.":
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR("ok.test. 30 IN A 10.96.0.1")
			m.Answer = append(m.Answer, rr)
		case q.Qtype == dns.TypeAAAA:
			rr, _ := dns.NewRR("ok.test. 30 IN AAAA fd00::1")
			m.Answer = append(m.Answer, rr)
		}
		s.mu.Lock()
		s.busy-- // before the answer: the client sends the next query once it has it
		s.mu.Unlock()
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

func (s *dnsServer) snapshot() ([]time.Time, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrivals...), s.peak
}

// TestDNSPacedAtQPS: DNS targets are paced open loop like HTTP ones: the
// queries arrive at the asked total rate, evenly over the run (each half
// of it within a few % of the rate), and the total is split across the
// targets.
func TestDNSPacedAtQPS(t *testing.T) {
	srv := newDNSServer(t, 0)
	req := Request{QPS: 400, Duration: 4 * time.Second, PerRequestTimeout: time.Second, Targets: []Target{
		{ID: "v4", DNS: &DNS{Server: srv.addr, Name: "ok.test", Family: "IPv4"}},
		{ID: "v6", DNS: &DNS{Server: srv.addr, Name: "ok.test", Family: "IPv6"}},
	}}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := Run(context.Background(), req)
	took := time.Since(start)
	all, _ := srv.snapshot()
	if len(all) != 1600 {
		t.Fatalf("%d queries arrived, want 1600 (400 QPS x 4 s)", len(all))
	}
	rate := func(at []time.Time) float64 { return float64(len(at)-1) / at[len(at)-1].Sub(at[0]).Seconds() }
	// Arrivals are in order (one lock); each half is its own measure, so a
	// burst then a stall cannot average out to the right rate.
	whole, first, second := rate(all), rate(all[:800]), rate(all[800:])
	t.Logf("1600 queries in %s: %.1f/s (halves %.1f, %.1f); Run took %s", all[len(all)-1].Sub(all[0]), whole, first, second, took)
	for name, r := range map[string]float64{"whole run": whole, "first half": first, "second half": second} {
		if math.Abs(r-400) > 400*0.03 {
			t.Errorf("%s: %.1f queries/s, want 400 within 3%%", name, r)
		}
	}
	for _, r := range res {
		if r.Requests != 800 || r.Succeeded != 800 || r.Latency.Count() != 800 || len(r.Errors) != 0 {
			t.Errorf("%s: %d requests, %d succeeded, %d latencies, errors %v; want 800 each", r.ID, r.Requests, r.Succeeded, r.Latency.Count(), r.Errors)
		}
		if r.Connect != nil || r.FirstByte != nil || len(r.Backends) != 0 || len(r.StatusCodes) != 0 {
			t.Errorf("%s: HTTP-only fields on a DNS target: %+v", r.ID, r)
		}
	}
}

// TestDNSLatencyFromIntendedTime: a DNS server that takes 50 ms per query,
// given one in-flight slot at 100 QPS, serves 20 a second: the queries
// wait for the slot, and their latency counts that wait (from the time each
// was due), not only the 50 ms the server took. Closed-loop measurement
// would report about 50 ms for every query.
func TestDNSLatencyFromIntendedTime(t *testing.T) {
	srv := newDNSServer(t, 50*time.Millisecond)
	res := Run(context.Background(), Request{QPS: 100, Duration: time.Second, PerRequestTimeout: 700 * time.Millisecond, MaxInFlight: 1,
		Targets: []Target{{ID: "slow", DNS: &DNS{Server: srv.addr, Name: "ok.test"}}}})
	r := res[0]
	_, peak := srv.snapshot()
	t.Logf("slow: %d requests, %d ok, queued %d, errors %v, p50 %d us, max %d us", r.Requests, r.Succeeded, r.Queued, r.Errors, r.Latency.Quantile(0.5), r.Latency.Max())
	if peak != 1 {
		t.Errorf("server saw %d queries at once with one slot", peak)
	}
	if r.Requests != 100 || r.Queued == 0 || r.Errors[ErrNotSent] == 0 || r.Succeeded+r.Errors[ErrNotSent] != 100 {
		t.Errorf("want 100 due, some queued, the rest not sent: %+v", r)
	}
	if p50 := r.Latency.Quantile(0.5); p50 < 200_000 {
		t.Errorf("p50 %d us: the wait for the slot is not counted from the intended time (the server takes 50 ms)", p50)
	}
}

// TestDNSFailureClasses: a DNS target's failures carry the dns prober's
// classes and reasons.
func TestDNSFailureClasses(t *testing.T) {
	srv := newDNSServer(t, 0)
	res := Run(context.Background(), Request{QPS: 20, Duration: 500 * time.Millisecond, PerRequestTimeout: time.Second,
		Targets: []Target{{ID: "nx", DNS: &DNS{Server: srv.addr, Name: "missing.test"}}}})
	r := res[0]
	if r.Requests != 10 || r.Succeeded != 0 || r.Errors["dns-nxdomain"] != 10 || len(r.ErrorSamples) != 1 || !strings.Contains(r.ErrorSamples[0], "NXDOMAIN") {
		t.Errorf("nxdomain: %+v", r)
	}
}

func TestValidateDNSTargets(t *testing.T) {
	base := Request{QPS: 10, Duration: time.Second, PerRequestTimeout: time.Second}
	for _, c := range []struct {
		t    Target
		want string
	}{
		{Target{ID: "a", DNS: &DNS{Server: "10.96.0.10", Name: "kubernetes.default.svc.cluster.local"}}, ""},
		{Target{ID: "b", DNS: &DNS{Server: "[fd00::a]:53", Name: "x", Family: "IPv6"}}, ""},
		{Target{ID: "c", DNS: &DNS{Server: "dns.example", Name: "x"}}, `targets[0] (id "c"): dns: server "dns.example": must be IP or IP:port`},
		{Target{ID: "d", DNS: &DNS{Server: "10.96.0.10"}}, "name: the name to look up is empty"},
		{Target{ID: "e", DNS: &DNS{Server: "10.96.0.10", Name: "x", Family: "ipv5"}}, `family "ipv5"`},
		{Target{ID: "f", URL: "http://10.0.0.1/", DNS: &DNS{Server: "10.96.0.10", Name: "x"}}, "both url and dns"},
	} {
		r := base
		r.Targets = []Target{c.t}
		err := r.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.t.ID, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.t.ID, err, c.want)
		}
	}
}
