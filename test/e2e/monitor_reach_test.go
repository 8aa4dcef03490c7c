package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// monReachSeries matches one exported reach sample; the label set must be
// exactly source_node, path, family (in the text format's sorted order).
var monReachSeries = regexp.MustCompile(`^(netdoctor_reach_[a-z_0-9]+)\{family="([^"]*)",path="([^"]*)",source_node="([^"]*)"\} (\S+)$`)

// TestMonitorReach installs the monitor with reach rounds every minute
// ("0 1": the first at once) on a healthy 3-node dual-stack cluster and
// scrapes the server's /metrics until every node's pod-network agent has
// exported a round of every path kind it serves (pod IPs, the reach
// Service's ClusterIPs, its NodePort on every node address) on both
// families: a latency histogram with a count > 0, requests > 0 and a latest
// success ratio of 1, and no series keyed by anything but (source node,
// path, family), and the backends verdict of netctl reach (backends
// reached = expected: 3 per pod/clusterip path, 3 addresses x 3 endpoints
// per nodeport path). Then one agent is dropped from the reach Service's
// rules on every node (sandbox fault endpoint-drop): every other node's
// clusterip paths reach 2 of 3 backends and the server names that agent in a
// backend-never-reached finding, also in `monitor status`. Then NODE's
// Service rules are flushed (sandbox fault svc-rules-flush): the other
// nodes' nodeport ratios drop below 1 while their pod paths stay at 1, and
// once NODE's own last round is stale the server finds its NodePort
// broken (nodeport-node). Uninstall removes the reach Service.
func TestMonitorReach(t *testing.T) {
	c := sharedCluster(t, monCluster, 3, "dual")
	dir := t.TempDir()
	r := netctl(t, dir, "monitor", "install", "--kubeconfig", c.Kubeconfig,
		"--interval="+monInterval.String(), "--node-port="+strconv.Itoa(monNodePort), "--timeout=2m",
		"--reach-schedule=0 1", "--reach-qps=150", "--reach-duration=5s", "--reach-timeout=2s")
	uninstalled := false
	uninstall := func() {
		if uninstalled {
			return
		}
		uninstalled = true
		c.monitorUninstall(t, dir)
	}
	t.Cleanup(uninstall)
	if r.Code != 0 {
		c.dumpMonitor(t)
		t.Fatalf("monitor install --reach-schedule: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if out := c.kubectl(t, "-n", monNS, "get", "service", "netdoctor-monitor-reach", "-o",
		`jsonpath={.metadata.labels.app\.kubernetes\.io/part-of} {.spec.type} {.spec.clusterIPs}`); !strings.HasPrefix(out, "netdoctor-monitor NodePort [") || strings.Count(out, ",") != 1 {
		t.Fatalf("reach Service: %q, want part-of=netdoctor-monitor, NodePort, two ClusterIPs", out)
	}

	srv := c.monitorURL(t)
	var want []string
	for _, n := range c.Nodes {
		for _, path := range []string{"pod", "clusterip", "nodeport"} {
			for _, fam := range []string{"IPv4", "IPv6"} {
				want = append(want, n.Name+"/"+path+"/"+fam)
			}
		}
	}
	sort.Strings(want)
	var final map[string]map[string]float64
	// Rounds start when each pod-network agent starts, then every minute:
	// a round that began while peers were still starting may miss some,
	// the next one is complete.
	monWaitFor(t, "a healthy reach round of every (node, path, family)", 4*time.Minute, func() (bool, string) {
		got, err := monReachScrape(t, srv)
		if err != nil {
			return false, err.Error()
		}
		var keys, bad []string
		for k, v := range got {
			keys = append(keys, k)
			// 150 QPS over 14 targets for 5 s: about 50 answers per
			// address, more than the 20 that make 3 backends conclusive.
			wantBackends := 3.0
			if strings.Contains(k, "/nodeport/") {
				wantBackends = 9
			}
			if v["netdoctor_reach_duration_seconds_count"] <= 0 || v["netdoctor_reach_requests_total"] <= 0 ||
				v["netdoctor_reach_success_ratio"] != 1 || v["netdoctor_reach_backends_expected"] != wantBackends ||
				v["netdoctor_reach_backends_reached"] != wantBackends {
				bad = append(bad, fmt.Sprintf("%s %v", k, v))
			}
		}
		sort.Strings(keys)
		sort.Strings(bad)
		final = got
		return strings.Join(keys, " ") == strings.Join(want, " ") && len(bad) == 0,
			fmt.Sprintf("series %v (want %v); not healthy yet: %v", keys, want, bad)
	})
	for _, k := range want {
		t.Logf("%s: %v requests, latest success ratio %v, p99 %.2f ms, backends %v/%v", k, final[k]["netdoctor_reach_requests_total"],
			final[k]["netdoctor_reach_success_ratio"], final[k]["netdoctor_reach_p99_seconds"]*1e3,
			final[k]["netdoctor_reach_backends_reached"], final[k]["netdoctor_reach_backends_expected"])
	}
	// The healthy rounds raise no reach alert condition: the exported p99s
	// are within the default 1 s expectation.
	for _, k := range want {
		if p99 := final[k]["netdoctor_reach_p99_seconds"]; p99 <= 0 || p99 > 1 {
			t.Errorf("%s: p99 %v s, want within (0, 1]", k, p99)
		}
	}

	if f := monReachFindings(t, srv); len(f) != 0 {
		t.Errorf("healthy rounds: reach findings %v, want none", f)
	}

	// A real backend fault: agent DROP's answers through the reach
	// Service's addresses (ClusterIPs, NodePorts) are dropped on every
	// node; its pod IP keeps answering.
	dropNode := c.Nodes[len(c.Nodes)-1].Name
	dropPod := strings.TrimSpace(c.kubectl(t, "-n", monNS, "get", "pods", "-l", "app.kubernetes.io/name=netdoctor-monitor-agent,netdoctor.io/network=pod",
		"--field-selector", "spec.nodeName="+dropNode, "-o", "jsonpath={.items[0].metadata.name}"))
	undrop := c.monitorFault(t, "endpoint-drop", monNS+"/netdoctor-monitor-reach", monNS+"/"+dropPod)
	// DROP's own Service requests fail as well (the fault's rule also
	// matches the replies to DROP as a client): only the other nodes are
	// asserted.
	monReachWait(t, srv, "clusterip backends 2/3 from every other node and a backend-never-reached finding for "+dropPod, 4*time.Minute, func(got monReach, f []monFinding) (bool, string) {
		ok := true
		var desc []string
		for _, n := range c.Nodes {
			if n.Name == dropNode {
				continue
			}
			for _, fam := range []string{"IPv4", "IPv6"} {
				v := got[n.Name+"/clusterip/"+fam]
				ok = ok && v["netdoctor_reach_backends_reached"] == 2 && v["netdoctor_reach_backends_expected"] == 3
				desc = append(desc, fmt.Sprintf("%s %s clusterip %v/%v", n.Name, fam, v["netdoctor_reach_backends_reached"], v["netdoctor_reach_backends_expected"]))
			}
		}
		return ok && monHasFinding(f, "backend-never-reached", dropNode, dropPod), strings.Join(desc, "; ")
	})
	st := netctl(t, dir, "monitor", "status", "--kubeconfig", c.Kubeconfig)
	if st.Code != 1 || !strings.Contains(st.Stdout, "backend-never-reached: backend "+dropPod) ||
		!regexp.MustCompile(`clusterip\s*\|\s*IPv4\s*\|.*\|\s*2/3\s*\|\s*FAILED`).MatchString(st.Stdout) {
		t.Errorf("monitor status during endpoint-drop: exit %d (want 1), want the finding and a clusterip 2/3 FAILED row:\n%s%s", st.Code, st.Stdout, st.Stderr)
	}
	t.Logf("monitor status during endpoint-drop of %s:\n%s", dropPod, st.Stdout)
	undrop()
	monReachWait(t, srv, "every backend reached again after endpoint-drop is removed", 3*time.Minute, func(got monReach, f []monFinding) (bool, string) {
		var bad []string
		for _, n := range c.Nodes {
			for _, fam := range []string{"IPv4", "IPv6"} {
				if v := got[n.Name+"/clusterip/"+fam]; v["netdoctor_reach_backends_reached"] != 3 {
					bad = append(bad, fmt.Sprintf("%s %s %v", n.Name, fam, v))
				}
			}
		}
		return len(bad) == 0 && len(f) == 0, fmt.Sprintf("not yet 3/3: %v", bad)
	})

	// A real fault: NODE's kube-proxy stopped and its Service rules
	// flushed. Every other node's NodePort requests to NODE's addresses now
	// fail (about a third of its nodeport targets), while their pod paths
	// stay healthy. (NODE's own agent cannot report meanwhile: it reaches
	// the server through a Service.) NODE is neither the server's node nor
	// the node the test scrapes through.
	a, b := c.monitorFaultNodes(t)
	node := a
	if node == c.Nodes[0].Name {
		node = b
	}
	unflush := c.monitorFault(t, "svc-rules-flush", node)
	var seen string
	// NODE's last round goes stale 2 minutes (two periods) after it came.
	monReachWait(t, srv, "nodeport paths failing from every other node, pod paths healthy, a nodeport-node finding for "+node, 5*time.Minute, func(got monReach, f []monFinding) (bool, string) {
		ok := true
		var desc []string
		for _, n := range c.Nodes {
			if n.Name == node {
				continue
			}
			for _, fam := range []string{"IPv4", "IPv6"} {
				np := got[n.Name+"/nodeport/"+fam]["netdoctor_reach_success_ratio"]
				pod := got[n.Name+"/pod/"+fam]["netdoctor_reach_success_ratio"]
				ok = ok && np > 0.4 && np < 0.9 && pod == 1
				desc = append(desc, fmt.Sprintf("%s %s nodeport %.3f pod %.3f", n.Name, fam, np, pod))
			}
		}
		seen = fmt.Sprintf("%s; findings %v", strings.Join(desc, "; "), f)
		return ok && monHasFinding(f, "nodeport-node", node, ""), seen
	})
	t.Logf("svc-rules-flush on %s: %s", node, seen)
	unflush()
	uninstall()
	if out, err := c.kubectlErr("get", "services", "-A", "-l", "app.kubernetes.io/part-of=netdoctor-monitor", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("after uninstall: services left %q (%v)", out, err)
	}
}

// monReach is the reach series as "node/path/family" -> metric -> value.
type monReach = map[string]map[string]float64

// monReachWait waits until check accepts a scrape of the reach series and
// the server's reach findings.
func monReachWait(t *testing.T, srv, what string, timeout time.Duration, check func(monReach, []monFinding) (bool, string)) {
	t.Helper()
	monWaitFor(t, what, timeout, func() (bool, string) {
		got, err := monReachScrape(t, srv)
		if err != nil {
			return false, err.Error()
		}
		f := monReachFindings(t, srv)
		ok, desc := check(got, f)
		return ok, fmt.Sprintf("%s; findings %v", desc, f)
	})
}

// monHasFinding: f holds a finding of kind on node (and target, if set).
func monHasFinding(f []monFinding, kind, node, target string) bool {
	for _, x := range f {
		if x.Kind == kind && strings.Join(x.Nodes, ",") == node && (target == "" || x.Target == target) {
			return true
		}
	}
	return false
}

// monFinding is a finding of GET /api/v1/findings, the fields the test reads.
type monFinding struct {
	Kind   string   `json:"kind"`
	Nodes  []string `json:"nodes"`
	Target string   `json:"target"`
}

// monReachFindings are the server's findings of netctl reach's kinds.
func monReachFindings(t *testing.T, srv string) []monFinding {
	t.Helper()
	code, body, err := monHTTPGet(srv + "/api/v1/findings")
	if err != nil || code != 200 {
		t.Logf("GET /api/v1/findings: %d %v", code, err)
		return nil
	}
	var doc struct {
		Findings []monFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("decoding the findings: %v\n%s", err, body)
	}
	var out []monFinding
	for _, f := range doc.Findings {
		switch f.Kind {
		case "kube-proxy", "nodeport-node", "backend-never-reached", "path-down", "loadbalancer-address", "hairpin":
			out = append(out, f)
		}
	}
	return out
}

// monReachScrape reads the server's reach series as "node/path/family" ->
// metric -> value, failing the test on a reach series with other labels
// than (source_node, path, family).
func monReachScrape(t *testing.T, srv string) (map[string]map[string]float64, error) {
	code, body, err := monHTTPGet(srv + "/metrics")
	if err != nil || code != 200 {
		return nil, fmt.Errorf("GET /metrics: %d %v", code, err)
	}
	got := map[string]map[string]float64{}
	var stray []string
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "netdoctor_reach_") || strings.HasPrefix(line, "netdoctor_reach_expect_") ||
			strings.HasPrefix(line, "netdoctor_reach_round") || strings.Contains(line, "_bucket{") {
			continue
		}
		m := monReachSeries.FindStringSubmatch(line)
		if m == nil {
			stray = append(stray, line)
			continue
		}
		v, _ := strconv.ParseFloat(m[5], 64)
		k := m[4] + "/" + m[3] + "/" + m[2]
		if got[k] == nil {
			got[k] = map[string]float64{}
		}
		got[k][m[1]] = v
	}
	if len(stray) > 0 {
		t.Fatalf("reach series with other labels than (source_node, path, family): %v", stray)
	}
	return got, nil
}
