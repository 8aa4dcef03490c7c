package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// The services cluster: kube-proxy in nftables mode and the Multus model,
// started by the first test that needs it and removed by TestSvcZDown
// (file order) or TestMain.
var (
	svcName = os.Getenv("NETDOCTOR_E2E_PREFIX") + "svc"
	svcOnce sync.Once
	svcEnv  echoEnv
	svcErr  error
	svcDown bool
)

func svcCluster(t *testing.T) *echoEnv {
	t.Helper()
	need(t)
	svcOnce.Do(func() {
		sandbox("down", "--name", svcName)
		r := sandbox("up", "--name", svcName, "--nodes", "3", "--ip-family", "dual", "--proxy-mode", "nftables", "--multus", "--timeout", "4m")
		if r.code != 0 {
			svcErr = fmt.Errorf("up exit %d: %s", r.code, r.stderr)
			return
		}
		if svcEnv.st, svcErr = state.Load(svcName); svcErr != nil {
			return
		}
		if svcEnv.client, svcErr = cluster.Client(svcEnv.st.Kubeconfig); svcErr != nil {
			return
		}
		svcErr = svcEnv.deploy(context.Background())
	})
	if svcErr != nil {
		t.Fatalf("services cluster %s: %v", svcName, svcErr)
	}
	if svcDown {
		t.Fatalf("services cluster %s was already removed", svcName)
	}
	return &svcEnv
}

func stopSvcCluster() {
	if svcEnv.st != nil && !svcDown {
		if r := sandbox("down", "--name", svcName); r.code != 0 {
			fmt.Fprintf(os.Stderr, "down %s failed: %s\n", svcName, r.stderr)
		}
		svcDown = true
	}
}

func TestProxyModeBadInput(t *testing.T) {
	need(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "pm"
	upRefused(t, name, []string{"--proxy-mode", "ipvs"}, "this kernel has no IPVS")
	upRefused(t, name, []string{"--proxy-mode", "userspace"}, `--proxy-mode "userspace"`)
}

// TestNFTablesServices: kube-proxy really runs in nftables mode (its
// tables exist, no KUBE-SERVICES iptables chain) and the Service tests of
// the iptables cluster pass unchanged.
func TestNFTablesServices(t *testing.T) {
	e := svcCluster(t)
	for _, n := range e.st.Nodes {
		for _, fam := range []string{"ip", "ip6"} {
			out, err := nsRun(n.Netns, "nft", "list", "chain", fam, "kube-proxy", "services")
			if err != nil || !strings.Contains(out, "vmap") {
				t.Errorf("%s: nft chain %s kube-proxy services: %v %q", n.Name, fam, err, out)
			}
		}
		if out, _ := nsRun(n.Netns, "iptables-save", "-t", "nat"); strings.Contains(out, "KUBE-SERVICES") {
			t.Errorf("%s: iptables KUBE-SERVICES present in nftables mode:\n%s", n.Name, out)
		}
	}
	e.checkServices(t)
}

// serviceHits sends n GETs to addr from netns and counts answers by pod
// name; failed requests count under "".
func serviceHits(netns, addr string, n int) map[string]int {
	hits := map[string]int{}
	for i := 0; i < n; i++ {
		host, err := echoHost(netns, addr)
		if err != nil {
			host = ""
		}
		hits[host]++
	}
	return hits
}

// httpGetRetry is httpGet with up to three attempts: for paths that must
// keep working, so one probe lost on a busy machine is not a failure.
func httpGetRetry(netns, addr string) error {
	var err error
	for i := 0; i < 3; i++ {
		if err = httpGet(netns, addr); err == nil {
			return nil
		}
	}
	return err
}

// kubeProxyRules reports whether NODE's kube-proxy has Service rules in
// the kernel (nftables: rules in chain services; iptables: -A KUBE-SERVICES).
func kubeProxyRules(t *testing.T, e *echoEnv, netns string) bool {
	t.Helper()
	if e.st.ProxyMode == "nftables" {
		out, _ := nsRun(netns, "nft", "list", "chain", "ip", "kube-proxy", "services")
		return strings.Contains(out, "vmap")
	}
	out, _ := nsRun(netns, "iptables-save", "-t", "nat")
	return strings.Contains(out, "-A KUBE-SERVICES ")
}

// testServiceFaults checks each Service fault breaks exactly its path and
// its removal restores it, on a cluster in either proxy mode.
func testServiceFaults(t *testing.T, e *echoEnv) {
	ctx := context.Background()
	name := e.st.Name
	p0, p1 := e.pods[0], e.pods[1]
	n0, n1 := e.st.Nodes[0], e.st.Nodes[1]
	for f := 0; f < 2; f++ {
		vip := hostPort(e.svcIP(ctx, "echo", f), 80)
		// endpoint-drop: the Service never answers from p1, p1's own IP does.
		t.Run(fmt.Sprintf("endpoint-drop/family%d", f), func(t *testing.T) {
			// Precondition: p0's node already sends Service traffic to p1
			// (kube-proxy may lag behind on a busy machine).
			deadline := time.Now().Add(30 * time.Second)
			for serviceHits(e.netns[p0.Name], vip, 1)[p1.Name] == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("ClusterIP %s never answered from %s before the fault", vip, p1.Name)
				}
			}
			mustSandbox(t, "fault", "add", "--name", name, "endpoint-drop", "default/echo", "default/"+p1.Name)
			hits := serviceHits(e.netns[p0.Name], vip, 24)
			// A dropped SYN is retransmitted and may then be DNAT'ed to
			// another backend, so failures are not certain; answers from
			// p1 (a third or a quarter of them without the fault) are.
			if hits[p1.Name] != 0 || hits[""] == 24 {
				t.Errorf("ClusterIP %s with endpoint-drop of %s: answers by pod %v; want none from it, others answering", vip, p1.Name, hits)
			}
			if err := httpGetRetry(e.netns[p0.Name], hostPort(podIPs(p1)[f], echoPort)); err != nil {
				t.Errorf("pod IP of %s directly: %v (must still work)", p1.Name, err)
			}
			mustSandbox(t, "fault", "remove", "--name", name, "endpoint-drop", "default/echo", "default/"+p1.Name)
			hits = serviceHits(e.netns[p0.Name], vip, 24)
			if hits[""] != 0 || hits[p1.Name] == 0 {
				rules, _ := nsRun(n0.Netns, "nft", "list", "ruleset")
				t.Errorf("ClusterIP %s after remove: answers by pod %v; want all answered, %s among them; ruleset of %s:\n%s", vip, hits, p1.Name, n0.Name, rules)
			}
		})
	}
	t.Run("nodeport-block", func(t *testing.T) {
		mustSandbox(t, "fault", "add", "--name", name, "nodeport-block", n1.Name)
		for f := 0; f < 2; f++ {
			if err := httpGet(n0.Netns, hostPort(n1.IPs[f], 30080)); err == nil {
				t.Errorf("NodePort %s:30080 answered during nodeport-block %s", n1.IPs[f], n1.Name)
			}
			if err := httpGetRetry(n0.Netns, hostPort(e.st.Nodes[2].IPs[f], 30080)); err != nil {
				t.Errorf("NodePort of %s: %v (must still work)", e.st.Nodes[2].Name, err)
			}
			if err := httpGetRetry(e.netns[p1.Name], hostPort(e.svcIP(ctx, "echo", f), 80)); err != nil {
				t.Errorf("ClusterIP from a pod on %s: %v (must still work)", n1.Name, err)
			}
		}
		mustSandbox(t, "fault", "remove", "--name", name, "nodeport-block", n1.Name)
		for f := 0; f < 2; f++ {
			if err := httpGetRetry(n0.Netns, hostPort(n1.IPs[f], 30080)); err != nil {
				t.Errorf("NodePort %s:30080 after remove: %v", n1.IPs[f], err)
			}
		}
	})
	t.Run("svc-rules-flush", func(t *testing.T) {
		pid := e.st.Process("kube-proxy/" + n1.Name)
		if s, err := state.Load(name); err == nil {
			pid = s.Process("kube-proxy/" + n1.Name)
		}
		mustSandbox(t, "fault", "add", "--name", name, "svc-rules-flush", n1.Name)
		if controlplane.Alive(pid) {
			t.Errorf("kube-proxy of %s (PID %d) still runs during svc-rules-flush", n1.Name, pid)
		}
		if kubeProxyRules(t, e, n1.Netns) {
			t.Errorf("%s still has kube-proxy Service rules after svc-rules-flush", n1.Name)
		}
		if !kubeProxyRules(t, e, n0.Netns) {
			t.Errorf("%s lost its kube-proxy rules (only %s's may go)", n0.Name, n1.Name)
		}
		for f := 0; f < 2; f++ {
			vip := hostPort(e.svcIP(ctx, "echo", f), 80)
			if err := httpGet(e.netns[p1.Name], vip); err == nil {
				t.Errorf("ClusterIP %s answered from a pod on %s with its rules flushed", vip, n1.Name)
			}
			if err := httpGetRetry(e.netns[p0.Name], vip); err != nil {
				t.Errorf("ClusterIP %s from %s: %v (must still work)", vip, n0.Name, err)
			}
			if err := httpGetRetry(e.netns[p1.Name], hostPort(podIPs(p0)[f], echoPort)); err != nil {
				t.Errorf("pod to pod from %s: %v (must still work)", n1.Name, err)
			}
		}
		// Deterministic: nothing restores the rules while the fault holds.
		time.Sleep(3 * time.Second)
		if kubeProxyRules(t, e, n1.Netns) {
			t.Errorf("%s's rules came back while svc-rules-flush is active", n1.Name)
		}
		mustSandbox(t, "fault", "remove", "--name", name, "svc-rules-flush", n1.Name)
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := httpGet(e.netns[p1.Name], hostPort(e.svcIP(ctx, "echo", 0), 80))
			if err == nil {
				err = httpGet(e.netns[p1.Name], hostPort(e.svcIP(ctx, "echo", 1), 80))
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ClusterIP from %s not restored 30s after remove: %v", n1.Name, err)
			}
			time.Sleep(300 * time.Millisecond)
		}
	})
	if s, err := state.Load(name); err != nil || len(s.Faults) != 0 {
		t.Errorf("faults left active: %v %v", s.Faults, err)
	}
	guardsHold(t, e.st)
}

func TestServiceFaultsIPTables(t *testing.T) {
	need(t)
	testServiceFaults(t, &echoEnv{st: st, client: client, pods: echoPods, netns: podNetns})
}

func TestServiceFaultsNFTables(t *testing.T) {
	testServiceFaults(t, svcCluster(t))
}

// Minimal views of what the test reads.
type netStatus struct {
	Name      string          `json:"name"`
	Interface string          `json:"interface"`
	IPs       []string        `json:"ips"`
	Mac       string          `json:"mac"`
	Default   bool            `json:"default"`
	DNS       json.RawMessage `json:"dns"`
}

type ipAddrLink struct {
	IfName   string `json:"ifname"`
	Address  string `json:"address"`
	AddrInfo []struct {
		Local string `json:"local"`
		Scope string `json:"scope"`
	} `json:"addr_info"`
}

// TestMultusSecondaryInterfaces: a pod with two secondary interfaces (a
// macvlan on the second segment with host-local IPAM, both families, and a
// node-local bridge with static IPAM) reaches a pod on another node over
// net1; its network-status matches `ip addr` in the pod; a missing NAD fails
// the sandbox as Multus does and creates nothing.
func TestMultusSecondaryInterfaces(t *testing.T) {
	e := svcCluster(t)
	ctx := context.Background()
	seg := e.st.Segment
	if seg == nil || len(seg.Ranges) != 2 {
		t.Fatalf("state has no second segment: %+v", seg)
	}
	v4net := strings.TrimSuffix(seg.Ranges[0], "0/24") // "100.64.X."
	v6net := strings.TrimSuffix(seg.Ranges[1], "/64")  // "fd0d:X:5::"
	nads := map[string]string{
		"mvlan": fmt.Sprintf(`{"cniVersion":"0.3.1","name":"mvlan","type":"macvlan","master":"eth1","mode":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"%s0/25"}],[{"subnet":"%s/64"}]]}}`, v4net, v6net),
		"brnet": fmt.Sprintf(`{"cniVersion":"0.3.1","name":"brnet","type":"bridge","bridge":"br-sec","ipam":{"type":"static","addresses":[{"address":"%s200/27"},{"address":"%sc8/120"}]}}`, v4net, v6net+"1:"),
		"ipvl":  `{"cniVersion":"0.3.1","name":"ipvl","type":"ipvlan","master":"eth1"}`,
	}
	for n, cfg := range nads {
		body := fmt.Sprintf(`{"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition","metadata":{"name":%q,"namespace":"default"},"spec":{"config":%q}}`, n, cfg)
		if err := e.client.CoreV1().RESTClient().Post().AbsPath("/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions").Body([]byte(body)).Do(ctx).Error(); err != nil {
			t.Fatalf("creating NAD %s: %v", n, err)
		}
	}
	mk := func(name, node, networks string) {
		p := echoPod(name, echoPort)
		p.Annotations = map[string]string{"k8s.v1.cni.cncf.io/networks": networks}
		p.Spec.NodeName = node
		if _, err := e.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("multi", e.st.Nodes[0].Name, "mvlan, default/brnet")                                       // comma form: net1, net2
	mk("peer", e.st.Nodes[1].Name, `[{"name":"mvlan","namespace":"default","interface":"net1"}]`) // JSON form
	mk("nonad", e.st.Nodes[1].Name, "missing")
	mk("badnad", e.st.Nodes[2].Name, "ipvl@sec0")
	multi := waitPodReady(t, e.client, "default", "multi")
	peer := waitPodReady(t, e.client, "default", "peer")

	status := func(p *corev1.Pod) []netStatus {
		var st []netStatus
		if err := json.Unmarshal([]byte(p.Annotations["k8s.v1.cni.cncf.io/network-status"]), &st); err != nil {
			t.Fatalf("pod %s network-status %q: %v", p.Name, p.Annotations["k8s.v1.cni.cncf.io/network-status"], err)
		}
		return st
	}
	ms, ps := status(multi), status(peer)
	if len(ms) != 3 || ms[0].Interface != "eth0" || !ms[0].Default || ms[0].Name == "" ||
		ms[1].Name != "default/mvlan" || ms[1].Interface != "net1" || ms[1].Default ||
		ms[2].Name != "default/brnet" || ms[2].Interface != "net2" || ms[2].Default || string(ms[1].DNS) != "{}" {
		t.Errorf("network-status of multi: %+v", ms)
	}
	if strings.Join(ms[0].IPs, ",") != strings.Join(podIPs(*multi), ",") {
		t.Errorf("default network ips %v, pod IPs %v", ms[0].IPs, podIPs(*multi))
	}
	// network-status matches ip addr inside each pod.
	for _, c := range []struct {
		pod *corev1.Pod
		st  []netStatus
	}{{multi, ms}, {peer, ps}} {
		ns, err := podNetnsByIP(e.st.Name, c.pod.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ip", "-n", ns, "-j", "addr", "show").Output()
		if err != nil {
			t.Fatal(err)
		}
		var links []ipAddrLink
		if err := json.Unmarshal(out, &links); err != nil {
			t.Fatal(err)
		}
		byName := map[string]ipAddrLink{}
		for _, l := range links {
			byName[l.IfName] = l
		}
		var names []string
		for _, s := range c.st {
			names = append(names, s.Interface)
			l, ok := byName[s.Interface]
			if !ok {
				t.Errorf("pod %s: network-status names %s, not in ip addr", c.pod.Name, s.Interface)
				continue
			}
			var global []string
			for _, a := range l.AddrInfo {
				if a.Scope == "global" {
					global = append(global, a.Local)
				}
			}
			sort.Strings(global)
			want := append([]string(nil), s.IPs...)
			sort.Strings(want)
			if strings.Join(global, ",") != strings.Join(want, ",") || l.Address != s.Mac {
				t.Errorf("pod %s %s: ip addr %v %s, network-status %v %s", c.pod.Name, s.Interface, global, l.Address, s.IPs, s.Mac)
			}
		}
		for n := range byName {
			if n != "lo" && !strings.Contains(" "+strings.Join(names, " ")+" ", " "+n+" ") {
				t.Errorf("pod %s has interface %s that network-status does not list (%v)", c.pod.Name, n, names)
			}
		}
		if c.pod == multi {
			multiNs := ns
			// net1 to the peer's net1, both families, on the second segment.
			if len(ps) != 2 || len(ps[1].IPs) != 2 {
				t.Fatalf("peer network-status: %+v", ps)
			}
			for _, ip := range ps[1].IPs {
				if err := httpGet(multiNs, hostPort(ip, echoPort)); err != nil {
					t.Errorf("multi -> peer net1 %s: %v", ip, err)
				}
				if dev, kind, err := netcfg.HostRouteVia(ctx, ip); err != nil || kind != "unreachable" {
					t.Errorf("host route to secondary address %s: %s %s %v; want unreachable (guard)", ip, dev, kind, err)
				}
			}
			if out, _ := exec.Command("ip", "-n", multiNs, "-o", "route", "get", ps[1].IPs[0]).Output(); !strings.Contains(string(out), "dev net1") {
				t.Errorf("route to peer's net1 not via net1: %s", out)
			}
		}
	}
	// A missing NAD and an unsupported one: FailedCreatePodSandBox with
	// Multus's message, no IP, no network-status.
	for pod, msg := range map[string]string{
		"nonad":  `cannot find a network-attachment-definition (missing) in namespace (default)`,
		"badnad": `CNI plugin type "ipvlan" is not available`,
	} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			evs, err := e.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",reason=FailedCreatePodSandBox"})
			if err == nil && len(evs.Items) > 0 && strings.Contains(evs.Items[0].Message, msg) && evs.Items[0].Type == "Warning" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("pod %s: no FailedCreatePodSandBox event naming %q (%v)", pod, msg, err)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		p, err := e.client.CoreV1().Pods("default").Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.PodIP != "" || p.Annotations["k8s.v1.cni.cncf.io/network-status"] != "" || !strings.Contains(p.Status.Message, msg) {
			t.Errorf("pod %s: ip %q, network-status %q, message %q", pod, p.Status.PodIP, p.Annotations["k8s.v1.cni.cncf.io/network-status"], p.Status.Message)
		}
	}
}

// TestSvcZDown runs last in this file: down with a nodeport-block active
// removes the second segment, its guards and everything else.
func TestSvcZDown(t *testing.T) {
	e := svcCluster(t)
	mustSandbox(t, "fault", "add", "--name", svcName, "nodeport-block", e.st.Nodes[0].Name)
	s, err := state.Load(svcName)
	if err != nil {
		t.Fatal(err)
	}
	mustSandbox(t, "down", "--name", svcName)
	svcDown = true
	if nss, _ := cluster.Namespaces(svcName); len(nss) != 0 {
		t.Errorf("namespaces left: %v", nss)
	}
	for _, l := range []string{s.Bridge, s.Segment.Bridge} {
		if _, err := os.Stat("/sys/class/net/" + l); err == nil {
			t.Errorf("link %s left", l)
		}
	}
	for _, n := range s.Nodes {
		if _, err := os.Stat("/sys/class/net/" + s.SegmentHostVeth(n)); err == nil {
			t.Errorf("segment veth %s left", s.SegmentHostVeth(n))
		}
	}
	for _, g := range s.Guards {
		args := []string{"route", "show", "exact", g}
		if netcfg.IsV6(g) {
			args = append([]string{"-6"}, args...)
		}
		if out, _ := exec.Command("ip", args...).Output(); strings.TrimSpace(string(out)) != "" {
			t.Errorf("guard %s left: %s", g, out)
		}
	}
	for _, p := range s.Processes {
		if controlplane.Alive(p.PID) && strings.Contains(controlplane.Cmdline(p.PID), s.Dir) {
			t.Errorf("process %s (%d) left", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(s.Dir); err == nil {
		t.Errorf("state dir %s left", s.Dir)
	}
}
