package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// The monitor e2e test has a cluster of its own: its agents listen on the
// nodes (host network, port 8890) and must never meet another test's agents.
const (
	monCluster  = "e2emon"
	monNS       = "netdoctor-monitor"
	monInterval = 2 * time.Second
	monNodePort = 31081
	// monMargin is what the assertions allow on top of "two intervals":
	// the fault command itself, the server's bookkeeping and a loaded
	// machine (2 cores shared with other tests).
	monMargin = 2 * time.Second
)

// monPair is one source agent -> target address probe, the way the tests
// compute it from kubectl's view of the cluster.
type monPair struct {
	SrcNode, SrcNet, DstNode, DstNet, Family string
}

func (p monPair) String() string {
	return fmt.Sprintf("%s/%s->%s/%s/%s", p.SrcNode, p.SrcNet, p.DstNode, p.DstNet, p.Family)
}

// monAgent is one running monitor agent as kubectl shows it.
type monAgent struct {
	Node, Network string
	IPs           []netip.Addr
}

// TestMonitor installs the monitor on its own cluster, breaks the link
// between two nodes and checks that the matrix, /metrics, `monitor status`
// and a real Prometheus loaded with deploy/alerts/rules.yaml show exactly
// the broken pairs, then that everything recovers and uninstall leaves
// nothing behind.
func TestMonitor(t *testing.T) {
	c := sharedCluster(t, monCluster, 3, "dual")
	dir := t.TempDir()

	// 1. Install, wait for connectivity_check 200.
	start := time.Now()
	r := netctl(t, dir, "monitor", "install", "--kubeconfig", c.Kubeconfig,
		"--interval="+monInterval.String(), "--node-port="+strconv.Itoa(monNodePort), "--timeout=2m")
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// Leave the shared machine clean even when an assertion stopped the test.
		netctl(t, dir, "monitor", "uninstall", "--kubeconfig", c.Kubeconfig)
	})
	if r.Code != 0 {
		c.dumpMonitor(t)
		t.Fatalf("monitor install: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	installed := time.Since(start)
	srv := c.monitorURL(t)
	monWaitFor(t, "connectivity_check 200", time.Minute, func() (bool, string) {
		code, body, err := monHTTPGet(srv + api.PathConnectivity)
		return err == nil && code == 200, fmt.Sprintf("%d %s %v", code, body, err)
	})
	t.Logf("install returned after %s; connectivity_check 200 after %s", installed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The service proxy path (what `monitor status` uses) answers too.
	raw := c.kubectl(t, "get", "--raw", "/api/v1/namespaces/"+monNS+"/services/"+"netdoctor-monitor:8081/proxy"+api.PathConnectivity)
	if !strings.Contains(raw, "successfully reported") {
		t.Errorf("connectivity_check through the service proxy: %s", raw)
	}

	// install made the token Secret; the server takes reports only with it.
	if !strings.Contains(r.Stdout, "secret/netdoctor-monitor-token created") {
		t.Errorf("install did not create the token Secret:\n%s", r.Stdout)
	}
	tok := c.kubectl(t, "-n", monNS, "get", "secret", "netdoctor-monitor-token", "-o", "jsonpath={.data.token}")
	if len(strings.TrimSpace(tok)) < 40 {
		t.Errorf("token Secret holds %q, want a long random token", tok)
	}
	req, _ := http.NewRequest(http.MethodPost, srv+api.PathAgents+"intruder-private_network", strings.NewReader(`{}`))
	req.Header.Set(api.TokenHeader, "not-the-token")
	if resp, err := monHTTP.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("report with a wrong token: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	// Every pair, computed from kubectl's pods and nodes, never from netctl.
	agents := c.monitorAgents(t)
	all := monAllPairs(agents)
	if len(all) != 48 {
		t.Fatalf("3 dual-stack nodes give 48 pairs (6 agents x 4 peers x 2 families), got %d from %v", len(all), agents)
	}
	monWaitFor(t, "every pair probed and ok", 3*monInterval+monMargin, func() (bool, string) {
		return monMatrixIs(t, srv, all, nil)
	})
	if got := monMetricFailures(t, srv, all); len(got) != 0 {
		t.Errorf("before the fault, netdoctor_probe_success is 0 for %v", got)
	}
	if r := netctl(t, dir, "monitor", "status", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
		t.Errorf("monitor status on a healthy cluster: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// 4 (started early: it scrapes through the faults). Prometheus with the
	// project's alert rules, scraping the server's NodePort.
	prom := monStartPrometheus(t, c.monitorTarget(t))

	// 2. Break the link between the two nodes the server does not run on:
	// every agent keeps reporting, so the matrix must show exactly the
	// pairs between A and B, both directions, and nothing else.
	a, b := c.monitorFaultNodes(t)
	broken := map[monPair]bool{}
	for p := range all {
		if (p.SrcNode == a && p.DstNode == b) || (p.SrcNode == b && p.DstNode == a) {
			broken[p] = true
		}
	}
	faultStart := time.Now()
	unfault := c.monitorFault(t, "link", a, b)
	monWaitFor(t, "exactly the pairs between "+a+" and "+b+" failing", 2*monInterval+monMargin, func() (bool, string) {
		return monMatrixIs(t, srv, all, broken)
	})
	t.Logf("link %s<->%s: all %d broken pairs (and only those) failing in the matrix %s after the fault command started",
		a, b, len(broken), time.Since(faultStart).Round(time.Millisecond))
	if got := monMetricFailures(t, srv, all); !monSameSet(got, broken) {
		t.Errorf("/metrics netdoctor_probe_success == 0: %s", monDiff(got, broken))
	}
	var m jsonMatrix
	monGetJSON(t, srv+api.PathMatrix+"?failing=true", &m)
	for _, p := range m.Pairs {
		if p.Class != "timeout" || p.FailingSince == nil || p.ConsecutiveFailures < 1 {
			t.Errorf("%s -> %s %s: class %q, failing since %v, %d rounds; want timeout with a start and a count",
				p.Source, p.Target, p.Address, p.Class, p.FailingSince, p.ConsecutiveFailures)
		}
	}
	if code, body, err := monHTTPGet(srv + api.PathConnectivity); err != nil || code != 200 {
		t.Errorf("during the fault every agent still reaches the server, connectivity_check: %d %s %v", code, body, err)
	}
	st := netctl(t, dir, "monitor", "status", "--kubeconfig", c.Kubeconfig, "-o", "json")
	var sm jsonMatrix
	if err := json.Unmarshal([]byte(st.Stdout), &sm); err != nil {
		t.Errorf("monitor status -o json: %v\n%s%s", err, st.Stdout, st.Stderr)
	}
	if st.Code != 1 || sm.Failing != len(broken) || !monSameSet(monMatrixSet(sm, true), broken) {
		t.Errorf("monitor status during the fault: exit %d (want 1), %d failing (want %d)\n%s", st.Code, sm.Failing, len(broken), st.Stderr)
	}
	st = netctl(t, dir, "monitor", "status", "--kubeconfig", c.Kubeconfig)
	if st.Code != 1 || !strings.Contains(st.Stdout, fmt.Sprintf("%d failing", len(broken))) || !strings.Contains(st.Stdout, "timeout") {
		t.Errorf("monitor status (table) during the fault: exit %d\n%s%s", st.Code, st.Stdout, st.Stderr)
	}

	// 4. Prometheus: the series and the node-pair alert show the broken pairs.
	wantSeries := broken
	monWaitFor(t, "Prometheus: netdoctor_probe_success == 0 is the broken pairs", 15*time.Second, func() (bool, string) {
		got := prom.pairs(t, "netdoctor_probe_success == 0")
		return monSameSet(got, wantSeries), monDiff(got, wantSeries)
	})
	wantAlerts := map[string]bool{a + "->" + b: true, b + "->" + a: true}
	monWaitFor(t, "Prometheus: NetdoctorNodePairUnreachable firing for exactly "+a+"<->"+b, 6*monInterval+monMargin, func() (bool, string) {
		got := prom.nodePairs(t, `ALERTS{alertname="NetdoctorNodePairUnreachable",alertstate="firing"}`)
		return monSameKeys(got, wantAlerts), fmt.Sprint(monSortedKeys(got))
	})
	t.Logf("Prometheus: netdoctor_probe_success == 0 returned the %d broken series; NetdoctorNodePairUnreachable firing for %v (%s after the fault)",
		len(broken), monSortedKeys(wantAlerts), time.Since(faultStart).Round(time.Millisecond))
	// Rounds later, still exactly the broken pairs: nothing else flaps.
	if ok, diff := monMatrixIs(t, srv, all, broken); !ok {
		t.Errorf("later during the fault: %s", diff)
	}

	// 3. Remove the fault: every pair recovers within two intervals.
	recoverStart := time.Now()
	unfault()
	monWaitFor(t, "every pair ok again", 2*monInterval+monMargin, func() (bool, string) {
		return monMatrixIs(t, srv, all, nil)
	})
	t.Logf("fault removed: all pairs ok %s later", time.Since(recoverStart).Round(time.Millisecond))
	if got := monMetricFailures(t, srv, all); len(got) != 0 {
		t.Errorf("after recovery, netdoctor_probe_success is 0 for %v", got)
	}
	monWaitFor(t, "Prometheus: no failing series and no firing pair alert", 15*time.Second, func() (bool, string) {
		s := prom.pairs(t, "netdoctor_probe_success == 0")
		al := prom.nodePairs(t, `ALERTS{alertname="NetdoctorNodePairUnreachable",alertstate="firing"}`)
		return len(s) == 0 && len(al) == 0, fmt.Sprintf("series %v alerts %v", s, monSortedKeys(al))
	})
	if r := netctl(t, dir, "monitor", "status", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
		t.Errorf("monitor status after recovery: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// 2b. Isolate one pod-network agent: every probe of it fails, and it
	// can no longer report, so connectivity_check names it outdated. Its
	// own pairs keep their last (ok) result: nothing probes them.
	pod := c.monitorAgentPod(t, a, "pod")
	isolated := map[monPair]bool{}
	for p := range all {
		if p.DstNode == a && p.DstNet == "pod" {
			isolated[p] = true
		}
	}
	isoStart := time.Now()
	unisolate := c.monitorFault(t, "isolate", monNS+"/"+pod)
	monWaitFor(t, "exactly the probes of the isolated agent failing", 2*monInterval+monMargin, func() (bool, string) {
		return monMatrixIs(t, srv, all, isolated)
	})
	t.Logf("isolate %s: its %d inbound pairs (and only those) failing %s after the fault command started",
		pod, len(isolated), time.Since(isoStart).Round(time.Millisecond))
	if got := monMetricFailures(t, srv, all); !monSameSet(got, isolated) {
		t.Errorf("/metrics netdoctor_probe_success == 0 with %s isolated: %s", pod, monDiff(got, isolated))
	}
	isoAgent := api.AgentName(a, api.NetworkPod)
	monWaitFor(t, "connectivity_check names "+isoAgent+" outdated", 3*monInterval+monMargin, func() (bool, string) {
		code, body, err := monHTTPGet(srv + api.PathConnectivity)
		var cp jsonConnectivity
		_ = json.Unmarshal([]byte(body), &cp)
		return err == nil && code == 400 && len(cp.Absent) == 0 && len(cp.Outdated) == 1 && cp.Outdated[0] == isoAgent,
			fmt.Sprintf("%d %s %v", code, body, err)
	})
	t.Logf("isolate %s: connectivity_check 400 naming it outdated %s after the fault command started", pod, time.Since(isoStart).Round(time.Millisecond))
	recoverStart = time.Now()
	unisolate()
	monWaitFor(t, "every pair ok and every agent reporting again", 3*monInterval+monMargin, func() (bool, string) {
		ok, desc := monMatrixIs(t, srv, all, nil)
		code, body, err := monHTTPGet(srv + api.PathConnectivity)
		return ok && err == nil && code == 200, fmt.Sprintf("%s; connectivity_check %d %s %v", desc, code, body, err)
	})
	t.Logf("isolation removed: all pairs ok and connectivity_check 200 %s later", time.Since(recoverStart).Round(time.Millisecond))

	// 5. Uninstall leaves nothing of the monitor.
	if r := netctl(t, dir, "monitor", "uninstall", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
		t.Fatalf("monitor uninstall: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	monWaitFor(t, "nothing labelled part-of=netdoctor-monitor", time.Minute, func() (bool, string) {
		left := c.monitorObjects(t)
		return len(left) == 0, strings.Join(left, " ")
	})
}

// monitorFault adds a sandbox fault and returns the function removing it,
// which also runs at the end of the test if the test stops before.
// (c.fault's cleanup would complain about a fault removed on purpose.)
func (c *cluster) monitorFault(t *testing.T, args ...string) func() {
	t.Helper()
	add := append([]string{"fault", "add", "--name", c.Name}, args...)
	if out, err := sandbox(time.Minute, add...); err != nil {
		t.Fatalf("sandbox %s: %v\n%s", strings.Join(add, " "), err, out)
	}
	active := true
	remove := func() {
		if !active {
			return
		}
		active = false
		rm := append([]string{"fault", "remove", "--name", c.Name}, args...)
		if out, err := sandbox(time.Minute, rm...); err != nil {
			t.Errorf("sandbox %s: %v\n%s", strings.Join(rm, " "), err, out)
		}
	}
	t.Cleanup(remove)
	return remove
}

// monitorUninstall runs `monitor uninstall` and waits until its namespace
// is gone: other monitor tests install into the same namespace on a
// shared cluster.
func (c *cluster) monitorUninstall(t *testing.T, dir string) {
	t.Helper()
	if r := netctl(t, dir, "monitor", "uninstall", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
		t.Errorf("monitor uninstall: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	monWaitFor(t, "namespace "+monNS+" gone", 2*time.Minute, func() (bool, string) {
		out, err := c.kubectlErr("get", "namespace", monNS, "--ignore-not-found", "-o", "name")
		return err == nil && strings.TrimSpace(out) == "", out
	})
}

// monitorURL is the server's NodePort on the first node's IPv4 address: the
// host reaches node addresses over the sandbox bridge.
func (c *cluster) monitorURL(t *testing.T) string {
	return "http://" + c.monitorTarget(t)
}

func (c *cluster) monitorTarget(t *testing.T) string {
	t.Helper()
	for _, ip := range c.Nodes[0].IPs {
		if ip.Is4() {
			return net.JoinHostPort(ip.String(), strconv.Itoa(monNodePort))
		}
	}
	t.Fatalf("node %s has no IPv4 address", c.Nodes[0].Name)
	return ""
}

// monitorAgents lists the agent pods (pod network: their pod IPs; host
// network: their node's IPs).
func (c *cluster) monitorAgents(t *testing.T) []monAgent {
	t.Helper()
	var pl struct {
		Items []struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct{ NodeName string }
			Status   struct{ PodIPs []struct{ IP string } }
		}
	}
	c.kubectlJSON(t, &pl, "-n", monNS, "get", "pods", "-l", api.LabelName+"="+api.AgentAppName)
	var out []monAgent
	for _, p := range pl.Items {
		a := monAgent{Node: p.Spec.NodeName, Network: p.Metadata.Labels[api.LabelNetwork]}
		if a.Network == "host" {
			a.IPs = c.node(a.Node).IPs
		} else {
			for _, ip := range p.Status.PodIPs {
				a.IPs = append(a.IPs, netip.MustParseAddr(ip.IP))
			}
		}
		out = append(out, a)
	}
	if len(out) != 2*len(c.Nodes) {
		t.Fatalf("%d agent pods, want 2 per node on %d nodes", len(out), len(c.Nodes))
	}
	return out
}

// monAllPairs: every agent probes every agent on other nodes (clusters of
// up to 2k+1 = 11 nodes), on each address of the target.
func monAllPairs(agents []monAgent) map[monPair]bool {
	m := map[monPair]bool{}
	for _, s := range agents {
		for _, d := range agents {
			if s.Node == d.Node {
				continue
			}
			for _, ip := range d.IPs {
				m[monPair{s.Node, s.Network, d.Node, d.Network, string(familyOf(ip))}] = true
			}
		}
	}
	return m
}

// monitorAgentPod is the name of the agent pod of network net on node.
func (c *cluster) monitorAgentPod(t *testing.T, node, net string) string {
	t.Helper()
	out := c.kubectl(t, "-n", monNS, "get", "pods", "-l", api.LabelName+"="+api.AgentAppName+","+api.LabelNetwork+"="+net,
		"--field-selector", "spec.nodeName="+node, "-o", "jsonpath={.items[*].metadata.name}")
	names := strings.Fields(out)
	if len(names) != 1 {
		t.Fatalf("agent pods (%s network) on %s: %v", net, node, names)
	}
	return names[0]
}

// monitorFaultNodes picks the two nodes the server does not run on.
func (c *cluster) monitorFaultNodes(t *testing.T) (string, string) {
	t.Helper()
	out := c.kubectl(t, "-n", monNS, "get", "pods", "-l", api.LabelName+"="+api.ServerAppName,
		"-o", "jsonpath={.items[*].spec.nodeName}")
	server := strings.TrimSpace(out)
	var others []string
	for _, n := range c.nodeNames() {
		if n != server {
			others = append(others, n)
		}
	}
	sort.Strings(others)
	if server == "" || len(others) != 2 {
		t.Fatalf("server runs on %q; other nodes %v", server, others)
	}
	t.Logf("server on %s; breaking %s <-> %s", server, others[0], others[1])
	return others[0], others[1]
}

// monitorObjects lists what is labelled part of the monitor (and the
// namespace, whatever its labels).
func (c *cluster) monitorObjects(t *testing.T) []string {
	t.Helper()
	sel := api.LabelPartOf + "=" + api.PartOf
	out := c.kubectl(t, "get", "daemonsets,deployments,pods,secrets,serviceaccounts,services,configmaps,roles,rolebindings",
		"-A", "-l", sel, "-o", "name")
	out2 := c.kubectl(t, "get", "namespaces,clusterroles,clusterrolebindings", "-l", sel, "-o", "name")
	left := strings.Fields(out + " " + out2)
	if _, err := c.kubectlErr("get", "namespace", monNS); err == nil {
		left = append(left, "namespace/"+monNS+" (unlabelled)")
	}
	return left
}

func (c *cluster) dumpMonitor(t *testing.T) {
	t.Helper()
	out, _ := c.kubectlErr("-n", monNS, "get", "pods", "-o", "wide")
	t.Logf("monitor pods:\n%s", out)
}

// monMatrixIs reports whether the server's matrix holds exactly the pairs
// of all, failing exactly those of failing, and a description otherwise.
func monMatrixIs(t *testing.T, srv string, all, failing map[monPair]bool) (bool, string) {
	t.Helper()
	var m jsonMatrix
	if err := monTryJSON(srv+api.PathMatrix, &m); err != nil {
		return false, err.Error()
	}
	got, bad := map[monPair]bool{}, map[monPair]bool{}
	for _, p := range m.Pairs {
		k := monMatrixKey(p)
		if got[k] {
			return false, "pair twice in the matrix: " + k.String()
		}
		got[k] = true
		if !p.OK {
			bad[k] = true
		}
	}
	if !monSameSet(got, all) {
		return false, "matrix pairs: " + monDiff(got, all)
	}
	if !monSameSet(bad, failing) {
		return false, "failing pairs: " + monDiff(bad, failing)
	}
	if m.Failing != len(failing) || m.Total != len(all) {
		return false, fmt.Sprintf("matrix counts total %d failing %d", m.Total, m.Failing)
	}
	return true, ""
}

func monMatrixKey(p jsonMatrixPair) monPair {
	return monPair{p.SourceNode, string(p.SourceNetwork), p.TargetNode, string(p.TargetNetwork), string(p.Family)}
}

func monMatrixSet(m jsonMatrix, failing bool) map[monPair]bool {
	out := map[monPair]bool{}
	for _, p := range m.Pairs {
		if !failing || !p.OK {
			out[monMatrixKey(p)] = true
		}
	}
	return out
}

// monMetricFailures parses /metrics and returns the pairs whose
// netdoctor_probe_success is 0; every pair of all must have a series.
func monMetricFailures(t *testing.T, srv string, all map[monPair]bool) map[monPair]bool {
	t.Helper()
	code, body, err := monHTTPGet(srv + api.PathMetrics)
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	mf := fams["netdoctor_probe_success"]
	if mf == nil {
		t.Fatalf("/metrics has no netdoctor_probe_success")
	}
	seen, zero := map[monPair]bool{}, map[monPair]bool{}
	for _, m := range mf.GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		k := monPair{l["source_node"], l["source_network"], l["target_node"], l["target_network"], l["family"]}
		seen[k] = true
		if m.GetGauge().GetValue() == 0 {
			zero[k] = true
		}
	}
	if !monSameSet(seen, all) {
		t.Errorf("netdoctor_probe_success series: %s", monDiff(seen, all))
	}
	return zero
}

func monSameSet[K comparable](got, want map[K]bool) bool {
	if len(got) != len(want) {
		return false
	}
	for k := range want {
		if !got[k] {
			return false
		}
	}
	return true
}

func monSameKeys(got, want map[string]bool) bool { return monSameSet(got, want) }

func monDiff(got, want map[monPair]bool) string {
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k.String())
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return fmt.Sprintf("%d missing %v, %d unexpected %v", len(missing), missing, len(extra), extra)
}

func monSortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// waitFor polls cond every 250 ms until it holds or d passes, then fails
// with cond's last description.
func monWaitFor(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		ok, desc := cond()
		if ok {
			return
		}
		last = desc
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, d, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// monHTTP never uses an environment proxy: every request goes to a sandbox
// node address or to 127.0.0.1.
var monHTTP = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

func monHTTPGet(u string) (int, string, error) {
	resp, err := monHTTP.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func monTryJSON(u string, v any) error {
	code, body, err := monHTTPGet(u)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("GET %s: status %d: %s", u, code, body)
	}
	return json.Unmarshal([]byte(body), v)
}

func monGetJSON(t *testing.T, u string, v any) {
	t.Helper()
	if err := monTryJSON(u, v); err != nil {
		t.Fatal(err)
	}
}

// monProm is a real Prometheus server run by the test on 127.0.0.1.
type monProm struct {
	url string
}

// monStartPrometheus runs Debian's prometheus with a scrape config for target
// (1 s scrapes) and deploy/alerts/rules.yaml (1 s evaluation), waits until
// it has loaded the rules and scraped the target once, and kills it (by
// PID) when the test ends.
func monStartPrometheus(t *testing.T, target string) *monProm {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("needs the prometheus server (Debian package prometheus): %v", err)
	}
	dir, err := os.MkdirTemp("", "netdoctor-e2e-prom-")
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(repoRoot, "deploy", "alerts", "rules.yaml")
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: netdoctor-monitor
    static_configs:
      - targets: [%q]
`, rules, target)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), cfg)
	port := monFreePort(t)
	p := &monProm{url: "http://127.0.0.1:" + strconv.Itoa(port)}
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the test binary
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID
		<-exited
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("prometheus log:\n%s", b)
			}
		}
		_ = os.RemoveAll(dir)
	})
	start := time.Now()
	monWaitFor(t, "prometheus ready with the rules loaded and the monitor scraped", 30*time.Second, func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus exited: %v\n%s", err, b)
		default:
		}
		var rules struct {
			Data struct {
				Groups []struct {
					Rules []struct{ Name, Health string }
				}
			}
		}
		if err := monTryJSON(p.url+"/api/v1/rules", &rules); err != nil {
			return false, err.Error()
		}
		found := false
		for _, g := range rules.Data.Groups {
			for _, r := range g.Rules {
				found = found || r.Name == "NetdoctorNodePairUnreachable"
			}
		}
		if !found {
			return false, "rule NetdoctorNodePairUnreachable not loaded"
		}
		res := p.query(t, `up{job="netdoctor-monitor"} == 1`)
		return len(res) == 1, fmt.Sprintf("up: %v", res)
	})
	t.Logf("prometheus %s on %s: rules loaded, target %s up after %s", monPromVersion(bin), p.url, target, time.Since(start).Round(time.Millisecond))
	return p
}

func monPromVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// query runs an instant query and returns each series' labels.
func (p *monProm) query(t *testing.T, q string) []map[string]string {
	t.Helper()
	var res struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
			}
		}
	}
	if err := monTryJSON(p.url+"/api/v1/query?query="+url.QueryEscape(q), &res); err != nil {
		t.Fatalf("prometheus query %s: %v", q, err)
	}
	if res.Status != "success" {
		t.Fatalf("prometheus query %s: %s %s", q, res.Status, res.Error)
	}
	var out []map[string]string
	for _, r := range res.Data.Result {
		out = append(out, r.Metric)
	}
	return out
}

// pairs runs q and keys each series like the matrix.
func (p *monProm) pairs(t *testing.T, q string) map[monPair]bool {
	t.Helper()
	out := map[monPair]bool{}
	for _, l := range p.query(t, q) {
		out[monPair{l["source_node"], l["source_network"], l["target_node"], l["target_network"], l["family"]}] = true
	}
	return out
}

// nodePairs runs q and returns "source_node->target_node" of each series.
func (p *monProm) nodePairs(t *testing.T, q string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, l := range p.query(t, q) {
		out[l["source_node"]+"->"+l["target_node"]] = true
	}
	return out
}

func monFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
