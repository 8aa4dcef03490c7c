package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/netpol"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// npPod is one pod of the NetworkPolicy test: where it runs, its addresses
// ([v4, v6]) and its network namespace.
type npPod struct {
	name, node, netns string
	ips               []string
}

// npProbe is one connection attempt: from a pod to a pod's port, with a
// protocol and an address family (0 = IPv4, 1 = IPv6).
type npProbe struct {
	from, to string
	port     int
	proto    string
	family   int
}

func (p npProbe) String() string {
	return fmt.Sprintf("%s->%s:%d/%s/v%d", p.from, p.to, p.port, p.proto, []int{4, 6}[p.family])
}

const npNamespace = "nptest"

// Ports every server pod listens on (one echo container each, TCP and UDP).
var npPorts = []int{8080, 9090}

// TestNetworkPolicy brings up its own dual-stack cluster with
// --network-policy (kube-router's firewall controller in every node) and
// checks that NetworkPolicies are enforced exactly: default-deny ingress
// blocks TCP and UDP over both families, cross-node and same-node; an allow
// policy opens exactly its pods, sources and port; egress default-deny
// blocks outbound and an egress allow opens exactly its target; deleting the
// policies restores everything; `down` leaves no kube-router running.
func TestNetworkPolicy(t *testing.T) {
	need(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2enp"
	sandbox("down", "--name", name)
	t0 := time.Now()
	r := sandbox("up", "--name", name, "--nodes", "3", "--ip-family", "dual", "--network-policy", "--timeout", "4m")
	if r.code != 0 {
		t.Fatalf("up --network-policy: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("up --network-policy (3 nodes, dual) in %s", time.Since(t0).Round(100*time.Millisecond))
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			sandbox("down", "--name", name)
		}
	})
	s, err := state.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if s.NetworkPolicy != netpol.Engine {
		t.Errorf("state networkPolicy %q, want %q", s.NetworkPolicy, netpol.Engine)
	}
	var routerPIDs []int
	for _, p := range s.Processes {
		if strings.HasPrefix(p.Name, netpol.ProcessPrefix) {
			routerPIDs = append(routerPIDs, p.PID)
			// Each runs inside its node's namespace, never in the host's.
			node := strings.TrimPrefix(p.Name, netpol.ProcessPrefix)
			if !samePIDNetns(p.PID, "/run/netns/"+s.Nodes[nodeIndex(s, node)].Netns) {
				t.Errorf("kube-router of %s (pid %d) is not in its node's network namespace", node, p.PID)
			}
		}
	}
	if len(routerPIDs) != len(s.Nodes) {
		t.Fatalf("%d kube-router processes in the state, want one per node (%d)", len(routerPIDs), len(s.Nodes))
	}
	c, err := cluster.Client(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// srv-a and cli-1 share node 0 (same-node traffic), srv-b is on node 1,
	// cli-2 on node 2, stranger on node 1 (cross-node traffic).
	pods := npDeploy(t, ctx, c, s, []npSpec{
		{"srv-a", 0, map[string]string{"app": "srv-a", "role": "server"}},
		{"srv-b", 1, map[string]string{"app": "srv-b", "role": "server"}},
		{"cli-1", 0, map[string]string{"app": "cli-1", "role": "client"}},
		{"cli-2", 2, map[string]string{"app": "cli-2", "role": "client"}},
		{"stranger", 1, map[string]string{"app": "stranger", "role": "other"}},
	})
	var all []npProbe
	for _, from := range []string{"cli-1", "cli-2", "stranger"} {
		for _, to := range []string{"srv-a", "srv-b"} {
			for _, port := range npPorts {
				for _, proto := range []string{"tcp", "udp"} {
					for f := 0; f < 2; f++ {
						all = append(all, npProbe{from, to, port, proto, f})
					}
				}
			}
		}
	}
	open := func(pred func(npProbe) bool) map[npProbe]bool {
		m := map[npProbe]bool{}
		for _, p := range all {
			m[p] = pred(p)
		}
		return m
	}
	everything := func(npProbe) bool { return true }

	t.Run("no policy: everything connects", func(t *testing.T) {
		npExpect(t, pods, open(everything), 60*time.Second)
	})

	np := c.NetworkingV1().NetworkPolicies(npNamespace)
	create := func(t *testing.T, p *networkingv1.NetworkPolicy) {
		t.Helper()
		if _, err := np.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	del := func(t *testing.T, names ...string) {
		t.Helper()
		for _, n := range names {
			if err := np.Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port8080 := intstr.FromInt32(8080)
	ports8080 := []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port8080}, {Protocol: &udp, Port: &port8080}}

	t.Run("default-deny ingress blocks TCP and UDP, both families, same- and cross-node", func(t *testing.T) {
		create(t, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "deny-ingress"},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
		})
		npExpect(t, pods, open(func(npProbe) bool { return false }), 60*time.Second)
	})

	t.Run("ingress allow opens exactly its pod, sources and port", func(t *testing.T) {
		// srv-a accepts 8080 (TCP and UDP) from role=client pods; nothing else opens.
		create(t, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "allow-clients-to-srv-a-8080"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "srv-a"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
					Ports: ports8080,
				}},
			},
		})
		npExpect(t, pods, open(func(p npProbe) bool {
			return p.to == "srv-a" && p.port == 8080 && p.from != "stranger"
		}), 60*time.Second)
	})

	t.Run("egress default-deny blocks outbound; egress allow opens exactly its target", func(t *testing.T) {
		del(t, "deny-ingress", "allow-clients-to-srv-a-8080")
		npExpect(t, pods, open(everything), 60*time.Second)
		create(t, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "deny-egress"},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}},
		})
		npExpect(t, pods, open(func(npProbe) bool { return false }), 60*time.Second)
		// cli-1 may reach srv-b (another node) on 8080, TCP and UDP; nothing else.
		create(t, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "allow-cli-1-to-srv-b-8080"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "cli-1"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "srv-b"}}}},
					Ports: ports8080,
				}},
			},
		})
		npExpect(t, pods, open(func(p npProbe) bool {
			return p.from == "cli-1" && p.to == "srv-b" && p.port == 8080
		}), 60*time.Second)

		// A pod created now, under both policies (the allow selects it by
		// app=cli-1), is admitted within seconds: v2.1.0 rejected its IPv6
		// neighbour solicitations (its gateway stayed FAILED, so IPv6 timed
		// out), and let one family's ipset restore put the other family's
		// sets back to the previous sync, so it was missing from the
		// policy's IPv4 or IPv6 sets on some nodes until a later sync.
		late := npDeploy(t, ctx, c, s, []npSpec{{"cli-late", 2, map[string]string{"app": "cli-1", "role": "late"}}})["cli-late"]
		withLate := map[string]npPod{"cli-late": late}
		for n, p := range pods {
			withLate[n] = p
		}
		lateOpen := map[npProbe]bool{}
		for _, proto := range []string{"tcp", "udp"} {
			for f := 0; f < 2; f++ {
				lateOpen[npProbe{"cli-late", "srv-b", 8080, proto, f}] = true
			}
		}
		npExpect(t, withLate, lateOpen, 15*time.Second)
		for _, n := range s.Nodes {
			out, err := exec.Command("ip", "netns", "exec", n.Netns, "ipset", "save").CombinedOutput()
			if err != nil {
				t.Fatalf("ipset save in %s: %v: %s", n.Netns, err, out)
			}
			for _, ip := range late.ips {
				if !strings.Contains(string(out), " "+ip+" ") {
					t.Errorf("%s: pod cli-late's %s is in no ipset of the policies", n.Netns, ip)
				}
			}
		}
	})

	t.Run("deleting the policies restores everything", func(t *testing.T) {
		del(t, "deny-egress", "allow-cli-1-to-srv-b-8080")
		npExpect(t, pods, open(everything), 60*time.Second)
		// kube-router removes the policies' ipsets of both families (v2.1.0
		// leaked the IPv6 ones; see hack/kube-router-v2.1.0.patch).
		deadline := time.Now().Add(30 * time.Second)
		for {
			var left []string
			for _, n := range s.Nodes {
				out, err := exec.Command("ip", "netns", "exec", n.Netns, "ipset", "list", "-n").CombinedOutput()
				if err != nil {
					t.Fatalf("ipset list in %s: %v: %s", n.Netns, err, out)
				}
				for _, set := range strings.Fields(string(out)) {
					if strings.Contains(set, "KUBE-SRC-") || strings.Contains(set, "KUBE-DST-") {
						left = append(left, n.Netns+":"+set)
					}
				}
			}
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("policy ipsets left 30s after the last policy went: %v", left)
			}
			time.Sleep(time.Second)
		}
	})

	t.Run("kube-router synced without errors", func(t *testing.T) {
		// A failed iptables-restore or ipset restore aborts a sync and leaves
		// stale rules behind (v2.1.0's IPv6 ipset names did exactly that).
		for _, p := range s.Processes {
			if !strings.HasPrefix(p.Name, netpol.ProcessPrefix) {
				continue
			}
			b, err := os.ReadFile(p.Log)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "Aborting sync") || strings.Contains(line, "Failed to") || strings.HasPrefix(line, "panic") {
					t.Errorf("%s: %s", p.Name, line)
				}
			}
			if !strings.Contains(string(b), "sync iptables took") {
				t.Errorf("%s: no completed sync in %s", p.Name, p.Log)
			}
		}
	})

	t.Run("down stops every kube-router", func(t *testing.T) {
		t0 := time.Now()
		mustSandbox(t, "down", "--name", name)
		downDone = true
		t.Logf("down in %s", time.Since(t0).Round(100*time.Millisecond))
		for _, pid := range routerPIDs {
			if controlplane.Alive(pid) {
				t.Errorf("kube-router pid %d still running: %s", pid, controlplane.Cmdline(pid))
			}
		}
		// No process anywhere still runs with this cluster's kube-router kubeconfig.
		kc := s.Dir + "/" + netpol.KubeconfigFile
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			var pid int
			if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
				continue
			}
			if cl := controlplane.Cmdline(pid); strings.Contains(cl, kc) && controlplane.Alive(pid) {
				t.Errorf("process %d still runs with %s: %s", pid, kc, cl)
			}
		}
		assertGone(t, s, routerPIDs)
	})
}

// TestNetworkPolicyBadInput: a missing kube-router binary or a stray
// --kube-router-binary exit 2 naming the flag (and the make target), and
// create nothing.
func TestNetworkPolicyBadInput(t *testing.T) {
	need(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2enpbad"
	upBadInput(t, name, []string{"--network-policy", "--kube-router-binary", "/nonexistent/kube-router"}, "--network-policy", "make sandbox-kube-router")
	upBadInput(t, name, []string{"--kube-router-binary", "/nonexistent/kube-router"}, "--kube-router-binary needs --network-policy")
}

type npSpec struct {
	name   string
	node   int
	labels map[string]string
}

// npDeploy creates the test namespace (unless it exists) and one pod per
// spec pinned to its node, each with an echo container per port, and waits
// until they are Ready.
func npDeploy(t *testing.T, ctx context.Context, c kubernetes.Interface, s *state.State, specs []npSpec) map[string]npPod {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: npNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	wanted := map[string]bool{}
	for _, sp := range specs {
		wanted[sp.name] = true
		var ctrs []corev1.Container
		for _, port := range npPorts {
			ctrs = append(ctrs, corev1.Container{
				Name: fmt.Sprintf("echo-%d", port), Image: "sandbox.local/echo:v1",
				Args: []string{"echo-server", fmt.Sprintf("--port=%d", port)},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/healthz", Port: intstr.FromInt32(int32(port))}}, PeriodSeconds: 1},
			})
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: sp.name, Labels: sp.labels},
			Spec:       corev1.PodSpec{NodeName: s.Nodes[sp.node].Name, Containers: ctrs},
		}
		if _, err := c.CoreV1().Pods(npNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]npPod{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		list, err := c.CoreV1().Pods(npNamespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range list.Items {
				ready := false
				for _, cond := range p.Status.Conditions {
					ready = ready || (cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue)
				}
				if wanted[p.Name] && ready && len(p.Status.PodIPs) == 2 {
					out[p.Name] = npPod{name: p.Name, node: p.Spec.NodeName, ips: podIPs(p)}
				}
			}
		}
		if len(out) == len(specs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d test pods Ready with two addresses after 90s (%v)", len(out), len(specs), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	nss, err := cluster.Namespaces(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		b, err := exec.Command("ip", "-n", ns, "-o", "addr", "show").Output()
		if err != nil {
			continue
		}
		for n, p := range out {
			if strings.Contains(string(b), " "+p.ips[0]+"/") {
				p.netns = ns
				out[n] = p
			}
		}
	}
	for n, p := range out {
		if p.netns == "" {
			t.Fatalf("network namespace of pod %s (%v) not found", n, p.ips)
		}
	}
	return out
}

// npRun runs one probe: an HTTP GET for TCP, an echo round trip for UDP.
func npRun(pods map[string]npPod, p npProbe) error {
	from, to := pods[p.from], pods[p.to]
	addr := hostPort(to.ips[p.family], p.port)
	if p.proto == "udp" {
		return udpEcho(from.netns, addr, 64)
	}
	return httpGet(from.netns, addr)
}

// npExpect probes the matrix until every probe gives the wanted result
// (true = connects, false = blocked) or the timeout passes (kube-router
// applies policy changes asynchronously), then reports every mismatch. A
// probe expected to connect gets two tries per round, so one lost packet
// does not count as "blocked".
func npExpect(t *testing.T, pods map[string]npPod, want map[npProbe]bool, timeout time.Duration) {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(timeout)
	for round := 1; ; round++ {
		var mu sync.Mutex
		var wrong []string
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for p, ok := range want {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				err := npRun(pods, p)
				if err != nil && ok {
					err = npRun(pods, p)
				}
				if (err == nil) != ok {
					mu.Lock()
					defer mu.Unlock()
					if ok {
						wrong = append(wrong, fmt.Sprintf("%s blocked, want open: %v", p, err))
					} else {
						wrong = append(wrong, fmt.Sprintf("%s open, want blocked", p))
					}
				}
			}()
		}
		wg.Wait()
		if len(wrong) == 0 {
			opened := 0
			for _, ok := range want {
				if ok {
					opened++
				}
			}
			t.Logf("%d probes as expected (%d open, %d blocked) after %s (%d rounds)", len(want), opened, len(want)-opened, time.Since(t0).Round(100*time.Millisecond), round)
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(wrong)
			t.Fatalf("after %s, %d of %d probes wrong:\n%s", timeout, len(wrong), len(want), strings.Join(wrong, "\n"))
		}
		time.Sleep(time.Second)
	}
}

func nodeIndex(s *state.State, node string) int {
	for i, n := range s.Nodes {
		if n.Name == node {
			return i
		}
	}
	return 0
}

// samePIDNetns reports whether pid's network namespace is the one at path.
func samePIDNetns(pid int, path string) bool {
	var a, b unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
