package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// viewMatrix is the part of GET /api/v1/matrix the page reads, decoded
// with the test's own types.
type viewMatrix struct {
	Total, Failing, Stale int
	Pairs                 []struct {
		Source     string  `json:"source"`
		TargetNode string  `json:"target_node"`
		OK         bool    `json:"ok"`
		Stale      bool    `json:"stale"`
		Recent     string  `json:"recent"`
		P50        float64 `json:"latency_p50_ms"`
		P99        float64 `json:"latency_p99_ms"`
		History    []struct {
			OK bool `json:"ok"`
		} `json:"history"`
	} `json:"pairs"`
	Nodes []struct {
		Name   string `json:"name"`
		Zone   string `json:"zone"`
		Agents []struct {
			Name, Status string
		} `json:"agents"`
	} `json:"nodes"`
}

// TestMatrixHistoryRing: each pair keeps its last api.HistoryRounds rounds,
// summarized as a strip and latency quantiles; full history only on request.
func TestMatrixHistoryRing(t *testing.T) {
	_, clk, hs := newTestServer(t, nil)
	for i := range api.HistoryRounds + 5 {
		ok := i%4 != 3
		p := peer("n2", api.NetworkPod, ok)
		if ok {
			p.LatencyMs = float64(i + 1)
		}
		send(t, hs, report("n1", api.NetworkPod, p))
		clk.Add(15 * time.Second)
	}
	var m viewMatrix
	get(t, hs.URL+api.PathMatrix, &m)
	if len(m.Pairs) != 1 {
		t.Fatalf("%d pairs, want 1", len(m.Pairs))
	}
	p := m.Pairs[0]
	// Rounds 5..24 kept; every 4th (i%4==3) failed.
	want := ""
	var lats []float64
	for i := 5; i < api.HistoryRounds+5; i++ {
		if i%4 == 3 {
			want += "-"
		} else {
			want += "+"
			lats = append(lats, float64(i+1))
		}
	}
	if p.Recent != want {
		t.Errorf("recent = %q, want %q", p.Recent, want)
	}
	if p.P50 != lats[len(lats)/2-1+len(lats)%2] || p.P99 != lats[len(lats)-1] {
		t.Errorf("p50/p99 = %v/%v from %v", p.P50, p.P99, lats)
	}
	if len(p.History) != 0 {
		t.Errorf("history sent without ?history=true: %d rounds", len(p.History))
	}
	get(t, hs.URL+api.PathMatrix+"?history=true", &m)
	if h := m.Pairs[0].History; len(h) != api.HistoryRounds || h[len(h)-1].OK != (want[len(want)-1] == '+') {
		t.Errorf("?history=true: %d rounds, want %d ending like %q", len(h), api.HistoryRounds, want)
	}
}

// TestMatrixStaleNotFailed: when a source stops reporting, its pairs turn
// stale (unknown), never failed; findings name the agent, not a culprit.
func TestMatrixStaleNotFailed(t *testing.T) {
	_, clk, hs := newTestServer(t, nil)
	nodes := []string{"n1", "n2", "n3"}
	round := func(silent string) {
		for _, n := range nodes {
			if n == silent {
				continue
			}
			var ps []api.PeerResult
			for _, o := range nodes {
				if o != n {
					ps = append(ps, peer(o, api.NetworkPod, true))
				}
			}
			send(t, hs, report(n, api.NetworkPod, ps...))
		}
		clk.Add(15 * time.Second)
	}
	round("")
	round("")
	for range 3 {
		round("n3")
	}
	var m viewMatrix
	get(t, hs.URL+api.PathMatrix, &m)
	stale := 0
	for _, p := range m.Pairs {
		if p.Stale != (p.Source == "n3-private_network") {
			t.Errorf("%s -> %s: stale %v", p.Source, p.TargetNode, p.Stale)
		}
		if p.Stale {
			stale++
			if !p.OK {
				t.Errorf("stale pair %s -> %s shown failed", p.Source, p.TargetNode)
			}
		}
	}
	if stale != 2 || m.Stale != 2 || m.Failing != 0 {
		t.Errorf("stale %d (count %d), failing %d; want 2 stale, 0 failing", stale, m.Stale, m.Failing)
	}
	var f struct {
		Findings []struct {
			Kind  string   `json:"kind"`
			Nodes []string `json:"nodes"`
		} `json:"findings"`
	}
	get(t, hs.URL+api.PathFindings, &f)
	if len(f.Findings) != 1 || f.Findings[0].Kind != KindAgentOutdated || len(f.Findings[0].Nodes) != 1 || f.Findings[0].Nodes[0] != "n3" {
		t.Errorf("findings %+v, want one agent-outdated for n3", f.Findings)
	}
}

// TestFindingsFromMatrix: a cut link between two of four nodes is named
// by the same analysis as netctl check.
func TestFindingsFromMatrix(t *testing.T) {
	_, _, hs := newTestServer(t, nil)
	nodes := []string{"n1", "n2", "n3", "n4"}
	cut := func(a, b string) bool { return (a == "n1" && b == "n2") || (a == "n2" && b == "n1") }
	for _, n := range nodes {
		var ps []api.PeerResult
		for _, o := range nodes {
			if o != n {
				ps = append(ps, peer(o, api.NetworkPod, !cut(n, o)))
			}
		}
		send(t, hs, report(n, api.NetworkPod, ps...))
	}
	var f struct {
		Findings []struct {
			Kind    string   `json:"kind"`
			Summary string   `json:"summary"`
			Nodes   []string `json:"nodes"`
		} `json:"findings"`
	}
	get(t, hs.URL+api.PathFindings, &f)
	if len(f.Findings) != 1 || f.Findings[0].Kind != "link-down" || strings.Join(f.Findings[0].Nodes, ",") != "n1,n2" {
		t.Fatalf("findings %+v, want one link-down n1,n2", f.Findings)
	}
}

// TestMatrixNodesWithZones: the roster's zones reach the matrix's nodes,
// agents that never reported are listed absent.
func TestMatrixNodesWithZones(t *testing.T) {
	s, _, hs := newTestServer(t, nil)
	n1, n2 := node("n1", true, false), node("n2", true, false)
	n1.Labels = map[string]string{corev1.LabelTopologyZone: "zone-a"}
	n2.Labels = map[string]string{corev1.LabelTopologyZone: "zone-b"}
	cs := fake.NewClientset([]runtime.Object{n1, n2,
		agentPod("a1", "n1", api.NetworkPod, "10.0.0.1", true),
		agentPod("a2", "n2", api.NetworkPod, "10.0.0.2", true)}...)
	list, err := KubeRoster{Client: cs, Namespace: "mon"}.Expected(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.SetExpected(list)
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, true)))
	var m viewMatrix
	get(t, hs.URL+api.PathMatrix, &m)
	got := map[string]string{}
	for _, n := range m.Nodes {
		for _, a := range n.Agents {
			got[n.Name+"/"+n.Zone+"/"+a.Name] = a.Status
		}
	}
	want := map[string]string{"n1/zone-a/n1-private_network": "reporting", "n2/zone-b/n2-private_network": "absent"}
	if len(got) != len(want) || got["n1/zone-a/n1-private_network"] != "reporting" || got["n2/zone-b/n2-private_network"] != "absent" {
		t.Errorf("nodes %v, want %v", got, want)
	}
}

// TestPageServed: / and its assets come from the binary, with a CSP that
// allows nothing but this server.
func TestPageServed(t *testing.T) {
	_, _, hs := newTestServer(t, nil)
	for path, want := range map[string]string{
		"/":              `<script src="ui/app.js">`,
		"/ui/app.js":     "api/v1/matrix",
		"/ui/matrix.js":  "var NDMatrix",
		"/ui/matrix.css": ".nd-fail",
	} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
			t.Errorf("GET %s refers to an absolute URL: the page must load nothing from elsewhere", path)
		}
	}
	if resp, err := http.Get(hs.URL + "/nope"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /nope: %v %v, want 404", resp, err)
	}
}
