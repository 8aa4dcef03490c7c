package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// lbName is the cluster of the LoadBalancer tests (up --load-balancer).
var lbName = os.Getenv("NETDOCTOR_E2E_PREFIX") + "lb"

// echoAnswer is the echo server's JSON reply (the test's own type).
type echoAnswer struct {
	Pod    string `json:"pod"`
	Node   string `json:"node"`
	Client string `json:"client"`
}

// getEcho does GET http://addr/ from inside netns and decodes the answer.
func getEcho(netns, addr string) (echoAnswer, error) {
	var a echoAnswer
	b, err := httpBody(netns, addr)
	if err == nil {
		err = json.Unmarshal(b, &a)
	}
	return a, err
}

// neighMAC is the MAC the outside namespace resolved ip to ("" if none).
func neighMAC(netns, ip string) string {
	out, _ := exec.Command("ip", "-n", netns, "neigh", "show", ip).Output()
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

// nodeByMAC maps the MAC of each node's eth0 to the node name.
func nodeByMAC(t *testing.T, s *state.State) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, n := range s.Nodes {
		out, err := exec.Command("ip", "-n", n.Netns, "-o", "link", "show", "eth0").Output()
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(out))
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "link/ether" {
				m[f[i+1]] = n.Name
			}
		}
	}
	return m
}

// lbService creates a dual-stack LoadBalancer Service over the lb=web pods
// and waits for one address per family from the pools.
func lbService(t *testing.T, s *state.State, name string, etp corev1.ServiceExternalTrafficPolicy) []string {
	t.Helper()
	ctx := context.Background()
	c, err := cluster.Client(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dual := corev1.IPFamilyPolicyRequireDualStack
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, IPFamilyPolicy: &dual, ExternalTrafficPolicy: etp,
		Selector: map[string]string{"lb": "web"},
		Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(echoPort)}},
	}}
	if _, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && len(got.Status.LoadBalancer.Ingress) == 2 {
			var ips []string
			for i, ing := range got.Status.LoadBalancer.Ingress {
				a := netip.MustParseAddr(ing.IP)
				if !netip.MustParsePrefix(s.LoadBalancer.Pools[i]).Contains(a) {
					t.Fatalf("service %s: address %s outside pool %s", name, a, s.LoadBalancer.Pools[i])
				}
				ips = append(ips, ing.IP)
			}
			return ips
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: no address of each family after 30s: %v %+v", name, err, got.Status)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// servedBy GETs vip:80 from the outside namespace until it has seen want
// distinct backends (or tries run out) and returns pod -> answer.
func servedBy(t *testing.T, netns, vip string, want, tries int) map[string]echoAnswer {
	t.Helper()
	seen := map[string]echoAnswer{}
	var last error
	for i := 0; i < tries && len(seen) < want; i++ {
		a, err := getEcho(netns, hostPort(vip, 80))
		if err != nil {
			last = err
			time.Sleep(300 * time.Millisecond)
			continue
		}
		seen[a.Pod] = a
	}
	if len(seen) < want {
		t.Fatalf("GET %s from the outside: %d backends answered (%v), want %d; last error: %v", vip, len(seen), seen, want, last)
	}
	return seen
}

// TestLoadBalancer brings up a dual-stack cluster with --load-balancer and
// checks MetalLB from the outside namespace: a 2-backend Service on both
// families, externalTrafficPolicy Local (announced only where an endpoint
// runs, client address preserved), the lb-speaker-stop fault (the VIP moves
// to another node, as MetalLB's memberlist does, and comes back), the
// outside namespace's routes and `outside` command, and a clean down.
func TestLoadBalancer(t *testing.T) {
	needOwnCluster(t)
	sandbox("down", "--name", lbName)
	mustSandbox(t, "up", "--name", lbName, "--nodes", "3", "--ip-family", "dual", "--load-balancer", "--timeout", "4m")
	downDone := false
	defer func() {
		if !downDone {
			sandbox("down", "--name", lbName)
		}
	}()
	s, err := state.Load(lbName)
	if err != nil {
		t.Fatal(err)
	}
	lb := s.LoadBalancer
	if lb == nil || len(lb.Pools) != 2 || len(lb.OutsideIPs) != 2 {
		t.Fatalf("state lacks the load balancer plan: %+v", lb)
	}
	guardsHold(t, s)
	for _, g := range lb.Pools {
		if !contains(s.Guards, g) {
			t.Errorf("pool %s has no guard route (guards %v)", g, s.Guards)
		}
		if dev, kind, err := netcfg.HostRouteVia(context.Background(), netip.MustParsePrefix(g).Addr().Next().String()); err != nil || kind != "unreachable" {
			t.Errorf("host route to pool %s: %s %s %v, want unreachable", g, dev, kind, err)
		}
	}
	out := lb.OutsideNetns
	c, err := cluster.Client(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("outside", func(t *testing.T) {
		// Only the node network (connected) and the pools: no pod, Service or default route.
		for _, fam := range []string{"-4", "-6"} {
			routes, err := exec.Command("ip", "-n", out, fam, "route", "show").Output()
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(routes)), "\n") {
				dst := strings.Fields(line)[0]
				if dst != "fe80::/64" && !contains(s.NodeNets, dst) && !contains(lb.Pools, dst) {
					t.Errorf("outside namespace has route %q: only the node network and the LB pools are allowed", line)
				}
			}
		}
		for _, ip := range append(append([]string{}, s.ServiceIP(1)...), podIPs(firstPod(t, c, "kube-system", "k8s-app=kube-dns"))...) {
			r := sandbox("outside", "--name", lbName, "--", "ping", "-n", "-c", "1", "-W", "1", ip)
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "unreachable") {
				t.Errorf("outside reached cluster address %s (exit %d): %s%s", ip, r.code, r.stdout, r.stderr)
			}
		}
		for i, ip := range s.Nodes[0].IPs {
			r := sandbox("outside", "--name", lbName, "--", "ping", "-n", "-c", "1", "-W", "2", ip)
			if r.code != 0 {
				t.Errorf("outside (%s) cannot ping node %s: %s%s", lb.OutsideIPs[i], ip, r.stdout, r.stderr)
			}
		}
		if r := sandbox("outside", "--name", lbName, "--", "sh", "-c", "exit 7"); r.code != 7 {
			t.Errorf("outside -- sh -c 'exit 7': exit %d, want 7 (passed through)", r.code)
		}
		if r := sandbox("outside", "--name", lbName, "--", "no-such-command-xyz"); r.code != 2 {
			t.Errorf("outside with a missing command: exit %d, want 2: %s", r.code, r.stderr)
		}
		if r := sandbox("outside", "--name", "nosuchcluster", "--", "true"); r.code != 2 {
			t.Errorf("outside of a missing cluster: exit %d, want 2", r.code)
		}
		if st := mustSandbox(t, "status", "--name", lbName); !strings.Contains(st, "load balancer: MetalLB v0.15.2 (L2), pools "+strings.Join(lb.Pools, ", ")) {
			t.Errorf("status does not show the load balancer:\n%s", st)
		}
	})

	// Two backends, on node 2 and node 3; node 1 has none.
	for i, n := range s.Nodes[1:] {
		p := echoPod(fmt.Sprintf("web-%d", i+1), echoPort)
		p.Labels["lb"] = "web"
		p.Spec.NodeName = n.Name
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPodReady(t, c, "default", p.Name)
	}
	macs := nodeByMAC(t, s)

	var clusterVIPs []string
	t.Run("cluster-policy", func(t *testing.T) {
		clusterVIPs = lbService(t, s, "web-cluster", corev1.ServiceExternalTrafficPolicyCluster)
		for _, vip := range clusterVIPs {
			seen := servedBy(t, out, vip, 2, 40)
			t.Logf("%s served by %v via %s", vip, keys(seen), macs[neighMAC(out, vip)])
			if macs[neighMAC(out, vip)] == "" {
				t.Errorf("%s resolved to %q, which is no node's eth0", vip, neighMAC(out, vip))
			}
		}
	})

	var localVIPs []string
	t.Run("local-policy", func(t *testing.T) {
		vips := lbService(t, s, "web-local", corev1.ServiceExternalTrafficPolicyLocal)
		localVIPs = vips
		for i, vip := range vips {
			seen := servedBy(t, out, vip, 1, 40)
			node := macs[neighMAC(out, vip)]
			if node == "" || node == s.Nodes[0].Name {
				t.Errorf("%s (Local) announced by %q: only nodes with a local endpoint (%s, %s) may announce", vip, node, s.Nodes[1].Name, s.Nodes[2].Name)
			}
			// More requests: all answered by the announcing node's own pod, which sees the outside address.
			for j := 0; j < 6; j++ {
				a, err := getEcho(out, hostPort(vip, 80))
				if err != nil {
					t.Fatalf("GET %s: %v", vip, err)
				}
				seen[a.Pod] = a
			}
			for _, a := range seen {
				if a.Node != node {
					t.Errorf("%s (Local) answered by %s on %s, but announced by %s", vip, a.Pod, a.Node, node)
				}
				host, _, _ := net.SplitHostPort(a.Client)
				if host != lb.OutsideIPs[i] {
					t.Errorf("%s (Local): backend saw client %s, want the outside address %s (preserved)", vip, host, lb.OutsideIPs[i])
				}
			}
		}
	})

	t.Run("lb-speaker-stop", func(t *testing.T) {
		if len(clusterVIPs) != 2 {
			t.Skip("no cluster-policy VIPs")
		}
		vip := clusterVIPs[0]
		if _, err := getEcho(out, hostPort(vip, 80)); err != nil {
			t.Fatal(err)
		}
		before := macs[neighMAC(out, vip)]
		if before == "" {
			t.Fatalf("%s not resolved from the outside", vip)
		}
		mustSandbox(t, "fault", "add", "--name", lbName, "lb-speaker-stop", before)
		if pods, _ := c.CoreV1().Pods("metallb-system").List(ctx, metav1.ListOptions{LabelSelector: "component=speaker", FieldSelector: "spec.nodeName=" + before}); len(pods.Items) != 0 {
			t.Errorf("a speaker pod still exists on %s after the fault", before)
		}
		// The other speakers see it leave the memberlist and re-elect; the
		// new owner's gratuitous ARP/NA moves the outside's neighbour entry.
		for f, v := range clusterVIPs {
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, err := getEcho(out, hostPort(v, 80))
				now := macs[neighMAC(out, v)]
				if err == nil && now != "" && now != before {
					t.Logf("family %d: %s moved from %s to %s", f, v, before, now)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s after lb-speaker-stop %s: served via %q (%v), want another node", v, before, now, err)
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
		mustSandbox(t, "fault", "remove", "--name", lbName, "lb-speaker-stop", before)
		if out := mustSandbox(t, "fault", "list", "--name", lbName); strings.Contains(out, "lb-speaker-stop") {
			t.Errorf("fault still listed after remove:\n%s", out)
		}
		ds, err := c.AppsV1().DaemonSets("metallb-system").Get(ctx, "speaker", metav1.GetOptions{})
		if err != nil || ds.Status.NumberReady != int32(len(s.Nodes)) {
			t.Errorf("speakers after remove: %v %+v", err, ds.Status)
		}
		for _, v := range clusterVIPs {
			servedBy(t, out, v, 2, 40)
		}
	})

	// With externalTrafficPolicy Local, the VIP moves only to the other node
	// with an endpoint, and the client address stays preserved.
	t.Run("lb-speaker-stop-local", func(t *testing.T) {
		if len(localVIPs) != 2 {
			t.Skip("no local-policy VIPs")
		}
		if _, err := getEcho(out, hostPort(localVIPs[0], 80)); err != nil {
			t.Fatal(err)
		}
		before := macs[neighMAC(out, localVIPs[0])]
		mustSandbox(t, "fault", "add", "--name", lbName, "lb-speaker-stop", before)
		for i, v := range localVIPs {
			deadline := time.Now().Add(20 * time.Second)
			for {
				a, err := getEcho(out, hostPort(v, 80))
				now := macs[neighMAC(out, v)]
				host, _, _ := net.SplitHostPort(a.Client)
				if err == nil && now != "" && now != before {
					if now == s.Nodes[0].Name || a.Node != now || host != lb.OutsideIPs[i] {
						t.Errorf("%s (Local) moved to %s, answered by %s on %s seeing client %s: want the other endpoint node, the outside address", v, now, a.Pod, a.Node, host)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s (Local) after lb-speaker-stop %s: via %q (%v), want the other node with an endpoint", v, before, now, err)
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
		mustSandbox(t, "fault", "remove", "--name", lbName, "lb-speaker-stop", before)
	})

	t.Run("down", func(t *testing.T) {
		var pids []int
		for _, n := range s.Nodes {
			p, _ := controlplane.NetnsPIDs(ctx, n.Netns)
			pids = append(pids, p...)
		}
		mustSandbox(t, "down", "--name", lbName)
		downDone = true
		for _, p := range pids {
			if controlplane.Alive(p) {
				t.Errorf("process %d (%s) of the cluster survived down", p, controlplane.Cmdline(p))
			}
		}
		if nss, _ := cluster.Namespaces(lbName); len(nss) > 0 {
			t.Errorf("namespaces left: %v", nss)
		}
		if _, err := os.Stat("/run/netns/" + out); err == nil {
			t.Errorf("outside namespace %s left", out)
		}
		for _, g := range lb.Pools {
			args := []string{"route", "show", "exact", g}
			if strings.Contains(g, ":") {
				args = append([]string{"-6"}, args...)
			}
			if r, _ := exec.Command("ip", args...).Output(); strings.TrimSpace(string(r)) != "" {
				t.Errorf("host route for pool %s left: %s", g, r)
			}
		}
		if _, err := os.Stat("/sys/class/net/" + lb.OutsideVeth); err == nil {
			t.Errorf("outside veth %s left", lb.OutsideVeth)
		}
	})
}

// TestLoadBalancerBadInput: --metallb-dir without --load-balancer, or a
// directory without MetalLB, exits 2 and creates nothing.
func TestLoadBalancerBadInput(t *testing.T) {
	needOwnCluster(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "lbbad"
	for _, args := range [][]string{
		{"--metallb-dir", t.TempDir()},
		{"--load-balancer", "--metallb-dir", t.TempDir()},
		{"--load-balancer", "--nodes", "250", "--windows-nodes", "3"},
	} {
		r := sandbox(append([]string{"up", "--name", name}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "metallb") && !strings.Contains(r.stderr, "load-balancer") {
			t.Errorf("up %v: exit %d, want 2 naming the flag: %s", args, r.code, r.stderr)
		}
		if _, err := state.Load(name); err == nil {
			t.Errorf("up %v left state behind", args)
			sandbox("down", "--name", name)
		}
		if b, _ := os.ReadFile(state.Root + "/slots.json"); strings.Contains(string(b), `"`+name+`"`) {
			t.Errorf("up %v left a slot behind: %s", args, b)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys(m map[string]echoAnswer) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// firstPod returns a pod matching selector in ns.
func firstPod(t *testing.T, c kubernetes.Interface, ns, selector string) corev1.Pod {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no pod %s in %s: %v", selector, ns, err)
	}
	return pods.Items[0]
}
