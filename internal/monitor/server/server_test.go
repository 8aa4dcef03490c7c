package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/probe"
)

const testToken = "s3cret"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestServer(t *testing.T, mod func(*Config)) (*Server, *clock, *httptest.Server) {
	t.Helper()
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := Config{Token: testToken, Interval: 15 * time.Second, Grace: time.Minute, AgentPort: 8890, Now: clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, clk, hs
}

func report(node string, n api.Network, peers ...api.PeerResult) api.Report {
	return api.Report{
		ReportInterval: 15, NodeName: node, PodName: "pod-" + node, Network: n,
		HostDate: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Uptime: "1m0s", IPs: []string{"10.0.0.1"},
		HTTPProbe: &api.HTTPProbe{URL: "http://netdoctor-monitor:8081/api/v1/ping", ConnectionResult: true, Code: 200,
			DNSLookupMs: 1, TCPConnectionMs: 2, ConnectMs: 3, ServerProcessMs: 4, ContentTransMs: 5, TotalMs: 12},
		DNS:       &api.Outcome{Target: "10.96.0.10 kubernetes.default.svc.cluster.local", OK: true, LatencyMs: 3},
		APIServer: &api.Outcome{Target: "10.96.0.1:443", OK: true, LatencyMs: 1},
		Peers:     peers,
	}
}

func peer(node string, n api.Network, ok bool) api.PeerResult {
	pr := api.PeerResult{Target: api.AgentName(node, n), TargetNode: node, TargetNetwork: n,
		Address: "10.0.9.9", Family: probe.IPv4, Kind: probe.KindTCP, OK: ok, LatencyMs: 2}
	if !ok {
		pr.Class, pr.Reason, pr.LatencyMs = probe.ClassTimeout, "no answer within 5s", 0
	}
	return pr
}

func post(t *testing.T, url, token string, r api.Report) *http.Response {
	t.Helper()
	body, _ := json.Marshal(r)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set(api.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func send(t *testing.T, hs *httptest.Server, r api.Report) {
	t.Helper()
	name := api.AgentName(r.NodeName, r.Network)
	if resp := post(t, hs.URL+api.PathAgents+name, testToken, r); resp.StatusCode != 200 {
		t.Fatalf("report from %s: status %d", name, resp.StatusCode)
	}
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decoding %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func TestReportNeedsToken(t *testing.T) {
	_, _, hs := newTestServer(t, nil)
	url := hs.URL + api.PathAgents + "n1-private_network"
	for name, tc := range map[string]struct {
		token string
		want  int
	}{
		"missing": {"", http.StatusUnauthorized},
		"wrong":   {"nope", http.StatusUnauthorized},
		"right":   {testToken, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			if got := post(t, url, tc.token, report("n1", api.NetworkPod)).StatusCode; got != tc.want {
				t.Errorf("status = %d, want %d", got, tc.want)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+api.PathPeers, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("peers without token: status %d, want 401", resp.StatusCode)
	}
}

func TestReportMustMatchName(t *testing.T) {
	_, _, hs := newTestServer(t, nil)
	for name, url := range map[string]string{
		"other node":    "n2-private_network",
		"other network": "n1-host_network",
		"bad shape":     "n1",
	} {
		t.Run(name, func(t *testing.T) {
			if got := post(t, hs.URL+api.PathAgents+url, testToken, report("n1", api.NetworkPod)).StatusCode; got != 400 {
				t.Errorf("status = %d, want 400", got)
			}
		})
	}
}

func TestAgentsEndpoints(t *testing.T) {
	_, _, hs := newTestServer(t, nil)
	send(t, hs, report("n1", api.NetworkPod))
	send(t, hs, report("n1", api.NetworkHost))

	var all map[string]map[string]any
	if code := get(t, hs.URL+api.PathAgents, &all); code != 200 {
		t.Fatalf("GET agents: %d", code)
	}
	var names []string
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "n1-host_network,n1-private_network" {
		t.Fatalf("agents = %v", names)
	}
	e := all["n1-private_network"]
	for _, key := range []string{"nodename", "podname", "hostdate", "uptime", "ips", "dns", "http_probe", "last_updated"} {
		if _, ok := e[key]; !ok {
			t.Errorf("agent entry lacks %q: %v", key, e)
		}
	}
	var one api.AgentEntry
	if code := get(t, hs.URL+api.PathAgents+"n1-host_network", &one); code != 200 || one.PodName != "pod-n1" || one.HTTPProbe.TotalMs != 12 {
		t.Errorf("GET one: %d %+v", code, one)
	}
	if code := get(t, hs.URL+api.PathAgents+"nope-private_network", nil); code != 404 {
		t.Errorf("GET unknown agent: %d, want 404", code)
	}
	if code := get(t, hs.URL+api.PathPing, nil); code != 200 {
		t.Errorf("ping: %d", code)
	}
}

// connectivity returns status and the body's keys and lists.
func connectivity(t *testing.T, hs *httptest.Server) (int, map[string]json.RawMessage) {
	t.Helper()
	var body map[string]json.RawMessage
	code := get(t, hs.URL+api.PathConnectivity, &body)
	return code, body
}

func list(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil || l == nil {
		t.Fatalf("not a JSON list: %s", raw)
	}
	return l
}

func TestConnectivityCheck(t *testing.T) {
	s, clk, hs := newTestServer(t, nil)
	start := clk.Now()
	s.SetExpected([]ExpectedAgent{
		{Name: "n1-private_network", Node: "n1", Network: api.NetworkPod, Since: start, Counted: true},
		{Name: "n2-private_network", Node: "n2", Network: api.NetworkPod, Since: start, Counted: true},
		{Name: "n3-private_network", Node: "n3", Network: api.NetworkPod, Since: start, Skip: "pod terminating"},
	})

	if code, body := connectivity(t, hs); code != 400 || !strings.Contains(string(body["Message"]), "no agent") {
		t.Fatalf("before any report: %d %s", code, body["Message"])
	}
	clk.Add(time.Second)
	send(t, hs, report("n1", api.NetworkPod))
	// n2 has not reported and neither its pod nor the server is one interval
	// old: not absent for the gauge (no alert during a rollout), but the
	// check never says "all reported" before it has.
	if code, body := connectivity(t, hs); code != 400 || !strings.Contains(string(body["Message"]), "1 started less than one interval ago") ||
		strings.Join(list(t, body["Absent"]), ",") != "n2-private_network" {
		t.Fatalf("within the first interval: %d %s", code, body)
	}
	text := scrape(t, hs)
	for _, w := range []string{`netdoctor_monitor_agents{status="pending"} 1`, `netdoctor_monitor_agents{status="absent"} 0`} {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("within the first interval, metrics lack %s", w)
		}
	}

	clk.Add(15 * time.Second) // n2's pod is now 16s old, the interval is 15s
	code, body := connectivity(t, hs)
	if code != 400 {
		t.Fatalf("n2 absent: status %d, want 400", code)
	}
	var keys []string
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "Absent,Message,Outdated" {
		t.Errorf("keys = %v, want Absent, Message, Outdated", keys)
	}
	if got := list(t, body["Absent"]); strings.Join(got, ",") != "n2-private_network" {
		t.Errorf("Absent = %v", got)
	}
	if got := list(t, body["Outdated"]); len(got) != 0 {
		t.Errorf("Outdated = %v, want []", got)
	}

	send(t, hs, report("n2", api.NetworkPod))
	clk.Add(15 * time.Second) // n1 last reported 30s ago: not yet more than 2 intervals
	if code, _ := connectivity(t, hs); code != 200 {
		t.Fatalf("both reported: status %d", code)
	}
	clk.Add(2 * time.Second) // n1 now 32s > 30s
	code, body = connectivity(t, hs)
	if code != 400 || strings.Join(list(t, body["Outdated"]), ",") != "n1-private_network" || len(list(t, body["Absent"])) != 0 {
		t.Errorf("n1 outdated: %d %s", code, body)
	}
}

func TestNewAgentNotAbsentBeforeFirstInterval(t *testing.T) {
	s, clk, hs := newTestServer(t, nil)
	clk.Add(time.Hour) // the server is warm
	send(t, hs, report("n1", api.NetworkPod))
	s.SetExpected([]ExpectedAgent{
		{Name: "n1-private_network", Node: "n1", Network: api.NetworkPod, Since: clk.Now().Add(-time.Hour), Counted: true},
		{Name: "new-private_network", Node: "new", Network: api.NetworkPod, Since: clk.Now(), Counted: true},
	})
	clk.Add(14 * time.Second)
	if absent, _, pending, _ := s.Connectivity(); len(absent) != 0 || strings.Join(pending, ",") != "new-private_network" {
		t.Fatalf("new agent 14s old: absent %v pending %v, want it pending only", absent, pending)
	}
	if code, body := connectivity(t, hs); code != 400 || !strings.Contains(string(body["Message"]), "may still report") {
		t.Fatalf("new agent 14s old: %d %s, want 400 saying it may still report", code, body)
	}
	clk.Add(2 * time.Second)
	if code, body := connectivity(t, hs); code != 400 || strings.Join(list(t, body["Absent"]), ",") != "new-private_network" {
		t.Fatalf("new agent 16s old: %d %s", code, body)
	}
}

func TestGracePeriodDropsAgentAndSeries(t *testing.T) {
	s, clk, hs := newTestServer(t, nil)
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, true), peer("n3", api.NetworkHost, false)))
	send(t, hs, report("n2", api.NetworkPod, peer("n1", api.NetworkPod, true)))
	if n := testutil.CollectAndCount(s.metrics.probeSuccess); n != 3 {
		t.Fatalf("probe_success series = %d, want 3", n)
	}
	if n := testutil.CollectAndCount(s.metrics.reportCount); n != 2 {
		t.Fatalf("report_count series = %d, want 2", n)
	}

	// n1 stops probing n3 (the peer vanished): its pair series goes at once.
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, true)))
	if n := testutil.CollectAndCount(s.metrics.probeSuccess); n != 2 {
		t.Fatalf("after n3 vanished: probe_success series = %d, want 2", n)
	}

	// n2 goes silent; n1 keeps reporting. Past the grace period n2 is dropped.
	for range 5 {
		clk.Add(15 * time.Second)
		send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, true)))
		s.Sweep()
	}
	if _, ok := s.Agent("n2-private_network"); ok {
		t.Fatal("n2 still in state after the grace period")
	}
	if code := get(t, hs.URL+api.PathAgents+"n2-private_network", nil); code != 404 {
		t.Errorf("GET dropped agent: %d, want 404", code)
	}
	if n := testutil.CollectAndCount(s.metrics.reportCount); n != 1 {
		t.Errorf("report_count series = %d, want 1 (n2's deleted)", n)
	}
	// n1 -> n2 was dropped with n2 even though n1's last report listed it.
	if n := testutil.CollectAndCount(s.metrics.probeSuccess); n != 0 {
		t.Errorf("probe_success series = %d, want 0", n)
	}
	out := scrape(t, hs)
	if strings.Contains(out, `"n2-private_network"`) || strings.Contains(out, `node="n2"`) {
		t.Errorf("n2 series remain:\n%s", out)
	}
}

// scrape GETs /metrics as Prometheus would.
func scrape(t *testing.T, hs *httptest.Server) string {
	t.Helper()
	resp, err := http.Get(hs.URL + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func TestMetricNamesAndLabels(t *testing.T) {
	_, _, hs := newTestServer(t, nil)
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkHost, true)))
	send(t, hs, report("n2", api.NetworkHost, peer("n1", api.NetworkPod, false)))
	text := scrape(t, hs)
	url := `url="http://netdoctor-monitor:8081/api/v1/ping"`
	want := []string{
		`ncagent_report_count_total{agent="n1-private_network",node="n1"} 1`,
		`ncagent_error_count_total{agent="n2-host_network",node="n2"} 0`,
		`ncagent_http_probe_connection_result{agent="n1-private_network",node="n1",` + url + `} 1`,
		`ncagent_http_probe_code{agent="n1-private_network",node="n1",` + url + `} 200`,
		`ncagent_http_probe_total_time_ms{agent="n1-private_network",node="n1",` + url + `} 12`,
		`ncagent_http_probe_content_transfer_time_ms{agent="n1-private_network",node="n1",` + url + `} 5`,
		`ncagent_http_probe_tcp_connection_time_ms{agent="n1-private_network",node="n1",` + url + `} 2`,
		`ncagent_http_probe_dns_lookup_time_ms{agent="n1-private_network",node="n1",` + url + `} 1`,
		`ncagent_http_probe_connect_time_ms{agent="n1-private_network",node="n1",` + url + `} 3`,
		`ncagent_http_probe_server_processing_time_ms{agent="n1-private_network",node="n1",` + url + `} 4`,
		`netdoctor_probe_success{family="IPv4",kind="tcp",source_network="pod",source_node="n1",target_network="host",target_node="n2"} 1`,
		`netdoctor_probe_success{family="IPv4",kind="tcp",source_network="host",source_node="n2",target_network="pod",target_node="n1"} 0`,
		`netdoctor_probe_consecutive_failures{family="IPv4",kind="tcp",source_network="host",source_node="n2",target_network="pod",target_node="n1"} 1`,
		`netdoctor_probe_duration_seconds_count{family="IPv4",kind="tcp",source_network="pod",source_node="n1",target_network="host",target_node="n2"} 1`,
		`netdoctor_dns_success{agent="n1-private_network",node="n1"} 1`,
		`netdoctor_dns_duration_seconds_count{agent="n1-private_network",node="n1"} 1`,
		`netdoctor_apiserver_success{agent="n1-private_network",node="n1"} 1`,
		`netdoctor_agent_report_age_seconds{agent="n1-private_network",node="n1"} 0`,
		`netdoctor_monitor_agents{status="reporting"} 2`,
	}
	for _, w := range want {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("metrics lack %s", w)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func TestKeepaliveMissCountsAsError(t *testing.T) {
	s, clk, hs := newTestServer(t, func(c *Config) { c.Grace = 10 * time.Minute })
	send(t, hs, report("n1", api.NetworkPod))
	for range 8 { // 60s: outdated after 30s, then one miss per 15s interval
		clk.Add(7500 * time.Millisecond)
		s.Sweep()
	}
	got := testutil.ToFloat64(s.metrics.errorCount.WithLabelValues("n1-private_network", "n1"))
	if got < 2 || got > 3 {
		t.Errorf("error count after 60s silence = %v, want 2..3 (one per interval past 2 intervals)", got)
	}
}

func TestMatrixFailingSince(t *testing.T) {
	_, clk, hs := newTestServer(t, nil)
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, true)))
	clk.Add(15 * time.Second)
	firstFail := clk.Now()
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, false)))
	clk.Add(15 * time.Second)
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, false)))

	var m api.Matrix
	get(t, hs.URL+api.PathMatrix+"?failing=true", &m)
	if m.Total != 1 || m.Failing != 1 || len(m.Pairs) != 1 {
		t.Fatalf("matrix = %+v", m)
	}
	p := m.Pairs[0]
	if p.Source != "n1-private_network" || p.Target != "n2-private_network" || p.Class != probe.ClassTimeout ||
		p.ConsecutiveFailures != 2 || p.FailingSince == nil || !p.FailingSince.Equal(firstFail) {
		t.Errorf("pair = %+v, want failing since %s twice", p, firstFail)
	}
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, true)))
	m = api.Matrix{}
	get(t, hs.URL+api.PathMatrix, &m)
	if m.Failing != 0 || m.Pairs[0].FailingSince != nil || m.Pairs[0].ConsecutiveFailures != 0 {
		t.Errorf("after recovery: %+v", m)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	s1, clk, hs := newTestServer(t, func(c *Config) { c.StateFile = file })
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, false)))
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, false)))
	send(t, hs, report("n2", api.NetworkPod))
	if err := s1.Save(); err != nil {
		t.Fatal(err)
	}

	clk.Add(5 * time.Second)
	s2, err := New(Config{Token: testToken, Interval: 15 * time.Second, Grace: time.Minute, StateFile: file, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	if got := len(s2.Agents()); got != 2 {
		t.Fatalf("agents after restart = %d, want 2", got)
	}
	m := s2.Matrix(false)
	if len(m.Pairs) != 1 || m.Pairs[0].ConsecutiveFailures != 2 || m.Pairs[0].FailingSince == nil {
		t.Errorf("matrix after restart = %+v", m)
	}
	if got := testutil.ToFloat64(s2.metrics.reportCount.WithLabelValues("n1-private_network", "n1")); got != 2 {
		t.Errorf("report count after restart = %v, want 2", got)
	}
	if got := testutil.ToFloat64(s2.metrics.probeSuccess.WithLabelValues("n1", "pod", "n2", "pod", "tcp", "IPv4")); got != 0 {
		t.Errorf("probe_success after restart = %v, want 0", got)
	}
	// Absent is not reported for a server that just restarted.
	s2.SetExpected([]ExpectedAgent{{Name: "n3-private_network", Node: "n3", Since: clk.Now().Add(-time.Hour), Counted: true}})
	if absent, _, pending, _ := s2.Connectivity(); len(absent) != 0 || len(pending) != 1 {
		t.Errorf("right after restart: absent %v, pending %v; want none absent, one pending", absent, pending)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{Interval: 0, Grace: time.Second})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"token: must not be empty", "interval: must be > 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
