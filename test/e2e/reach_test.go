package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// reachDoc is the part of `netctl reach -o json` the tests read (their own
// types, not the producer's).
type reachDoc struct {
	Rounds  int `json:"rounds"`
	Summary struct {
		Total, Succeeded, Failed, Exception int
	} `json:"summary"`
	Results  []reachRow `json:"results"`
	Findings []struct {
		Kind    string   `json:"kind"`
		Nodes   []string `json:"nodes"`
		Target  string   `json:"target"`
		Summary string   `json:"summary"`
	} `json:"findings"`
	Notes []string `json:"notes"`
}

type reachRow struct {
	Source struct {
		Node    string `json:"node"`
		Vantage string `json:"vantage"`
	} `json:"source"`
	Path       string   `json:"path"`
	Family     string   `json:"family"`
	Address    string   `json:"address"`
	TargetNode string   `json:"targetNode"`
	Result     string   `json:"result"`
	Reasons    []string `json:"reasons"`
	Requests   int64    `json:"requests"`
	Succeeded  int64    `json:"succeeded"`
	LatencyMs  struct {
		Mean, P50, P99, Max float64
	} `json:"latencyMs"`
	Backends struct {
		Reached []struct {
			Node        string   `json:"node"`
			Pod         string   `json:"pod"`
			ClientAddrs []string `json:"clientAddrs"`
		} `json:"reached"`
		Expected []struct {
			Node string `json:"node"`
			Pod  string `json:"pod"`
		} `json:"expected"`
	} `json:"backends"`
	Inconclusive string `json:"inconclusive"`
}

func (r reachRow) String() string {
	return fmt.Sprintf("%s %s(%s)->%s %s: %s %v", r.Path, r.Source.Node, r.Source.Vantage, r.Family, r.Address, r.Result, r.Reasons)
}

// reachCluster is the 4-node dual-stack cluster the reach tests share with
// most of the suite (the machine has 16 sandbox slots for every cluster the
// suite keeps up at once).
func reachCluster(t *testing.T) *cluster {
	return sharedCluster(t, "e2edual", 4, "dual")
}

// serviceCluster is the cluster with every service component (MetalLB,
// Traefik, the Multus model), shared by the LoadBalancer, Ingress/Gateway
// and Multus reach tests.
func serviceCluster(t *testing.T) *cluster {
	return sharedCluster(t, "e2esvc", 3, "dual", "--load-balancer", "--ingress", "--multus")
}

// reach runs `netctl reach -o json` against c.
func runReach(t *testing.T, c *cluster, args ...string) (reachDoc, run) {
	t.Helper()
	dir := t.TempDir()
	full := append([]string{"reach", "--kubeconfig", c.Kubeconfig, "--image-repository", c.imageRepository(), "-o", "json"}, args...)
	r := netctl(t, dir, full...)
	var doc reachDoc
	if r.Code != 2 {
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Fatalf("netctl %s: exit %d, output is not JSON (%v):\n%s\n%s", strings.Join(args, " "), r.Code, err, r.Stdout, r.Stderr)
		}
	}
	return doc, r
}

func podSet(pods []string) string {
	sort.Strings(pods)
	return strings.Join(pods, ",")
}

// TestReachHealthy: on a healthy cluster every path kind the sandbox
// serves succeeds from every node in both families, every VIP row is
// answered by exactly the Service's endpoints (the four agents), the
// affinity rows by one, the ETP=Local rows only by the target node's agent
// seeing the client's own node IP.
func TestReachHealthy(t *testing.T) {
	c := reachCluster(t)
	// A 5 s per-request timeout: the latency verdicts are what judge speed;
	// on a loaded 2-core machine an agent can stall for a second.
	doc, r := runReach(t, c, "--qps", "100", "--duration", "10", "--timeout", "5000", "--auto-clean")
	if r.Code != 0 {
		var bad []string
		for _, row := range doc.Results {
			if row.Result != "SUCCEEDED" {
				bad = append(bad, row.String())
			}
		}
		t.Fatalf("exit %d on a healthy cluster; not succeeded:\n%s\nstderr:\n%s", r.Code, strings.Join(bad, "\n"), r.Stderr)
	}
	byPath := map[string][]reachRow{}
	for _, row := range doc.Results {
		byPath[row.Path] = append(byPath[row.Path], row)
	}
	// Counts from kubectl's view of the cluster, not netctl's.
	nodes := len(c.Nodes)
	ips := 0
	nodeIP := map[string]map[string]netip.Addr{} // node -> family -> IP
	for _, n := range c.Nodes {
		ips += len(n.IPs)
		nodeIP[n.Name] = map[string]netip.Addr{}
		for _, ip := range n.IPs {
			fam := "IPv4"
			if ip.Is6() {
				fam = "IPv6"
			}
			nodeIP[n.Name][fam] = ip
		}
	}
	want := map[string]int{
		"pod":            nodes * 2 * nodes, // every agent's two pod IPs from every node
		"clusterip":      nodes * 2,
		"nodeport":       nodes * ips, // every node's every InternalIP from every node
		"nodeport-local": nodes * (ips - 2),
		"affinity":       nodes * 2,
		"hairpin":        nodes * 2,
		"dns":            nodes * (2 + 2*2), // the Service (2 families) and 2 CoreDNS replicas x 2 families
	}
	for p, n := range want {
		if got := len(byPath[p]); got != n {
			t.Errorf("%s: %d rows, want %d", p, got, n)
		}
	}
	var agents []string
	for _, row := range byPath["pod"] {
		if len(row.Backends.Reached) != 1 || row.Backends.Reached[0].Node != row.TargetNode {
			t.Errorf("pod row answered by %+v, want the agent on %s: %s", row.Backends.Reached, row.TargetNode, row)
		}
		if row.Source.Node == c.Nodes[0].Name && row.Family == "IPv4" {
			agents = append(agents, row.Backends.Reached[0].Pod)
		}
	}
	if len(agents) != nodes {
		t.Fatalf("pod rows name %d agents, want %d", len(agents), nodes)
	}
	all := podSet(agents)
	fams := map[string]bool{}
	for _, row := range doc.Results {
		fams[row.Family] = true
		if row.Requests == 0 || row.Succeeded != row.Requests || row.LatencyMs.P50 <= 0 || row.LatencyMs.Max < row.LatencyMs.P99 {
			t.Errorf("row measured nothing sensible: %+v", row)
		}
		var reached, expected []string
		for _, b := range row.Backends.Reached {
			reached = append(reached, b.Pod)
		}
		for _, b := range row.Backends.Expected {
			expected = append(expected, b.Pod)
		}
		switch row.Path {
		case "clusterip", "nodeport":
			if podSet(reached) != all || podSet(expected) != all || row.Inconclusive != "" {
				t.Errorf("VIP row reached %v, expected %v, want every agent %s (%s): %s", reached, expected, all, row.Inconclusive, row)
			}
		case "affinity":
			if len(reached) != 1 || podSet(expected) != all {
				t.Errorf("affinity row reached %v, want exactly one: %s", reached, row)
			}
		case "hairpin":
			if len(row.Backends.Reached) != 1 || row.Backends.Reached[0].Node != row.Source.Node {
				t.Errorf("hairpin row answered by %+v, want the source itself: %s", row.Backends.Reached, row)
			}
		case "nodeport-local":
			if row.Source.Vantage != "host" || row.TargetNode == row.Source.Node {
				t.Errorf("nodeport-local row from %s: %s", row.Source.Vantage, row)
			}
			client := nodeIP[row.Source.Node][row.Family]
			for _, b := range row.Backends.Reached {
				if b.Node != row.TargetNode {
					t.Errorf("ETP=Local row answered from %s, want only %s: %s", b.Node, row.TargetNode, row)
				}
				for _, a := range b.ClientAddrs {
					if netip.MustParseAddr(a) != client {
						t.Errorf("ETP=Local backend saw client %s, want the source node's %s: %s", a, client, row)
					}
				}
			}
		}
	}
	if !fams["IPv4"] || !fams["IPv6"] {
		t.Errorf("families %v, want both", fams)
	}
	if len(doc.Findings) != 0 {
		t.Errorf("findings on a healthy cluster: %+v", doc.Findings)
	}
	notes := strings.Join(doc.Notes, "\n")
	for _, p := range []string{"loadbalancer", "ingress", "gateway", "multus"} {
		if len(byPath[p]) == 0 && !strings.Contains(notes, p+" path not run") {
			t.Errorf("%s path neither run nor noted:\n%s", p, notes)
		}
	}
	if left := c.managedObjects(t, ""); len(left) != 0 {
		t.Errorf("--auto-clean left %v", left)
	}
}

// TestReachKubeProxyStopped: with one node's kube-proxy stopped, Services
// created afterwards have no rules there: every Service path from that
// node fails while its pod paths work, and its NodePort fails from every
// client. The finding names that node's kube-proxy, and nothing else.
func TestReachKubeProxyStopped(t *testing.T) {
	c := reachCluster(t)
	victim := c.Nodes[1].Name
	c.fault(t, "kube-proxy-stop", victim)
	doc, r := runReach(t, c, "--paths", "pod,clusterip,nodeport,affinity,hairpin", "--qps", "150", "--duration", "6", "--auto-clean")
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	var proxy []string
	for _, f := range doc.Findings {
		switch f.Kind {
		case "kube-proxy":
			proxy = append(proxy, f.Nodes...)
		case "nodeport-node", "backend-never-reached", "hairpin":
			t.Errorf("extra finding %s %v: %s", f.Kind, f.Nodes, f.Summary)
		}
	}
	if len(proxy) != 1 || proxy[0] != victim {
		t.Fatalf("kube-proxy finding names %v, want [%s]; findings %+v", proxy, victim, doc.Findings)
	}
	for _, row := range doc.Results {
		service := row.Path == "clusterip" || row.Path == "affinity" || row.Path == "hairpin"
		wantFail := (service && row.Source.Node == victim) || (row.Path == "nodeport" && row.TargetNode == victim)
		if wantFail != (row.Result == "FAILED") && (wantFail || row.Inconclusive == "") {
			t.Errorf("want failed=%v: %s", wantFail, row)
		}
	}
}

// TestReachNetReach runs a kdoctor NetReach object: its switches, request
// and rounds are used, the fields netctl does not use are noted.
func TestReachNetReach(t *testing.T) {
	c := reachCluster(t)
	file := filepath.Join(t.TempDir(), "netreach.yaml")
	os.WriteFile(file, []byte(`apiVersion: kdoctor.io/v1beta1
kind: NetReach
metadata:
  name: netreach
spec:
  agentSpec:
    hostNetwork: false
    kind: DaemonSet
  expect:
    meanAccessDelayInMs: 1500
    successRate: 1
  request:
    durationInSecond: 3
    perRequestTimeoutInMS: 1000
    qps: 60
  schedule:
    roundNumber: 2
    roundTimeoutMinute: 1
    schedule: 0 0
  target:
    clusterIP: true
    enableLatencyMetric: false
    endpoint: true
    ingress: false
    ipv4: true
    ipv6: true
    loadBalancer: false
    multusInterface: false
    nodePort: true
`), 0o644)
	doc, r := runReach(t, c, "-f", file, "--auto-clean")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if doc.Rounds != 2 {
		t.Errorf("rounds %d, want 2", doc.Rounds)
	}
	paths := map[string]int{}
	for _, row := range doc.Results {
		paths[row.Path]++
	}
	if len(paths) != 3 || paths["pod"] == 0 || paths["clusterip"] == 0 || paths["nodeport"] == 0 {
		t.Errorf("paths %v, want pod, clusterip, nodeport", paths)
	}
	notes := strings.Join(doc.Notes, "\n")
	for _, f := range []string{"spec.agentSpec", "spec.target.enableLatencyMetric", "spec.schedule.roundTimeoutMinute"} {
		if !strings.Contains(notes, f+" is not used") {
			t.Errorf("no note for %s:\n%s", f, notes)
		}
	}
}

// TestReachBadInput: bad numbers, unknown kinds and paths this cluster
// cannot serve exit 2 naming the field, and nothing is created.
func TestReachBadInput(t *testing.T) {
	c := reachCluster(t)
	ns := "reach-bad"
	lb := filepath.Join(t.TempDir(), "lb.yaml")
	os.WriteFile(lb, []byte("apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nmetadata: {name: lb}\nspec:\n  target: {loadBalancer: true}\n"), 0o644)
	for _, c2 := range []struct {
		args []string
		want string
	}{
		{[]string{"--qps", "0"}, "--qps"},
		{[]string{"--qps", "1000000"}, "--qps"},
		{[]string{"--duration", "-1"}, "--duration"},
		{[]string{"--timeout", "0"}, "--timeout"},
		{[]string{"--paths", "clusterip,teleport"}, `unknown path kind "teleport"`},
		{[]string{"--paths", "loadbalancer"}, "--paths loadbalancer"},
		{[]string{"--paths", "ingress"}, "--paths ingress"},
		{[]string{"-f", lb}, "spec.target.loadBalancer"},
	} {
		_, r := runReach(t, c, append([]string{"--namespace", ns}, c2.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c2.want) {
			t.Errorf("%v: exit %d, want 2 naming %q:\n%s", c2.args, r.Code, c2.want, r.Stderr)
		}
	}
	if out, err := c.kubectlErr("get", "namespace", ns); err == nil {
		t.Errorf("namespace %s exists after bad input:\n%s", ns, out)
	}
}

// TestReachCleanInUserNamespace: reach's Services in a namespace the user
// owns are removed by `netctl clean` (they are owned by the agent
// DaemonSet), the namespace and the user's own Service stay.
func TestReachCleanInUserNamespace(t *testing.T) {
	c := reachCluster(t)
	ns := "reach-user"
	c.kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { c.kubectlErr("delete", "namespace", ns, "--wait=false") })
	c.kubectl(t, "-n", ns, "create", "service", "clusterip", "users-own", "--tcp=80:80")
	_, r := runReach(t, c, "--namespace", ns, "--paths", "clusterip,hairpin", "--qps", "50", "--duration", "2")
	if r.Code != 0 {
		t.Fatalf("reach: exit %d\n%s", r.Code, r.Stderr)
	}
	svcs := c.kubectl(t, "-n", ns, "get", "services,endpointslices", "-l", "app.kubernetes.io/component=reach,app.kubernetes.io/part-of=netdoctor-check", "-o", "name")
	if !strings.Contains(svcs, "service/netdoctor-reach") || !strings.Contains(svcs, "endpointslice.discovery.k8s.io/netdoctor-reach-hp-0-ipv4") {
		t.Fatalf("reach objects not labelled as the check's:\n%s", svcs)
	}
	if cr := netctl(t, t.TempDir(), "clean", "--kubeconfig", c.Kubeconfig); cr.Code != 0 {
		t.Fatalf("clean: exit %d\n%s", cr.Code, cr.Stderr)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		left := strings.TrimSpace(c.kubectl(t, "-n", ns, "get", "services,endpointslices", "-l", "app.kubernetes.io/component=reach", "-o", "name"))
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after clean, reach objects are left:\n%s", left)
		}
		time.Sleep(time.Second)
	}
	c.kubectl(t, "-n", ns, "get", "service", "users-own")
	c.kubectl(t, "get", "namespace", ns)
}

// TestReachFromHere: with --from-here netctl itself is a client (the
// outside vantage point): every node's ETP=Local NodePort is answered by
// that node's agent alone, which sees netctl's own address.
func TestReachFromHere(t *testing.T) {
	c := reachCluster(t)
	doc, r := runReach(t, c, "--paths", "nodeport-local", "--from-here", "--qps", "100", "--duration", "4", "--timeout", "4000", "--auto-clean")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	here := 0
	for _, row := range doc.Results {
		if row.Source.Vantage != "here" {
			continue
		}
		here++
		host, _, _ := strings.Cut(strings.TrimPrefix(row.Address, "["), "]")
		if i := strings.LastIndex(host, ":"); !strings.Contains(row.Address, "[") && i > 0 {
			host = host[:i]
		}
		// The address this host sends from toward the node (a UDP socket
		// only asks the kernel for the route; nothing is sent).
		conn, err := net.Dial("udp", net.JoinHostPort(host, "9"))
		if err != nil {
			t.Fatal(err)
		}
		me := netip.MustParseAddr(conn.LocalAddr().(*net.UDPAddr).IP.String()).Unmap()
		conn.Close()
		if row.Result != "SUCCEEDED" || len(row.Backends.Reached) != 1 || row.Backends.Reached[0].Node != row.TargetNode {
			t.Errorf("want only %s's agent: %s reached %+v", row.TargetNode, row, row.Backends.Reached)
			continue
		}
		for _, a := range row.Backends.Reached[0].ClientAddrs {
			if netip.MustParseAddr(a).Unmap() != me {
				t.Errorf("backend saw client %s, want netctl's %s: %s", a, me, row)
			}
		}
	}
	if want := len(c.Nodes) * 2; here != want {
		t.Errorf("%d rows from here, want %d", here, want)
	}
}

// TestReachIsolatedBackend: with one agent pod cut off (sandbox fault
// isolate), every VIP row misses exactly that backend and its pod IPs fail
// from everywhere: the finding names that backend and its node, and no
// node's kube-proxy or NodePort.
func TestReachIsolatedBackend(t *testing.T) {
	c := reachCluster(t)
	ns := "reach-iso"
	// A first short run deploys the agents the fault is put on.
	if _, r := runReach(t, c, "--namespace", ns, "--paths", "pod", "--qps", "20", "--duration", "1"); r.Code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.Code, r.Stderr)
	}
	t.Cleanup(func() { netctl(t, t.TempDir(), "clean", "--kubeconfig", c.Kubeconfig) })
	victimNode := c.Nodes[2].Name
	victim := agentPod(t, c, ns, victimNode)
	c.fault(t, "isolate", ns+"/"+victim)
	doc, r := runReach(t, c, "--namespace", ns, "--paths", "pod,clusterip,nodeport", "--qps", "200", "--duration", "6", "--timeout", "2000")
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	found := false
	for _, f := range doc.Findings {
		switch f.Kind {
		case "backend-never-reached":
			if f.Target != victim || len(f.Nodes) != 1 || f.Nodes[0] != victimNode {
				t.Errorf("finding names %s on %v, want %s on %s", f.Target, f.Nodes, victim, victimNode)
			}
			found = true
		case "kube-proxy", "nodeport-node":
			t.Errorf("wrong culprit: %s %v: %s", f.Kind, f.Nodes, f.Summary)
		}
	}
	if !found {
		t.Fatalf("no backend-never-reached finding: %+v", doc.Findings)
	}
	for _, row := range doc.Results {
		if row.Path == "pod" && row.TargetNode == victimNode && row.Source.Node != victimNode && row.Result != "FAILED" {
			t.Errorf("pod row to the isolated agent did not fail: %s", row)
		}
	}
}

// TestReachDNSDown: with the cluster DNS dropped on every node (sandbox
// fault dns-down) every DNS row fails, through the Service and at each
// CoreDNS endpoint, while the pod rows work: the finding is dns-down.
func TestReachDNSDown(t *testing.T) {
	c := reachCluster(t)
	c.fault(t, "dns-down")
	doc, r := runReach(t, c, "--paths", "pod,dns", "--qps", "60", "--duration", "3", "--timeout", "1000", "--auto-clean")
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	kinds := map[string]int{}
	for _, f := range doc.Findings {
		kinds[f.Kind]++
	}
	if kinds["dns-down"] != 1 || len(doc.Findings) != 1 {
		t.Errorf("findings %+v, want exactly dns-down", doc.Findings)
	}
	dns := 0
	for _, row := range doc.Results {
		switch {
		case row.Path == "dns":
			dns++
			if row.Result != "FAILED" {
				t.Errorf("dns row did not fail: %s", row)
			}
		case row.Result != "SUCCEEDED":
			t.Errorf("pod row failed: %s", row)
		}
	}
	if want := len(c.Nodes) * (2 + 2*2); dns != want {
		t.Errorf("%d dns rows, want %d", dns, want)
	}
}

// TestReachLoadBalancer: on a cluster with MetalLB (sandbox up
// --load-balancer) the loadbalancer path reaches every endpoint at every
// LB address of both families from every node's agent and, run from the
// sandbox's outside client namespace with --from-here, from outside the
// cluster too; the ETP=Local NodePorts from outside see only their node's
// agent. Needs `netdoctor-sandbox up --load-balancer` and `outside`.
func TestReachLoadBalancer(t *testing.T) {
	c := serviceCluster(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sandboxBin, "outside", "--name", c.Name, "--", netctlBin, "reach", "--kubeconfig", c.Kubeconfig,
		"--image-repository", c.imageRepository(), "-o", "json", "--paths", "pod,loadbalancer,nodeport-local", "--from-here",
		"--qps", "100", "--duration", "5", "--timeout", "3000", "--auto-clean")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("netctl reach in the outside namespace: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var doc reachDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, stdout.String())
	}
	lb := map[string]map[string]bool{} // vantage -> families
	for _, row := range doc.Results {
		if row.Result != "SUCCEEDED" {
			t.Errorf("not succeeded: %s", row)
		}
		if row.Path != "loadbalancer" {
			continue
		}
		if lb[row.Source.Vantage] == nil {
			lb[row.Source.Vantage] = map[string]bool{}
		}
		lb[row.Source.Vantage][row.Family] = true
		if len(row.Backends.Reached) != len(c.Nodes) || len(row.Backends.Expected) != len(c.Nodes) || row.Inconclusive != "" {
			t.Errorf("LB row reached %d of %d backends (%s): %s", len(row.Backends.Reached), len(row.Backends.Expected), row.Inconclusive, row)
		}
	}
	for _, v := range []string{"pod", "here"} {
		if !lb[v]["IPv4"] || !lb[v]["IPv6"] {
			t.Errorf("loadbalancer rows from %s: families %v, want both", v, lb[v])
		}
	}
}

// TestReachIngressGateway: on a cluster with an ingress controller and a
// Gateway (sandbox up --ingress: Traefik, behind MetalLB with
// --load-balancer) the ingress and gateway paths reach every endpoint at
// every address of both families; with the controller down (fault
// ingress-down) both fail while ClusterIP works: path-down for each.
func TestReachIngressGateway(t *testing.T) {
	c := serviceCluster(t)
	doc, r := runReach(t, c, "--paths", "clusterip,ingress,gateway", "--qps", "100", "--duration", "5", "--timeout", "3000")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	t.Cleanup(func() { netctl(t, t.TempDir(), "clean", "--kubeconfig", c.Kubeconfig) })
	fams := map[string]map[string]bool{"ingress": {}, "gateway": {}}
	for _, row := range doc.Results {
		if row.Path == "clusterip" {
			continue
		}
		fams[row.Path][row.Family] = true
		if row.Result != "SUCCEEDED" || len(row.Backends.Reached) != len(c.Nodes) || row.Inconclusive != "" {
			t.Errorf("want every agent answering: %s reached %d", row, len(row.Backends.Reached))
		}
	}
	for p, f := range fams {
		if !f["IPv4"] || !f["IPv6"] {
			t.Errorf("%s rows in families %v, want both", p, f)
		}
	}
	c.fault(t, "ingress-down")
	doc, r = runReach(t, c, "--paths", "clusterip,ingress,gateway", "--qps", "60", "--duration", "3", "--timeout", "2000")
	if r.Code != 1 {
		t.Fatalf("ingress-down: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	down := map[string]bool{}
	for _, f := range doc.Findings {
		if f.Kind == "path-down" {
			down[f.Target] = true
		}
	}
	if !down["ingress"] || !down["gateway"] || len(doc.Findings) != 2 {
		t.Errorf("findings %+v, want path-down for ingress and gateway only", doc.Findings)
	}
}

// TestReachMultus: agents given a macvlan network on the sandbox's second
// segment (--multus-networks) are reached at their secondary IPs, read
// from network-status, in both families. Needs `netdoctor-sandbox up
// --multus` (the sandbox's Multus model).
func TestReachMultus(t *testing.T) {
	c := serviceCluster(t)
	var st struct {
		Segment struct {
			Ranges []string `json:"ranges"`
		} `json:"segment"`
	}
	out, err := sandbox(time.Minute, "status", "--name", c.Name, "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Segment.Ranges) != 2 {
		t.Fatalf("sandbox status has no second segment (%v):\n%s", err, out)
	}
	ns := "reach-multus"
	c.kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { c.kubectlErr("delete", "namespace", ns, "--wait=false") })
	applyJSON(t, c, fmt.Sprintf(`{"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition","metadata":{"name":"macvlan-a","namespace":%q},
"spec":{"config":"{\"cniVersion\":\"0.3.1\",\"type\":\"macvlan\",\"master\":\"eth1\",\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"%s\"}],[{\"subnet\":\"%s\"}]]}}"}}`,
		ns, st.Segment.Ranges[0], st.Segment.Ranges[1]))
	doc, r := runReach(t, c, "--namespace", ns, "--paths", "multus", "--multus-networks", "macvlan-a", "--qps", "60", "--duration", "4", "--timeout", "3000")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	t.Cleanup(func() { netctl(t, t.TempDir(), "clean", "--kubeconfig", c.Kubeconfig) })
	seg := []netip.Prefix{netip.MustParsePrefix(st.Segment.Ranges[0]), netip.MustParsePrefix(st.Segment.Ranges[1])}
	fams := map[string]int{}
	for _, row := range doc.Results {
		host := strings.Trim(row.Address[:strings.LastIndex(row.Address, ":")], "[]")
		ip := netip.MustParseAddr(host)
		if !seg[0].Contains(ip) && !seg[1].Contains(ip) {
			t.Errorf("multus target %s is not on the second segment %v", ip, seg)
		}
		if row.Result != "SUCCEEDED" || len(row.Backends.Reached) != 1 || row.Backends.Reached[0].Node != row.TargetNode {
			t.Errorf("want the agent on %s: %s reached %+v", row.TargetNode, row, row.Backends.Reached)
		}
		fams[row.Family]++
	}
	n := len(c.Nodes)
	if fams["IPv4"] != n*n || fams["IPv6"] != n*n {
		t.Errorf("rows per family %v, want %d each (every agent's secondary IP from every node)", fams, n*n)
	}
}

// TestReachPermissionDenied: a user whose RBAC grants everything reach
// needs except `create services` gets exit 2 before anything exists: the
// message names the verb, the resource, the namespace and the rule to
// grant, and the namespace holds no object of netctl's. The user is a real
// ServiceAccount with a real token: the API server's RBAC answers the
// SelfSubjectAccessReviews.
func TestReachPermissionDenied(t *testing.T) {
	c := reachCluster(t)
	ns := "e2e-reach-rbac"
	cr := prefixed("e2e-reach-rbac")
	t.Cleanup(func() {
		c.kubectlErr("delete", "namespace", ns, "--ignore-not-found", "--wait=false")
		c.kubectlErr("delete", "clusterrolebinding,clusterrole", cr, "--ignore-not-found")
	})
	c.kubectl(t, "create", "namespace", ns)
	c.kubectl(t, "-n", ns, "create", "serviceaccount", "limited")
	// Everything but create on services (RBAC only adds rights: the Role
	// lists what it grants).
	manifest := fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: limited, namespace: %[1]s}
rules:
- apiGroups: [""]
  resources: [serviceaccounts, secrets, pods, pods/proxy, pods/portforward, events, configmaps]
  verbs: ["*"]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, update, patch, delete]
- apiGroups: [apps]
  resources: [daemonsets]
  verbs: ["*"]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: ["*"]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: ["*"]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: limited, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: limited}
subjects: [{kind: ServiceAccount, name: limited, namespace: %[1]s}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %[2]s}
rules:
- apiGroups: [""]
  resources: [namespaces, nodes, services]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingressclasses]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[2]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[2]s}
subjects: [{kind: ServiceAccount, name: limited, namespace: %[1]s}]
`, ns, cr)
	dir := t.TempDir()
	mf := filepath.Join(dir, "rbac.yaml")
	if err := os.WriteFile(mf, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", mf)
	kc := restrictedKubeconfig(t, c, dir, ns, "limited")

	r := netctl(t, dir, "reach", "--kubeconfig", kc, "--namespace", ns, "--image-repository", c.imageRepository(),
		"--duration", "2", "--auto-clean")
	if r.Code != 2 {
		t.Fatalf("reach without create services: exit %d, want 2\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{
		fmt.Sprintf(`system:serviceaccount:%s:limited" cannot create services in namespace %q`, ns, ns),
		"nothing was created", fmt.Sprintf("a Role in namespace %q", ns), `resources: ["services"]`, `verbs: ["create"]`,
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("message lacks %q:\n%s", want, r.Stderr)
		}
	}
	// Only what the test itself made is in the namespace.
	left := strings.Fields(c.kubectl(t, "-n", ns, "get", "daemonsets,services,secrets,serviceaccounts,ingresses,endpointslices,networkpolicies,pods", "-o", "name"))
	for _, o := range left {
		if o != "serviceaccount/default" && o != "serviceaccount/limited" {
			t.Errorf("object in %s after the denied run: %s", ns, o)
		}
	}
	if routes, err := c.kubectlErr("-n", ns, "get", "httproutes.gateway.networking.k8s.io", "-o", "name"); err == nil && strings.TrimSpace(routes) != "" {
		t.Errorf("HTTPRoutes in %s after the denied run: %s", ns, routes)
	}
}

// restrictedKubeconfig writes a kubeconfig for ServiceAccount ns/sa: the
// cluster's server and CA, a TokenRequest token (kubectl create token).
func restrictedKubeconfig(t *testing.T, c *cluster, dir, ns, sa string) string {
	t.Helper()
	token := strings.TrimSpace(c.kubectl(t, "-n", ns, "create", "token", sa, "--duration", "1h"))
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
				CA     string `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	c.kubectlJSON(t, &cfg, "config", "view", "--raw", "--minify", "--flatten")
	if len(cfg.Clusters) != 1 || cfg.Clusters[0].Cluster.Server == "" {
		t.Fatalf("kubeconfig %s: no cluster server", c.Kubeconfig)
	}
	cl := cfg.Clusters[0].Cluster
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, certificate-authority-data: %q}}]
users: [{name: %s, user: {token: %q}}]
contexts: [{name: c, context: {cluster: c, user: %s, namespace: %s}}]
current-context: c
`, cl.Server, cl.CA, sa, token, sa, ns)
	path := filepath.Join(dir, sa+".kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
