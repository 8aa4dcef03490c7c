package reach

import (
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/load"
)

var exp = Expect{SuccessRate: 1, MeanAccessDelayInMs: 10, P99AccessDelayInMs: 50, AllBackends: true}

func vipRow(path PathKind, pods ...string) Planned {
	p := Planned{ID: "x", Path: path, Family: "IPv4", Address: "10.0.0.1:8889", Judged: true}
	for i, pod := range pods {
		p.Expected = append(p.Expected, BackendRef{Node: "n" + string(rune('1'+i)), Pod: pod})
	}
	return p
}

func reached(pods ...string) []Reached {
	var out []Reached
	for i, pod := range pods {
		out = append(out, Reached{Node: "n" + string(rune('1'+i)), Pod: pod, Count: 10})
	}
	return out
}

func TestJudge(t *testing.T) {
	ok := Measured{Requests: 100, Succeeded: 100, MeanUs: 900, P99Us: 3000, Backends: reached("a", "b")}
	cases := []struct {
		name    string
		p       Planned
		m       Measured
		e       Expect
		want    Result
		reason  string
		missing int
	}{
		{"healthy", vipRow(PathClusterIP, "a", "b"), ok, exp, Succeeded, "", 0},
		{"success rate", vipRow(PathClusterIP, "a", "b"), Measured{Requests: 100, Succeeded: 97, MeanUs: 900, Errors: map[string]int64{"timeout": 3}, StatusCodes: map[int]int64{200: 97}, Backends: reached("a", "b")}, exp, Failed, "success rate 0.9700 < 1 (97 of 100): timeout x3", 0},
		{"status 503", vipRow(PathClusterIP, "a", "b"), Measured{Requests: 10, Succeeded: 8, MeanUs: 900, StatusCodes: map[int]int64{200: 8, 503: 2}, Backends: reached("a", "b")}, exp, Failed, "HTTP 503 x2", 0},
		{"mean", vipRow(PathClusterIP, "a", "b"), Measured{Requests: 10, Succeeded: 10, MeanUs: 12500, Backends: reached("a", "b")}, exp, Failed, "mean latency 12.50ms > 10ms", 0},
		{"p99", vipRow(PathClusterIP, "a", "b"), Measured{Requests: 10, Succeeded: 10, MeanUs: 1000, P99Us: 51000, Backends: reached("a", "b")}, exp, Failed, "p99 latency 51.00ms > 50ms", 0},
		{"missing backend", vipRow(PathNodePort, "a", "b", "c"), ok, exp, Failed, "backends 2/3: never reached c on n3", 1},
		{"missing backend, allBackends off", vipRow(PathNodePort, "a", "b", "c"), ok, Expect{SuccessRate: 1, MeanAccessDelayInMs: 10}, Succeeded, "", 1},
		{"pod path wrong answerer", vipRow(PathPod, "a"), Measured{Requests: 5, Succeeded: 5, MeanUs: 1, Backends: []Reached{{Node: "n9", Pod: "z", Count: 5}}}, Expect{SuccessRate: 1, MeanAccessDelayInMs: 10}, Failed, "unexpected backends answered: z on n9", 1},
		{"no requests", vipRow(PathClusterIP, "a"), Measured{}, exp, Exception, "no request was sent", 0},
		{"batch failed", vipRow(PathClusterIP, "a"), Measured{Failure: "agent gone"}, exp, Exception, "agent gone", 0},
		{"skip", Planned{Skip: "agent pod x not ready"}, Measured{}, exp, Exception, "agent pod x not ready", 0},
	}
	for _, c := range cases {
		r := Judge(c.p, c.m, c.e)
		if r.Result != c.want || !strings.Contains(strings.Join(r.Reasons, "|"), c.reason) || len(r.Missing) != c.missing {
			t.Errorf("%s: got %s %q missing %v, want %s containing %q", c.name, r.Result, r.Reasons, r.Missing, c.want, c.reason)
		}
	}
}

func TestJudgeAffinityLocalClientIP(t *testing.T) {
	aff := vipRow(PathAffinity, "a", "b", "c")
	aff.Single = true
	if r := Judge(aff, Measured{Requests: 10, Succeeded: 10, MeanUs: 1, Backends: reached("b")}, exp); r.Result != Succeeded {
		t.Errorf("one backend: %s %v", r.Result, r.Reasons)
	}
	if r := Judge(aff, Measured{Requests: 10, Succeeded: 10, MeanUs: 1, Backends: reached("a", "b")}, exp); r.Result != Failed || !strings.Contains(r.Reasons[0], "2 backends answered one client") {
		t.Errorf("two backends: %s %v", r.Result, r.Reasons)
	}
	loc := Planned{ID: "l", Path: PathLocal, Judged: true, LocalNode: "n2", ClientIP: "100.64.0.2", Expected: []BackendRef{{Node: "n2", Pod: "b"}}}
	good := []Reached{{Node: "n2", Pod: "b", Count: 10, ClientAddrs: []string{"100.64.0.2"}}}
	if r := Judge(loc, Measured{Requests: 10, Succeeded: 10, MeanUs: 1, Backends: good}, exp); r.Result != Succeeded {
		t.Errorf("local: %s %v", r.Result, r.Reasons)
	}
	remote := []Reached{{Node: "n2", Pod: "b", Count: 5, ClientAddrs: []string{"100.64.0.2"}}, {Node: "n3", Pod: "c", Count: 5, ClientAddrs: []string{"100.64.0.3"}}}
	r := Judge(loc, Measured{Requests: 10, Succeeded: 10, MeanUs: 1, Backends: remote}, exp)
	all := strings.Join(r.Reasons, "|")
	if r.Result != Failed || !strings.Contains(all, "other nodes than n2 answered: c on n3") || !strings.Contains(all, "client IP not preserved: backend c saw 100.64.0.3") {
		t.Errorf("remote: %s %q", r.Result, r.Reasons)
	}
}

func TestTallyMergesRounds(t *testing.T) {
	tl := newTally()
	for round := 0; round < 2; round++ {
		h := load.NewHistogram()
		for i := int64(1); i <= 100; i++ {
			h.Record(i * 100)
		}
		tl.add(load.TargetResult{ID: "x", Requests: 101, Succeeded: 100, StatusCodes: map[int]int64{200: 100}, Errors: map[string]int64{"timeout": 1},
			ErrorSamples: []string{"deadline"}, Latency: h,
			Backends: []load.Backend{{Node: "n1", Pod: "a", ClientAddr: "10.0.0.5", Count: 60}, {Node: "n2", Pod: "b", ClientAddr: "10.0.0.5", Count: 40}}})
	}
	m := tl.measured()
	if m.Requests != 202 || m.Succeeded != 200 || m.StatusCodes[200] != 200 || m.Errors["timeout"] != 2 || len(m.ErrorSamples) != 1 {
		t.Errorf("counts %+v", m)
	}
	if len(m.Backends) != 2 || m.Backends[0].Count != 120 || len(m.Backends[0].ClientAddrs) != 1 {
		t.Errorf("backends %+v", m.Backends)
	}
	if m.P50Us < 4900 || m.P50Us > 5100 || m.MaxUs < 9900 || m.P99Us < 9800 {
		t.Errorf("quantiles p50 %d p99 %d max %d", m.P50Us, m.P99Us, m.MaxUs)
	}
}

func TestMissingBackendNeedsEnoughAnswers(t *testing.T) {
	if n := NeededRequests(4); n < 25 || n > 35 {
		t.Errorf("NeededRequests(4) = %d", n)
	}
	p := vipRow(PathClusterIP, "a", "b", "c", "d")
	r := Judge(p, Measured{Requests: 18, Succeeded: 18, MeanUs: 1, Backends: reached("a", "b", "c")}, exp)
	if r.Result != Succeeded || r.Inconclusive == "" || r.BackendsCell() != "3/4?" {
		t.Errorf("18 answers over 4 backends: %s %q %q %s", r.Result, r.Reasons, r.Inconclusive, r.BackendsCell())
	}
	r = Judge(p, Measured{Requests: 60, Succeeded: 60, MeanUs: 1, Backends: reached("a", "b", "c")}, exp)
	if r.Result != Failed || r.Inconclusive != "" {
		t.Errorf("60 answers over 4 backends: %s %q", r.Result, r.Reasons)
	}
}
