package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// The overlay tests share one small vxlan cluster, started on first use and
// removed by TestOverlayZDownLeavesNothing (or, if that did not run, by
// TestMain through stopOverlayCluster).
var vxName = os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2evx"

type overlayEnv struct {
	st     *state.State
	client kubernetes.Interface
	pods   []corev1.Pod // one echo pod per node, in node order
	netns  map[string]string
	err    error
	down   bool
}

var (
	vxOnce sync.Once
	vx     overlayEnv
)

func overlayCluster(t *testing.T) *overlayEnv {
	t.Helper()
	need(t)
	vxOnce.Do(func() { vx.err = startOverlay() })
	if vx.err != nil {
		t.Fatalf("overlay cluster %s: %v", vxName, vx.err)
	}
	if vx.down {
		t.Fatalf("overlay cluster %s was already removed", vxName)
	}
	return &vx
}

func startOverlay() error {
	sandbox("down", "--name", vxName)
	r := sandbox("up", "--name", vxName, "--nodes", "3", "--ip-family", "dual", "--overlay", "vxlan", "--zones", "1", "--timeout", "4m")
	if r.code != 0 {
		return fmt.Errorf("up exit %d: %s", r.code, r.stderr)
	}
	var err error
	if vx.st, err = state.Load(vxName); err != nil {
		return err
	}
	if vx.client, err = cluster.Client(vx.st.Kubeconfig); err != nil {
		return err
	}
	return deployOverlayEcho(context.Background())
}

// stopOverlayCluster is TestMain's fallback teardown.
func stopOverlayCluster() {
	if vx.st != nil && !vx.down {
		if r := sandbox("down", "--name", vxName); r.code != 0 {
			fmt.Fprintf(os.Stderr, "down %s failed: %s\n", vxName, r.stderr)
		}
		vx.down = true
	}
}

func deployOverlayEcho(ctx context.Context) error {
	c := vx.client
	labels := map[string]string{"app": "echo"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "echo", Image: "sandbox.local/echo:v1",
					Args:           []string{"echo-server", fmt.Sprintf("--port=%d", echoPort)},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(echoPort)}}, PeriodSeconds: 1},
				}}},
			},
		},
	}
	if _, err := c.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err == nil && len(pods.Items) == len(vx.st.Nodes) {
			ready := 0
			for _, p := range pods.Items {
				for _, cd := range p.Status.Conditions {
					if cd.Type == corev1.PodReady && cd.Status == corev1.ConditionTrue && len(p.Status.PodIPs) == 2 {
						ready++
					}
				}
			}
			if ready == len(vx.st.Nodes) {
				byNode := map[string]corev1.Pod{}
				for _, p := range pods.Items {
					byNode[p.Spec.NodeName] = p
				}
				for _, n := range vx.st.Nodes {
					vx.pods = append(vx.pods, byNode[n.Name])
				}
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("echo pods not Ready after 2m: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	vx.netns = map[string]string{}
	nss, err := cluster.Namespaces(vxName)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		out, err := exec.Command("ip", "-n", ns, "-o", "addr", "show").Output()
		if err != nil {
			continue
		}
		for _, p := range vx.pods {
			if strings.Contains(string(out), " "+p.Status.PodIP+"/") {
				vx.netns[p.Name] = ns
			}
		}
	}
	if len(vx.netns) != len(vx.pods) {
		return fmt.Errorf("found the netns of %d of %d echo pods", len(vx.netns), len(vx.pods))
	}
	return nil
}

func nsRun(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

var mtuRE = regexp.MustCompile(`^\d+: ([^:@]+)[@:].* mtu (\d+) `)

// linkMTUs reads `ip -n NS -o link`: interface name -> MTU.
func linkMTUs(t *testing.T, ns string) map[string]int {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-o", "link").Output()
	if err != nil {
		t.Fatalf("ip -n %s link: %v", ns, err)
	}
	m := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if s := mtuRE.FindStringSubmatch(l); s != nil {
			m[s[1]], _ = strconv.Atoi(s[2])
		}
	}
	return m
}

func TestOverlayMTUOnEveryInterface(t *testing.T) {
	e := overlayCluster(t)
	if e.st.MTU != 1450 || e.st.Overlay != plan.OverlayVXLAN {
		t.Fatalf("state: overlay %q mtu %d, want vxlan 1450", e.st.Overlay, e.st.MTU)
	}
	for _, n := range e.st.Nodes {
		m := linkMTUs(t, n.Netns)
		if m[plan.VXLANDevice] != 1450 {
			t.Errorf("%s: %s mtu %d, want 1450 (all links: %v)", n.Name, plan.VXLANDevice, m[plan.VXLANDevice], m)
		}
		// The underlay (the node's "physical" link) carries 1450 + 50 bytes of encapsulation.
		if m["eth0"] != 1500 {
			t.Errorf("%s: underlay eth0 mtu %d, want 1500", n.Name, m["eth0"])
		}
		veths := 0
		for name, mtu := range m {
			if strings.HasPrefix(name, "veth") {
				veths++
				if mtu != 1450 {
					t.Errorf("%s: pod link %s mtu %d, want 1450", n.Name, name, mtu)
				}
			}
		}
		if veths == 0 {
			t.Errorf("%s: no pod veths found in %v", n.Name, m)
		}
	}
	nss, err := cluster.Namespaces(vxName)
	if err != nil {
		t.Fatal(err)
	}
	pods := 0
	for _, ns := range nss {
		if !strings.Contains(ns, "-p-") {
			continue
		}
		pods++
		if m := linkMTUs(t, ns); m["eth0"] != 1450 {
			t.Errorf("pod netns %s: eth0 mtu %d, want 1450", ns, m["eth0"])
		}
	}
	if pods < len(e.st.Nodes) {
		t.Errorf("only %d pod namespaces checked", pods)
	}
}

func TestOverlayVXLANDeviceAndFDB(t *testing.T) {
	e := overlayCluster(t)
	p := &e.st.Plan
	if out := mustSandbox(t, "status", "--name", vxName); !strings.Contains(out, "network: overlay vxlan (vxlan0, VNI 1, udp 8472), pod mtu 1450, underlay mtu 1500") {
		t.Errorf("status does not show the overlay:\n%s", out)
	}
	for _, n := range e.st.Nodes {
		out, err := exec.Command("ip", "-n", n.Netns, "-d", "link", "show", plan.VXLANDevice).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", n.Name, err, out)
		}
		for _, want := range []string{"vxlan id 1 ", "local " + n.IPs[0] + " ", "dev eth0 ", "dstport 8472 ", "nolearning", "link/ether " + p.VTEPMAC(n)} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: vxlan device lacks %q:\n%s", n.Name, want, out)
			}
		}
		fdb, _ := exec.Command("bridge", "-n", n.Netns, "fdb", "show", "dev", plan.VXLANDevice).CombinedOutput()
		neigh, _ := exec.Command("ip", "-n", n.Netns, "neigh", "show", "dev", plan.VXLANDevice).CombinedOutput()
		routes, _ := exec.Command("ip", "-n", n.Netns, "route", "show", "table", "main").CombinedOutput()
		routes6, _ := exec.Command("ip", "-n", n.Netns, "-6", "route", "show", "table", "main").CombinedOutput()
		for _, o := range e.st.Nodes {
			if o.Index == n.Index {
				continue
			}
			if want := p.VTEPMAC(o) + " dst " + o.IPs[0] + " self permanent"; !strings.Contains(string(fdb), want) {
				t.Errorf("%s: fdb lacks %q:\n%s", n.Name, want, fdb)
			}
			for i, a := range o.VTEPIPs() {
				if want := a + " lladdr " + p.VTEPMAC(o) + " PERMANENT"; !strings.Contains(string(neigh), want) {
					t.Errorf("%s: neighbours lack %q:\n%s", n.Name, want, neigh)
				}
				want := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(o.PodCIDRs[i]+" via "+a+" dev vxlan0 ") + ".*onlink")
				if !want.MatchString(string(routes) + string(routes6)) {
					t.Errorf("%s: routes lack %s via %s dev vxlan0 onlink:\n%s%s", n.Name, o.PodCIDRs[i], a, routes, routes6)
				}
			}
		}
	}
}

// vxlanPackets returns tx and rx packet counters of a node's vxlan device.
func vxlanPackets(t *testing.T, ns string) (tx, rx uint64) {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-j", "-s", "link", "show", plan.VXLANDevice).Output()
	if err != nil {
		t.Fatal(err)
	}
	var v []struct {
		Stats64 struct {
			RX struct{ Packets uint64 } `json:"rx"`
			TX struct{ Packets uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &v); err != nil || len(v) != 1 {
		t.Fatalf("parsing %s: %v", out, err)
	}
	return v[0].Stats64.TX.Packets, v[0].Stats64.RX.Packets
}

func TestOverlayPodToPodBothFamiliesThroughVXLAN(t *testing.T) {
	e := overlayCluster(t)
	for a := range e.pods {
		for b := range e.pods {
			if a == b {
				continue
			}
			for f, ip := range podIPs(e.pods[b]) {
				var err error
				for try := 0; try < 3; try++ { // first contact may be slow on a busy machine
					if err = httpGet(e.netns[e.pods[a].Name], hostPort(ip, echoPort)); err == nil {
						break
					}
				}
				if err != nil {
					t.Errorf("%s -> %s family %d (%s): %v", e.pods[a].Spec.NodeName, e.pods[b].Spec.NodeName, f, ip, err)
				}
			}
		}
	}
	// The packets really cross the vxlan devices of both nodes.
	n1, n2 := e.st.Nodes[0].Netns, e.st.Nodes[1].Netns
	tx1, _ := vxlanPackets(t, n1)
	_, rx2 := vxlanPackets(t, n2)
	for _, ip := range podIPs(e.pods[1]) {
		if out, err := nsRun(e.netns[e.pods[0].Name], "ping", "-n", "-q", "-c", "100", "-i", "0.01", "-W", "2", ip); err != nil {
			t.Errorf("ping %s: %v: %s", ip, err, out)
		}
	}
	tx1b, _ := vxlanPackets(t, n1)
	_, rx2b := vxlanPackets(t, n2)
	if tx1b-tx1 < 200 || rx2b-rx2 < 200 {
		t.Errorf("vxlan counters grew by tx %d (node 1) and rx %d (node 2), want >= 200 each for 2x100 pings", tx1b-tx1, rx2b-rx2)
	}
}

func TestOverlayDFSizes(t *testing.T) {
	e := overlayCluster(t)
	from := e.netns[e.pods[0].Name]
	ips := podIPs(e.pods[1])
	for _, c := range []struct {
		ip   string
		size int
		ok   bool
	}{
		{ips[0], 1422, true}, {ips[0], 1423, false}, {ips[0], 1472, false},
		{ips[1], 1402, true}, {ips[1], 1403, false}, {ips[1], 1452, false},
	} {
		out, err := nsRun(from, "ping", "-n", "-M", "do", "-s", strconv.Itoa(c.size), "-c", "2", "-W", "2", c.ip)
		if got := err == nil; got != c.ok {
			t.Errorf("ping -M do -s %d %s across nodes: passed=%v, want %v:\n%s", c.size, c.ip, got, c.ok, out)
		}
	}
	// Also from the node itself (host network) over the vxlan route.
	out, err := nsRun(e.st.Nodes[0].Netns, "ping", "-n", "-M", "do", "-s", "1422", "-c", "2", "-W", "2", ips[0])
	if err != nil {
		t.Errorf("node -> remote pod, 1422 DF: %v\n%s", err, out)
	}
	if out, err := nsRun(e.st.Nodes[0].Netns, "ping", "-n", "-M", "do", "-s", "1423", "-c", "1", "-W", "2", ips[0]); err == nil {
		t.Errorf("node -> remote pod, 1423 DF passed (route MTU is not 1450):\n%s", out)
	}
}

var lossRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingLoss sends n echo requests (flood: the next as soon as a reply came
// or after 10 ms) and returns the share lost in percent.
func pingLoss(t *testing.T, ns, ip string, n int) float64 {
	t.Helper()
	out, _ := nsRun(ns, "ping", "-n", "-q", "-f", "-c", strconv.Itoa(n), "-W", "1", ip)
	m := lossRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping output: %s", out)
	}
	sent, _ := strconv.Atoi(m[1])
	got, _ := strconv.Atoi(m[2])
	if sent != n {
		t.Fatalf("sent %d of %d: %s", sent, n, out)
	}
	return 100 * float64(sent-got) / float64(sent)
}

func TestOverlayLossFault(t *testing.T) {
	e := overlayCluster(t)
	node := e.st.Nodes[1].Name
	from, to := e.netns[e.pods[0].Name], podIPs(e.pods[1])[0]
	mustSandbox(t, "fault", "add", "--name", vxName, "loss", node, "30")
	removed := false
	defer func() {
		if !removed {
			sandbox("fault", "remove", "--name", vxName, "loss", node, "30")
		}
	}()
	loss := pingLoss(t, from, to, 1000)
	t.Logf("loss 30%%: %.1f%% of 1000 probes lost", loss)
	// 1000 Bernoulli(0.3) probes: sd 1.45 points; 5 sd either side.
	if loss < 22.5 || loss > 37.5 {
		t.Errorf("loss over 1000 probes %.1f%%, want 30 +- 7.5", loss)
	}
	// Only what the node sends: the other nodes talk to each other losslessly.
	if l := pingLoss(t, from, podIPs(e.pods[2])[0], 200); l > 2 {
		t.Errorf("unrelated path lost %.1f%%", l)
	}
	mustSandbox(t, "fault", "remove", "--name", vxName, "loss", node, "30")
	removed = true
	if l := pingLoss(t, from, to, 300); l > 2 {
		t.Errorf("after remove: %.1f%% lost", l)
	}
}

func iptablesHas(ns, ip string) bool {
	tool := "iptables-save"
	if strings.Contains(ip, ":") {
		tool = "ip6tables-save"
	}
	out, _ := nsRun(ns, tool, "-t", "nat")
	return strings.Contains(out, ip)
}

func TestOverlayKubeProxyStop(t *testing.T) {
	e := overlayCluster(t)
	ctx := context.Background()
	n3, n1 := e.st.Nodes[2], e.st.Nodes[0]
	old := e.st.Process("kube-proxy/" + n3.Name)
	mustSandbox(t, "fault", "add", "--name", vxName, "kube-proxy-stop", n3.Name)
	removed := false
	defer func() {
		if !removed {
			sandbox("fault", "remove", "--name", vxName, "kube-proxy-stop", n3.Name)
		}
	}()
	if controlplane.Alive(old) {
		t.Errorf("kube-proxy PID %d of %s still runs", old, n3.Name)
	}
	dual := corev1.IPFamilyPolicyRequireDualStack
	svc, err := e.client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "late"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo"}, IPFamilyPolicy: &dual,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(echoPort)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.client.CoreV1().Services("default").Delete(ctx, "late", metav1.DeleteOptions{})
	// Another node's kube-proxy programs it...
	deadline := time.Now().Add(45 * time.Second)
	for !iptablesHas(n1.Netns, svc.Spec.ClusterIPs[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never got rules for %s", n1.Name, svc.Spec.ClusterIPs[0])
		}
		time.Sleep(500 * time.Millisecond)
	}
	// ...the stopped one does not.
	for _, ip := range svc.Spec.ClusterIPs {
		if iptablesHas(n3.Netns, ip) {
			t.Errorf("%s has rules for %s although its kube-proxy is stopped", n3.Name, ip)
		}
	}
	if err := httpGet(n3.Netns, hostPort(svc.Spec.ClusterIPs[0], 80)); err == nil {
		t.Errorf("%s reached new Service %s without kube-proxy", n3.Name, svc.Spec.ClusterIPs[0])
	}
	mustSandbox(t, "fault", "remove", "--name", vxName, "kube-proxy-stop", n3.Name)
	removed = true
	s, err := state.Load(vxName)
	if err != nil {
		t.Fatal(err)
	}
	if pid := s.Process("kube-proxy/" + n3.Name); pid == old || !controlplane.Alive(pid) {
		t.Errorf("kube-proxy of %s after remove: PID %d (old %d) alive=%v", n3.Name, pid, old, controlplane.Alive(pid))
	}
	deadline = time.Now().Add(60 * time.Second)
	for _, ip := range svc.Spec.ClusterIPs {
		for !iptablesHas(n3.Netns, ip) {
			if time.Now().After(deadline) {
				t.Fatalf("%s has no rules for %s 60s after kube-proxy restarted", n3.Name, ip)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	var herr error
	for try := 0; try < 5; try++ {
		if herr = httpGet(n3.Netns, hostPort(svc.Spec.ClusterIPs[0], 80)); herr == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if herr != nil {
		t.Errorf("Service %s from %s after restart: %v", svc.Spec.ClusterIPs[0], n3.Name, herr)
	}
}

func TestOverlayConntrackFull(t *testing.T) {
	e := overlayCluster(t)
	n := e.st.Nodes[1]
	read := func(key string) int {
		out, err := nsRun(n.Netns, "sysctl", "-n", key)
		if err != nil {
			t.Fatalf("%s: %v %s", key, err, out)
		}
		v, _ := strconv.Atoi(strings.TrimSpace(out))
		return v
	}
	hostBefore, _ := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	oldMax := read("net.netfilter.nf_conntrack_max")
	r := sandbox("fault", "add", "--name", vxName, "conntrack-full", n.Name)
	hostAfter, _ := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if string(hostBefore) != string(hostAfter) {
		t.Fatalf("host nf_conntrack_max changed: %s -> %s", hostBefore, hostAfter)
	}
	switch r.code {
	case 3:
		// This kernel keeps the value read-only outside the initial netns.
		if !strings.Contains(r.stderr, "nf_conntrack_max") || !strings.Contains(r.stderr, "read-only") {
			t.Errorf("exit 3 without the reason: %s", r.stderr)
		}
		if got := read("net.netfilter.nf_conntrack_max"); got != oldMax {
			t.Errorf("skipped fault changed nf_conntrack_max %d -> %d", oldMax, got)
		}
		if out := mustSandbox(t, "fault", "list", "--name", vxName); strings.Contains(out, "conntrack-full") {
			t.Errorf("skipped fault recorded: %s", out)
		}
		t.Logf("skipped as designed on this kernel: %s", strings.TrimSpace(r.stderr))
	case 0:
		// A per-netns max lowered below the count, or (a host-wide max)
		// the namespace's own table filled up to it.
		if max, count := read("net.netfilter.nf_conntrack_max"), read("net.netfilter.nf_conntrack_count"); count < max {
			t.Errorf("nf_conntrack_count %d below nf_conntrack_max %d", count, max)
		}
		// A pod on another node: only the full table is in the way.
		other := e.st.Nodes[0]
		var dst string
		for _, p := range e.pods {
			if p.Spec.NodeName != n.Name {
				dst = hostPort(podIPs(p)[0], echoPort)
			}
		}
		if err := httpGet(n.Netns, dst); err == nil {
			t.Error("new connection from the node succeeded with a full conntrack table")
		}
		if err := httpGet(other.Netns, dst); err != nil {
			t.Errorf("new connection from %s (no fault) failed: %v", other.Name, err)
		}
		mustSandbox(t, "fault", "remove", "--name", vxName, "conntrack-full", n.Name)
		if got := read("net.netfilter.nf_conntrack_max"); got != oldMax {
			t.Errorf("after remove nf_conntrack_max %d, want %d", got, oldMax)
		}
		if count := read("net.netfilter.nf_conntrack_count"); count*2 > oldMax {
			t.Errorf("after remove %d conntrack entries of %d", count, oldMax)
		}
		if err := httpGet(n.Netns, dst); err != nil {
			t.Errorf("new connection from the node after remove failed: %v", err)
		}
	default:
		t.Fatalf("fault add conntrack-full: exit %d: %s", r.code, r.stderr)
	}
}

// TestOverlayOnewayFault: on the overlay, oneway still cuts only new flows
// from A to B (the encapsulated underlay packets are not what it judges).
func TestOverlayOnewayFault(t *testing.T) {
	e := overlayCluster(t)
	n1, n2 := e.st.Nodes[0].Name, e.st.Nodes[1].Name
	p1, p2 := e.netns[e.pods[0].Name], e.netns[e.pods[1].Name]
	mustSandbox(t, "fault", "add", "--name", vxName, "oneway", n1, n2)
	defer mustSandbox(t, "fault", "remove", "--name", vxName, "oneway", n1, n2)
	for f := 0; f < 2; f++ {
		if err := httpGet(p1, hostPort(podIPs(e.pods[1])[f], echoPort)); err == nil {
			t.Errorf("family %d: %s -> %s worked under oneway", f, n1, n2)
		}
		if err := httpGet(p2, hostPort(podIPs(e.pods[0])[f], echoPort)); err != nil {
			t.Errorf("family %d: %s -> %s broken under oneway %s %s: %v", f, n2, n1, n1, n2, err)
		}
	}
}

func holdCheck(ns string, port int, proto string) (string, error) {
	return nsRun(ns, binary, "hold-port", "--check", "--port", strconv.Itoa(port), "--proto", proto)
}

func faultPIDs(t *testing.T, id string) []int {
	t.Helper()
	s, err := state.Load(vxName)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range s.Faults {
		if f.ID == id {
			for _, c := range f.Changes {
				if c.Type == "process" {
					pids = append(pids, c.PID)
				}
			}
		}
	}
	return pids
}

func TestOverlayHostPort(t *testing.T) {
	e := overlayCluster(t)
	n := e.st.Nodes[0]
	for _, proto := range []string{"tcp", "udp"} {
		if out, err := holdCheck(n.Netns, 18081, proto); err != nil {
			t.Fatalf("%s 18081 not free before the fault: %v %s", proto, err, out)
		}
		mustSandbox(t, "fault", "add", "--name", vxName, "host-port", n.Name, "18081", proto)
		id := "host-port " + n.Name + " 18081 " + proto
		pids := faultPIDs(t, id)
		if len(pids) != 1 || !controlplane.Alive(pids[0]) {
			t.Fatalf("%s: holder PIDs %v", id, pids)
		}
		out, err := holdCheck(n.Netns, 18081, proto)
		if err == nil || !strings.Contains(out, "address already in use") {
			t.Errorf("%s: binding on %s: err %v %s, want address already in use", id, n.Name, err, out)
		}
		// Only that node: the port is free on another node.
		if out, err := holdCheck(e.st.Nodes[1].Netns, 18081, proto); err != nil {
			t.Errorf("%s: port busy on another node too: %s", id, out)
		}
		mustSandbox(t, "fault", "remove", "--name", vxName, "host-port", n.Name, "18081", proto)
		if controlplane.Alive(pids[0]) {
			t.Errorf("%s: holder %d still runs after remove", id, pids[0])
		}
		if out, err := holdCheck(n.Netns, 18081, proto); err != nil {
			t.Errorf("%s: port still busy after remove: %s", id, out)
		}
	}
}

// TestPlainMTUFlag: --mtu without an overlay sets the whole routed path
// (bridge, node links, pod links) and creates no vxlan device.
func TestPlainMTUFlag(t *testing.T) {
	need(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2emtu"
	sandbox("down", "--name", name)
	mustSandbox(t, "up", "--name", name, "--nodes", "2", "--ip-family", "ipv4", "--mtu", "1400", "--timeout", "3m")
	defer mustSandbox(t, "down", "--name", name)
	s, err := state.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile("/sys/class/net/" + s.Bridge + "/mtu"); strings.TrimSpace(string(b)) != "1400" {
		t.Errorf("bridge %s mtu %q, want 1400", s.Bridge, b)
	}
	nss, _ := cluster.Namespaces(name)
	for _, ns := range nss {
		for link, mtu := range linkMTUs(t, ns) {
			if link != "lo" && mtu != 1400 {
				t.Errorf("%s: %s mtu %d, want 1400", ns, link, mtu)
			}
			if link == plan.VXLANDevice {
				t.Errorf("%s: vxlan device without --overlay", ns)
			}
		}
	}
	for _, n := range s.Nodes[1:] {
		if out, err := nsRun(s.Nodes[0].Netns, "ping", "-n", "-M", "do", "-s", "1372", "-c", "1", "-W", "2", n.IPs[0]); err != nil {
			t.Errorf("1372-byte DF ping between nodes: %v %s", err, out)
		}
	}
}

func TestOverlayBadInputExitCode2(t *testing.T) {
	need(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "vxbad"
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--overlay", "geneve"}, "--overlay"},
		{[]string{"--overlay", "vxlan", "--mtu", "1000"}, "--mtu 1000"},
		{[]string{"--mtu", "9001"}, "--mtu 9001"},
		{[]string{"--overlay", "vxlan", "--peer", clusterName}, "--peer"},
	} {
		upRefused(t, name, c.args, c.msg)
	}
}

// upRefused checks `up --name NAME --nodes 1 ARGS` exits 2 naming msg and
// creates nothing.
func upRefused(t *testing.T, name string, args []string, msg string) {
	t.Helper()
	r := sandbox(append([]string{"up", "--name", name, "--nodes", "1"}, args...)...)
	if r.code != 2 || !strings.Contains(r.stderr, msg) {
		t.Errorf("up %v: exit %d, stderr %q; want 2 naming %s", args, r.code, r.stderr, msg)
	}
	if _, err := os.Stat(state.Dir(name)); err == nil {
		t.Errorf("up %v created %s", args, state.Dir(name))
		sandbox("down", "--name", name)
	}
}

// TestOverlayZDownLeavesNothing runs last (file order): it leaves a
// host-port and a loss fault active and checks `down` removes every
// namespace, vxlan device and process.
func TestOverlayZDownLeavesNothing(t *testing.T) {
	e := overlayCluster(t)
	mustSandbox(t, "fault", "add", "--name", vxName, "host-port", e.st.Nodes[2].Name, "18082")
	mustSandbox(t, "fault", "add", "--name", vxName, "loss", e.st.Nodes[2].Name, "10")
	holder := faultPIDs(t, "host-port "+e.st.Nodes[2].Name+" 18082 tcp")
	s, err := state.Load(vxName)
	if err != nil {
		t.Fatal(err)
	}
	mustSandbox(t, "down", "--name", vxName)
	vx.down = true
	if nss, _ := cluster.Namespaces(vxName); len(nss) != 0 {
		t.Errorf("namespaces left: %v", nss)
	}
	for _, p := range append(holder, func() (l []int) {
		for _, p := range s.Processes {
			l = append(l, p.PID)
		}
		return
	}()...) {
		if controlplane.Alive(p) && strings.Contains(controlplane.Cmdline(p), s.Dir) || (controlplane.Alive(p) && strings.Contains(controlplane.Cmdline(p), "hold-port")) {
			t.Errorf("process %d left: %s", p, controlplane.Cmdline(p))
		}
	}
	out, _ := exec.Command("ip", "-d", "link", "show", "type", "vxlan").CombinedOutput()
	for _, n := range s.Nodes {
		if strings.Contains(string(out), s.VTEPMAC(n)) {
			t.Errorf("vxlan device of %s left in the host: %s", n.Name, out)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + s.Bridge); err == nil {
		t.Errorf("bridge %s left", s.Bridge)
	}
	if _, err := os.Stat(s.Dir); err == nil {
		t.Errorf("state dir %s left", s.Dir)
	}
}
