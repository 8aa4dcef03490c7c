package e2e

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

func TestNetworkSafetyGuards(t *testing.T) {
	need(t)
	guardsHold(t, st)
	// A node has no default route: the outside world is unreachable from it.
	if err := ping(st.Nodes[0].Netns, "192.0.2.1"); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("ping outside from a node: %v, want Network is unreachable", err)
	}
	if err := ping(podNetns[echoPods[0].Name], "192.0.2.1"); err == nil {
		t.Errorf("ping outside from a pod succeeded")
	}
}

func TestNodesReadyWithAddressesAndLabels(t *testing.T) {
	need(t)
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != len(st.Nodes) {
		t.Fatalf("%d nodes, want %d", len(nodes.Items), len(st.Nodes))
	}
	zones := map[string]bool{}
	for _, want := range st.Nodes {
		var n *corev1.Node
		for i := range nodes.Items {
			if nodes.Items[i].Name == want.Name {
				n = &nodes.Items[i]
			}
		}
		if n == nil {
			t.Errorf("node %s missing", want.Name)
			continue
		}
		var ips []string
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				t.Errorf("node %s: address type %s (only InternalIP allowed)", n.Name, a.Type)
			}
			ips = append(ips, a.Address)
		}
		if strings.Join(ips, ",") != strings.Join(want.IPs, ",") {
			t.Errorf("node %s: InternalIPs %v, want %v", n.Name, ips, want.IPs)
		}
		if strings.Join(n.Spec.PodCIDRs, ",") != strings.Join(want.PodCIDRs, ",") {
			t.Errorf("node %s: podCIDRs %v, want %v", n.Name, n.Spec.PodCIDRs, want.PodCIDRs)
		}
		if n.Labels["kubernetes.io/hostname"] != n.Name || n.Labels["topology.kubernetes.io/zone"] != want.Zone {
			t.Errorf("node %s: labels %v", n.Name, n.Labels)
		}
		zones[want.Zone] = true
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("node %s not Ready", n.Name)
		}
	}
	if len(zones) != 2 {
		t.Errorf("nodes spread over %d zones, want 2", len(zones))
	}
}

func TestDaemonSetPodPerNodeWithNodeAddresses(t *testing.T) {
	need(t)
	for i, p := range echoPods {
		n := st.Nodes[i]
		ips := podIPs(p)
		if len(ips) != 2 {
			t.Errorf("pod %s: podIPs %v, want one per family", p.Name, ips)
			continue
		}
		for f, ip := range ips {
			if !netip.MustParsePrefix(n.PodCIDRs[f]).Contains(netip.MustParseAddr(ip)) {
				t.Errorf("pod %s on %s: IP %s outside the node's pod CIDR %s", p.Name, n.Name, ip, n.PodCIDRs[f])
			}
		}
	}
}

// reach probes dst from src's netns with proto over family f (0 v4, 1 v6).
func reach(src, dst corev1.Pod, proto string, f int) error {
	ns := podNetns[src.Name]
	ip := podIPs(dst)[f]
	switch proto {
	case "tcp":
		return httpGet(ns, hostPort(ip, echoPort))
	case "udp":
		return udpEcho(ns, hostPort(ip, echoPort), 64)
	default:
		return ping(ns, ip)
	}
}

func TestPodToPodAcrossNodesBothFamilies(t *testing.T) {
	need(t)
	for _, proto := range []string{"tcp", "udp", "icmp"} {
		for f := 0; f < 2; f++ {
			for i, src := range echoPods {
				for j, dst := range echoPods {
					if i == j {
						continue
					}
					if err := reach(src, dst, proto, f); err != nil {
						t.Errorf("%s %s -> %s (family %d): %v", proto, src.Spec.NodeName, dst.Spec.NodeName, f, err)
					}
				}
			}
		}
	}
}

func TestClusterIPAndNodePort(t *testing.T) {
	need(t)
	(&echoEnv{st: st, client: client, pods: echoPods, netns: podNetns}).checkServices(t)
}

// checkServices checks the echo Services: ClusterIP from every pod and from
// a node, NodePort of every other node from a node and from a pod, both families.
func (e *echoEnv) checkServices(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for f := 0; f < 2; f++ {
		vip := e.svcIP(ctx, "echo", f)
		for _, p := range e.pods {
			if err := httpGet(e.netns[p.Name], hostPort(vip, 80)); err != nil {
				t.Errorf("ClusterIP %s from pod on %s: %v", vip, p.Spec.NodeName, err)
			}
		}
		// From a node itself (the node's route for the Service range meets kube-proxy's DNAT).
		if err := httpGet(e.st.Nodes[0].Netns, hostPort(vip, 80)); err != nil {
			t.Errorf("ClusterIP %s from node %s: %v", vip, e.st.Nodes[0].Name, err)
		}
		for _, n := range e.st.Nodes[1:] {
			if err := httpGet(e.st.Nodes[0].Netns, hostPort(n.IPs[f], 30080)); err != nil {
				t.Errorf("NodePort %s:30080 from node %s: %v", n.IPs[f], e.st.Nodes[0].Name, err)
			}
			if err := httpGet(e.netns[e.pods[0].Name], hostPort(n.IPs[f], 30080)); err != nil {
				t.Errorf("NodePort %s:30080 from a pod: %v", n.IPs[f], err)
			}
		}
	}
}

func TestClusterDNS(t *testing.T) {
	need(t)
	ctx := context.Background()
	ns := podNetns[echoPods[1].Name]
	for _, server := range st.DNSIPs {
		got, err := dig(ns, server, "kubernetes.default.svc.cluster.local", "A")
		if err != nil || got != st.ServiceIP(1)[0] {
			t.Errorf("@%s kubernetes.default A = %q, %v; want %s", server, got, err, st.ServiceIP(1)[0])
		}
		got, err = dig(ns, server, "echo.default.svc.cluster.local", "AAAA")
		if want := svcIP(ctx, "echo", 1); err != nil || netip.MustParseAddr(strings.TrimSpace(got)) != netip.MustParseAddr(want) {
			t.Errorf("@%s echo.default AAAA = %q, %v; want %s", server, got, err, want)
		}
	}
	// Search path from the pod's resolv.conf: the short name resolves.
	out, err := kubectl("exec", echoPods[1].Name, "--", "getent", "hosts", "kubernetes")
	if err != nil || !strings.Contains(out, st.ServiceIP(1)[0]) {
		t.Errorf("getent hosts kubernetes in pod: %q %v", out, err)
	}
	// No forwarding: outside names are not resolved (and never leave).
	if got, _ := dig(ns, st.DNSIPs[0], "example.com", "A"); got != "" {
		t.Errorf("example.com resolved to %q; the sandbox DNS must not forward", got)
	}
}

func kubectl(args ...string) (string, error) {
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", st.Kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

func TestExecLogsAndPodProxy(t *testing.T) {
	need(t)
	p := echoPods[2]
	out, err := kubectl("exec", p.Name, "--", "hostname")
	if err != nil || strings.TrimSpace(out) != p.Name {
		t.Errorf("kubectl exec hostname = %q, %v; want %s", out, err, p.Name)
	}
	out, err = kubectl("logs", p.Name)
	if err != nil || !strings.Contains(out, "echo-server: http and udp echo") {
		t.Errorf("kubectl logs = %q, %v", out, err)
	}
	b, err := client.CoreV1().Pods("default").ProxyGet("http", p.Name, "8080", "/", nil).DoRaw(context.Background())
	if err != nil || !strings.Contains(string(b), p.Name) {
		t.Errorf("API server pod proxy: %q, %v", b, err)
	}
}

func TestBadInputExitCode2(t *testing.T) {
	need(t)
	cases := map[string][]string{
		"bad name":      {"up", "--name", "Bad_Name", "--nodes", "2"},
		"zero nodes":    {"up", "--name", "zz", "--nodes", "0"},
		"bad family":    {"up", "--name", "zz", "--ip-family", "ipv5"},
		"existing":      {"up", "--name", clusterName},
		"unknown fault": {"fault", "add", "--name", clusterName, "explode"},
		"unknown node":  {"fault", "add", "--name", clusterName, "link", st.Nodes[0].Name, "nope"},
		"no cluster":    {"status", "--name", "absent"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := sandbox(args...)
			if r.code != 2 || !strings.Contains(r.stderr, "error:") {
				t.Errorf("exit %d, stderr %q; want 2 with an error", r.code, r.stderr)
			}
		})
	}
	if _, err := os.Stat(state.Dir("zz")); err == nil {
		t.Errorf("bad input left %s behind", state.Dir("zz"))
	}
	s, _ := state.Load(clusterName)
	if len(s.Faults) != 0 {
		t.Errorf("a rejected fault was recorded: %v", s.Faults)
	}
}

// TestSecondClusterPeeringAndDown runs a second cluster next to the shared
// one, peers them, then tears it down and checks nothing is left.
func TestSecondClusterPeeringAndDown(t *testing.T) {
	need(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2epeer"
	sandbox("down", "--name", name)
	t0 := time.Now()
	out := mustSandbox(t, "up", "--name", name, "--nodes", "2", "--ip-family", "dual", "--peer", clusterName)
	t.Logf("second cluster up in %s: %s", time.Since(t0).Round(time.Millisecond), strings.TrimSpace(out))
	s2, err := state.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Slot == st.Slot {
		t.Fatalf("both clusters got slot %d", s2.Slot)
	}
	guardsHold(t, s2)
	guardsHold(t, st)
	// Peering: the new cluster's node reaches the shared cluster's pods and nodes.
	for f := 0; f < 2; f++ {
		if err := httpGet(s2.Nodes[0].Netns, hostPort(podIPs(echoPods[3])[f], echoPort)); err != nil {
			t.Errorf("peered node -> pod %s: %v", podIPs(echoPods[3])[f], err)
		}
		if err := ping(st.Nodes[1].Netns, s2.Nodes[1].IPs[f]); err != nil {
			t.Errorf("shared cluster node -> peered node %s: %v", s2.Nodes[1].IPs[f], err)
		}
	}
	var pids []int
	for _, p := range s2.Processes {
		pids = append(pids, p.PID)
	}
	t0 = time.Now()
	mustSandbox(t, "down", "--name", name)
	t.Logf("down in %s", time.Since(t0).Round(time.Millisecond))
	assertGone(t, s2, pids)
	guardsHold(t, st)
	// The shared cluster lost its routes to the peer but still works.
	out2, _ := exec.Command("ip", "-n", st.Nodes[0].Netns, "route").Output()
	if strings.Contains(string(out2), s2.NodeNets[0]) {
		t.Errorf("peer route left in %s:\n%s", st.Nodes[0].Netns, out2)
	}
	if err := reach(echoPods[0], echoPods[1], "tcp", 0); err != nil {
		t.Errorf("shared cluster broken after the peer went down: %v", err)
	}
}

// assertGone checks a cluster left no namespace, link, route, process or file.
func assertGone(t *testing.T, s *state.State, pids []int) {
	t.Helper()
	if nss, _ := cluster.Namespaces(s.Name); len(nss) > 0 {
		t.Errorf("namespaces left: %v", nss)
	}
	for _, p := range pids {
		if controlplane.Alive(p) {
			t.Errorf("process %d (%s) still running", p, controlplane.Cmdline(p))
		}
	}
	if _, err := os.Stat("/sys/class/net/" + s.Bridge); err == nil {
		t.Errorf("bridge %s left", s.Bridge)
	}
	for _, fam := range []string{"-4", "-6"} {
		out, _ := exec.Command("ip", fam, "route", "show", "table", "all").Output()
		var ranges []string
		ranges = append(ranges, s.Guards...)
		ranges = append(ranges, s.ClusterCIDR...)
		ranges = append(ranges, s.NodeNets...)
		for _, n := range s.Nodes {
			ranges = append(ranges, n.PodCIDRs...)
		}
		for _, line := range strings.Split(string(out), "\n") {
			for _, r := range ranges {
				if strings.Contains(" "+line+" ", " "+r+" ") {
					t.Errorf("route for %s left: %s", r, line)
				}
			}
		}
	}
	if _, err := os.Stat(state.Dir(s.Name)); err == nil {
		t.Errorf("state dir %s left", state.Dir(s.Name))
	}
	if _, err := os.Stat("/run/netns/" + s.Nodes[0].Netns); err == nil {
		t.Errorf("netns %s left", s.Nodes[0].Netns)
	}
}
