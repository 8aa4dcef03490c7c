package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/reach"
)

// fixedEndpoints stands in for the reach Service's EndpointSlices.
type fixedEndpoints struct {
	eps []reach.Endpoint
	err error
}

func (f fixedEndpoints) ReachEndpoints(context.Context) ([]reach.Endpoint, error) {
	return f.eps, f.err
}

var reachNodes = []string{"n1", "n2", "n3"}

// agentEndpoints: one ready IPv4 endpoint per node, agent-nX at 10.0.X.5.
func agentEndpoints() []reach.Endpoint {
	var out []reach.Endpoint
	for i, n := range reachNodes {
		out = append(out, reach.Endpoint{Node: n, Pod: "agent-" + n, IP: "10.0.1" + string(rune('0'+i+1)) + ".5"})
	}
	return out
}

// round is src's IPv4 round over a 3-node cluster: every agent's pod IP
// (answered by that agent), the ClusterIP (answered by vip), and every
// node's NodePort (answered by vip, or by nobody when dead[target]).
// answers is the succeeded requests of each VIP target.
func round(src string, answers int64, vip []string, dead map[string]bool) api.ReachReport {
	eps := agentEndpoints()
	var pod, np api.ReachPath
	pod = api.ReachPath{Kind: "pod", Family: "IPv4", Latency: hist(100)}
	np = api.ReachPath{Kind: "nodeport", Family: "IPv4", Latency: hist(100)}
	vipRow := func(addr, node string) api.ReachTarget {
		r := api.ReachTarget{Address: addr, TargetNode: node, Requests: answers, Succeeded: answers}
		for i, p := range vip {
			r.Backends = append(r.Backends, api.ReachBackend{Node: strings.TrimPrefix(p, "agent-"), Pod: p, Count: answers/int64(len(vip)) + int64(i%2)})
		}
		return r
	}
	for i, e := range eps {
		pod.Rows = append(pod.Rows, api.ReachTarget{Address: e.IP + ":8890", TargetNode: e.Node, TargetPod: e.Pod, Requests: 10, Succeeded: 10,
			Backends: []api.ReachBackend{{Node: e.Node, Pod: e.Pod, PodIP: e.IP, Count: 10}}})
		r := vipRow("172.18.0."+string(rune('2'+i))+":31082", e.Node)
		if dead[e.Node] {
			r.Succeeded, r.Backends, r.Errors = 0, nil, map[string]int64{"timeout": answers}
		}
		np.Rows = append(np.Rows, r)
	}
	cip := api.ReachPath{Kind: "clusterip", Family: "IPv4", Latency: hist(100), Rows: []api.ReachTarget{vipRow("10.96.0.20:8890", "")}}
	paths := []api.ReachPath{cip, np, pod}
	for i := range paths {
		for _, r := range paths[i].Rows {
			paths[i].Targets++
			paths[i].Requests += r.Requests
			paths[i].Succeeded += r.Succeeded
		}
	}
	return api.ReachReport{NodeName: src, Round: 1, Paths: paths}
}

// gauges reads netdoctor_reach_backends_{reached,expected} as
// "node/path/family" -> "reached/expected".
func gauges(t *testing.T, s *Server) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"netdoctor_reach_backends_reached", "netdoctor_reach_backends_expected"} {
		mf := family(t, s, name)
		if mf == nil {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labelsOf(m)
			if len(l) != 3 {
				t.Fatalf("%s labels %v, want source_node, path, family only", name, l)
			}
			k := l["source_node"] + "/" + l["path"] + "/" + l["family"]
			v := jsonNum(m.GetGauge().GetValue())
			if out[k] == "" {
				out[k] = v
			} else {
				out[k] += "/" + v
			}
		}
	}
	return out
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }

func findingKinds(s *Server) []string {
	var out []string
	for _, f := range s.Findings().Findings {
		out = append(out, f.Kind+" "+strings.Join(f.Nodes, ",")+" "+f.Target)
	}
	return out
}

func TestReachBackendNeverReached(t *testing.T) {
	s, _, hs := newTestServer(t, func(c *Config) {
		c.ReachExpectSuccessRate = 1
		c.ReachEndpoints = fixedEndpoints{eps: agentEndpoints()}
	})
	// agent-n3 answers its pod IP but never through the Service (kube-proxy
	// left it out): 40 answers are enough to expect all 3 backends.
	for _, n := range reachNodes {
		if code := postReach(t, hs.URL, n+"-private_network", round(n, 40, []string{"agent-n1", "agent-n2"}, nil)); code != http.StatusOK {
			t.Fatalf("POST reach %s: %d", n, code)
		}
	}
	g := gauges(t, s)
	if g["n1/clusterip/IPv4"] != "2/3" || g["n2/nodeport/IPv4"] != "6/9" || g["n3/pod/IPv4"] != "3/3" || len(g) != 9 {
		t.Errorf("backends gauges (reached/expected) %v, want clusterip 2/3, nodeport 6/9, pod 3/3 from each node", g)
	}
	got := findingKinds(s)
	if len(got) != 1 || got[0] != "backend-never-reached n3 agent-n3" {
		t.Errorf("findings %q, want backend-never-reached of agent-n3 only", got)
	}

	// GET /api/v1/reach/: the same verdict, with the failed rows' reasons.
	resp, err := http.Get(hs.URL + api.PathReach)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct {
		Paths []struct {
			SourceNode, Path, Family, Result  string
			BackendsReached, BackendsExpected int
		}
		Failed []struct {
			SourceNode, Path, Address string
			Reasons                   []string
		}
	}
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET reach: %d %v\n%s", resp.StatusCode, err, body)
	}
	if len(st.Paths) != 9 || st.Paths[0].SourceNode != "n1" || st.Paths[0].Path != "clusterip" || st.Paths[0].Result != "FAILED" ||
		st.Paths[0].BackendsReached != 2 || st.Paths[0].BackendsExpected != 3 || st.Paths[2].Path != "pod" || st.Paths[2].Result != "SUCCEEDED" {
		t.Errorf("reach paths %+v", st.Paths)
	}
	// Per source: the ClusterIP and 3 NodePort addresses miss agent-n3.
	if len(st.Failed) != 12 || !strings.Contains(strings.Join(st.Failed[0].Reasons, ";"), "never reached agent-n3 on n3") {
		t.Errorf("failed rows %+v", st.Failed)
	}
}

func TestReachNodePortNodeAndInconclusive(t *testing.T) {
	s, _, hs := newTestServer(t, func(c *Config) {
		c.ReachEndpoints = fixedEndpoints{eps: agentEndpoints()}
		c.ReachExpectSuccessRate = 1
	})
	all := []string{"agent-n1", "agent-n2", "agent-n3"}
	for _, n := range reachNodes {
		postReach(t, hs.URL, n+"-private_network", round(n, 30, all, map[string]bool{"n2": true}))
	}
	g := gauges(t, s)
	if g["n1/clusterip/IPv4"] != "3/3" || g["n3/nodeport/IPv4"] != "6/9" {
		t.Errorf("backends gauges %v, want clusterip 3/3, nodeport 6/9 (nothing answered on n2's)", g)
	}
	if got := findingKinds(s); len(got) != 1 || got[0] != "nodeport-node n2 " {
		t.Errorf("findings %q, want nodeport-node of n2 only", got)
	}

	// A round with 5 answers per VIP target cannot judge 3 backends
	// (reach.NeededRequests(3) are needed): no VIP gauges for it, and no
	// finding from what was not seen.
	postReach(t, hs.URL, "n1-private_network", round("n1", 5, []string{"agent-n1"}, nil))
	g = gauges(t, s)
	if _, ok := g["n1/clusterip/IPv4"]; ok || g["n1/pod/IPv4"] != "3/3" {
		t.Errorf("after an inconclusive round: gauges %v, want no n1 clusterip series, pod 3/3", g)
	}
	for _, p := range s.ReachStatus().Paths {
		if p.SourceNode == "n1" && p.Path == "clusterip" && (p.Inconclusive != 1 || p.BackendsExpected != 0) {
			t.Errorf("n1 clusterip status %+v, want 1 inconclusive row", p)
		}
	}
}

// A node whose agent stops sending rounds (it cannot reach the server)
// keeps no verdict: once a whole period past its next round, its gauges
// and findings go, and the status marks its round stale.
func TestReachStaleRound(t *testing.T) {
	s, clk, hs := newTestServer(t, func(c *Config) {
		c.ReachEndpoints = fixedEndpoints{eps: agentEndpoints()}
		c.ReachExpectSuccessRate = 1
	})
	for _, n := range reachNodes {
		rep := round(n, 40, []string{"agent-n1", "agent-n2"}, nil)
		rep.Started = clk.Now()
		rep.Next = rep.Started.Add(time.Minute)
		postReach(t, hs.URL, n+"-private_network", rep)
	}
	clk.Add(119 * time.Second)
	if g := gauges(t, s); len(g) != 9 || len(findingKinds(s)) != 1 {
		t.Fatalf("before 2 periods: gauges %v findings %q, want 9 series and 1 finding", g, findingKinds(s))
	}
	// n2 and n3 report again, n1 does not.
	for _, n := range reachNodes[1:] {
		rep := round(n, 40, []string{"agent-n1", "agent-n2"}, nil)
		rep.Started = clk.Now()
		rep.Next = rep.Started.Add(time.Minute)
		postReach(t, hs.URL, n+"-private_network", rep)
	}
	clk.Add(2 * time.Second)
	g := gauges(t, s)
	if _, ok := g["n1/pod/IPv4"]; ok || len(g) != 6 {
		t.Errorf("after n1's round went stale: gauges %v, want n2's and n3's only", g)
	}
	stale := 0
	for _, p := range s.ReachStatus().Paths {
		if p.Stale != (p.SourceNode == "n1") {
			t.Errorf("status %+v: stale must be set for n1 only", p)
		}
		if p.Stale {
			stale++
		}
	}
	if stale != 3 || len(s.ReachStatus().Failed) != 8 {
		t.Errorf("%d stale paths, %d failed rows; want 3, and n2's and n3's 4 each", stale, len(s.ReachStatus().Failed))
	}
}

func TestReachBackendsUnjudgedWithoutEndpoints(t *testing.T) {
	s, _, hs := newTestServer(t, func(c *Config) {
		c.ReachEndpoints = fixedEndpoints{err: errors.New("endpointslices is forbidden")}
	})
	postReach(t, hs.URL, "n1-private_network", round("n1", 40, []string{"agent-n1"}, nil))
	g := gauges(t, s)
	if len(g) != 1 || g["n1/pod/IPv4"] != "3/3" {
		t.Errorf("gauges %v, want the pod path only (VIP backends unknown)", g)
	}
	if got := findingKinds(s); len(got) != 0 {
		t.Errorf("findings %q, want none", got)
	}
}
