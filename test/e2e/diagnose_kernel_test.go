package e2e

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// kernelFinding is the part of a diagnose finding these tests read.
type kernelFinding struct {
	Kind     string   `json:"kind"`
	Protocol string   `json:"protocol,omitempty"`
	Nodes    []string `json:"nodes"`
	Target   string   `json:"target"`
	Family   string   `json:"family"`
	Summary  string   `json:"summary"`
}

// kernelOutput is the minimal view of `netctl diagnose -o json` these tests use.
type kernelOutput struct {
	Facts map[string]struct {
		Sysctls *struct {
			IPForward      int `json:"ipForward"`
			IPv6Forwarding int `json:"ipv6Forwarding"`
		} `json:"sysctls"`
		ConntrackStats *struct {
			InsertFailed, Drop, EarlyDrop uint64
		} `json:"conntrackStats"`
		ConntrackDst []struct {
			IP      string `json:"ip"`
			Count   int    `json:"count"`
			Skipped string `json:"skipped"`
		} `json:"conntrackDst"`
		Interfaces []struct {
			Name      string `json:"name"`
			Kind      string `json:"kind"`
			Peer      int    `json:"peer"`
			OperState string `json:"operState"`
		} `json:"interfaces"`
	} `json:"facts"`
	Findings      []kernelFinding `json:"findings"`
	PodInterfaces []struct {
		Node  string `json:"node"`
		Pod   string `json:"pod"`
		Iface string `json:"iface"`
		Link  *struct {
			Kind      string `json:"kind"`
			OperState string `json:"operState"`
		} `json:"link"`
	} `json:"podInterfaces"`
}

// dnsPod is one CoreDNS pod as kubectl shows it.
type dnsPod struct{ Name, Node, IPv4, IPv6 string }

func (c *cluster) dnsPods(t *testing.T) []dnsPod {
	t.Helper()
	var pl struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct{ NodeName string }
			Status   struct{ PodIPs []struct{ IP string } }
		}
	}
	c.kubectlJSON(t, &pl, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns")
	var out []dnsPod
	for _, it := range pl.Items {
		p := dnsPod{Name: it.Metadata.Name, Node: it.Spec.NodeName}
		for _, ip := range it.Status.PodIPs {
			if !strings.Contains(ip.IP, ":") {
				p.IPv4 = ip.IP
			} else {
				p.IPv6 = ip.IP
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatal("no CoreDNS pods")
	}
	return out
}

func diagnoseKernel(t *testing.T, c *cluster, dir string, flags ...string) (kernelOutput, run) {
	t.Helper()
	var out kernelOutput
	return out, diagnoseInto(t, c, dir, &out, flags...)
}

// diagnoseInto runs `netctl diagnose -o json` and decodes stdout into out
// (the test's own minimal type).
func diagnoseInto(t *testing.T, c *cluster, dir string, out any, flags ...string) run {
	t.Helper()
	args := append([]string{"diagnose", "--kubeconfig", c.Kubeconfig, "-o", "json"}, flags...)
	r := netctl(t, dir, args...)
	if err := json.Unmarshal([]byte(r.Stdout), out); err != nil {
		t.Fatalf("netctl %s: exit %d, stdout is not JSON (%v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, err, r.Stdout, r.Stderr)
	}
	return r
}

// diagnoseCluster is the shared dual-stack cluster name with its node
// names sorted.
func diagnoseCluster(t *testing.T, name string, nodes int, extra ...string) (*cluster, []string) {
	t.Helper()
	c := sharedCluster(t, name, nodes, "dual", extra...)
	names := c.nodeNames()
	sort.Strings(names)
	return c, names
}

// netnsOf returns the network namespace of node name from `status -o json`.
func (c *cluster) netnsOf(t *testing.T, name string) string {
	t.Helper()
	out, err := sandbox(time.Minute, "status", "--name", c.Name, "-o", "json")
	if err != nil {
		t.Fatalf("sandbox status: %v\n%s", err, out)
	}
	var st struct {
		Nodes []struct{ Name, Netns string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Name == name && n.Netns != "" {
			return n.Netns
		}
	}
	t.Fatalf("no netns for node %s in status:\n%s", name, out)
	return ""
}

// inNetns runs cmd in netns ns (a namespace the sandbox created) and fails t on error.
func inNetns(t *testing.T, ns string, cmd ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, cmd...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v\n%s", ns, strings.Join(cmd, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// setSysctl writes a sysctl inside ns and restores the old value when t ends.
func setSysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	old := inNetns(t, ns, "sysctl", "-n", key)
	inNetns(t, ns, "sysctl", "-w", key+"="+value)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-w", key+"="+old).CombinedOutput(); err != nil {
			t.Errorf("restoring %s=%s in %s: %v\n%s", key, old, ns, err, out)
		}
	})
}

// ipv6Addrs lists the IPv6 addresses (CIDR) of dev in ns.
func ipv6Addrs(t *testing.T, ns, dev string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(inNetns(t, ns, "ip", "-6", "-o", "addr", "show", "dev", dev), "\n") {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet6" {
				out = append(out, f[i+1])
			}
		}
	}
	return out
}

// TestDiagnoseKernel: the kernel facts (sysctls, neighbours, pod veths,
// conntrack statistics) name exactly the node a real kernel change was made
// on, and nothing on a healthy cluster.
func TestDiagnoseKernel(t *testing.T) {
	c, names := diagnoseCluster(t, "e2edx", 4)
	dir := t.TempDir()

	healthy := func(t *testing.T) {
		out, r := diagnoseKernel(t, c, dir)
		if r.Code != 0 || len(out.Findings) != 0 {
			t.Fatalf("healthy cluster: exit %d, findings %+v\n%s", r.Code, out.Findings, r.Stderr)
		}
		for _, name := range names {
			f := out.Facts[name]
			if f.Sysctls == nil || f.Sysctls.IPForward != 1 || f.Sysctls.IPv6Forwarding != 1 {
				t.Errorf("node %s sysctls %+v, want forwarding on in both families", name, f.Sysctls)
			}
		}
		// Every CoreDNS pod is matched to an up host veth on its node.
		for _, p := range c.dnsPods(t) {
			found := false
			for _, v := range out.PodInterfaces {
				if v.Pod == "kube-system/"+p.Name {
					found = v.Node == p.Node && v.Link != nil && v.Link.Kind == "veth" && v.Link.OperState == "UP"
				}
			}
			if !found {
				t.Errorf("CoreDNS pod %s on %s not matched to an up host veth: %+v", p.Name, p.Node, out.PodInterfaces)
			}
		}
	}
	t.Run("healthy", healthy)

	// One sysctl set to its breaking value on one node: exactly that
	// node and sysctl are named, with the value.
	sysctlCase := func(x, key, value string) func(t *testing.T) {
		return func(t *testing.T) {
			setSysctl(t, c.netnsOf(t, x), key, value)
			out, r := diagnoseKernel(t, c, dir)
			if r.Code != 1 {
				t.Errorf("exit %d, want 1", r.Code)
			}
			want := []kernelFinding{{Kind: "sysctl-breaks-pod-traffic", Nodes: []string{x}, Target: key, Family: "IPv4"}}
			var got []kernelFinding
			for _, f := range out.Findings {
				if !strings.Contains(f.Summary, "= "+value) {
					t.Errorf("summary lacks the breaking value: %s", f.Summary)
				}
				f.Summary = ""
				got = append(got, f)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("findings %+v, want %+v", got, want)
			}
		}
	}
	t.Run("ip-forward-off", sysctlCase(names[1], "net.ipv4.ip_forward", "0"))
	t.Run("rp-filter-asymmetric", func(t *testing.T) { rpFilterAsymmetric(t, c, dir, names) })

	t.Run("neighbour-failed", func(t *testing.T) {
		x, y := names[0], names[2]
		ns := c.netnsOf(t, x)
		var yip string
		for _, a := range c.node(y).IPs {
			if a.Is4() {
				yip = a.String()
			}
		}
		// X drops every ARP reply from Y's node IP, then forgets Y: its next
		// packet to Y leaves a neighbour entry INCOMPLETE, then FAILED.
		inNetns(t, ns, "nft", "add table arp ndtest; add chain arp ndtest in { type filter hook input priority 0; }; add rule arp ndtest in arp saddr ip "+yip+" drop")
		t.Cleanup(func() {
			exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "arp", "ndtest").Run()
			exec.Command("ip", "-n", ns, "neigh", "flush", "to", yip).Run()
		})
		inNetns(t, ns, "ip", "neigh", "flush", "to", yip)
		exec.Command("ip", "netns", "exec", ns, "ping", "-c", "2", "-W", "1", yip).Run()
		if st := inNetns(t, ns, "ip", "neigh", "show", "to", yip); !strings.Contains(st, "FAILED") && !strings.Contains(st, "INCOMPLETE") {
			t.Fatalf("neighbour entry of %s on %s: %q, want FAILED or INCOMPLETE", yip, x, st)
		}
		out, r := diagnoseKernel(t, c, dir)
		if r.Code != 1 {
			t.Errorf("exit %d, want 1", r.Code)
		}
		want := []kernelFinding{{Kind: "neighbour-failed", Nodes: []string{x, y}, Target: yip, Family: "IPv4"}}
		var got []kernelFinding
		for _, f := range out.Findings {
			f.Summary = ""
			got = append(got, f)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("findings %+v, want %+v", got, want)
		}
	})

	t.Run("pod-veth-down", func(t *testing.T) {
		p := c.dnsPods(t)[0]
		ns := c.netnsOf(t, p.Node)
		// The node's host route to the pod names its veth (`PODIP dev vethX`).
		f := strings.Fields(inNetns(t, ns, "ip", "route", "show", p.IPv4+"/32"))
		if len(f) < 3 || f[1] != "dev" {
			t.Fatalf("route to %s on %s: %v", p.IPv4, p.Node, f)
		}
		veth := f[2]
		// Setting the link down flushes the pod's host routes: keep them
		// to put back exactly.
		routes := [][]string{f}
		if p.IPv6 != "" {
			if r6 := strings.Fields(inNetns(t, ns, "ip", "-6", "route", "show", p.IPv6+"/128")); len(r6) > 0 {
				routes = append(routes, append([]string{"-6"}, r6...))
			}
		}
		// and its IPv6 addresses (fe80::1, the pods' gateway).
		addrs6 := ipv6Addrs(t, ns, veth)
		inNetns(t, ns, "ip", "link", "set", veth, "down")
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "-n", ns, "link", "set", veth, "up").CombinedOutput(); err != nil {
				t.Errorf("restoring %s up in %s: %v\n%s", veth, ns, err, out)
			}
			have := ipv6Addrs(t, ns, veth)
			for _, a := range addrs6 {
				if !slices.Contains(have, a) {
					if out, err := exec.Command("ip", "-n", ns, "addr", "add", a, "dev", veth, "nodad").CombinedOutput(); err != nil {
						t.Errorf("restoring %s on %s: %v\n%s", a, veth, err, out)
					}
				}
			}
			for _, r := range routes {
				args := []string{"-n", ns}
				if r[0] == "-6" {
					args, r = append(args, "-6"), r[1:]
				}
				args = append(append(args, "route", "replace"), r...)
				if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
					t.Errorf("restoring route: ip %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
		out, r := diagnoseKernel(t, c, dir)
		if r.Code != 1 {
			t.Errorf("exit %d, want 1", r.Code)
		}
		// The replica behind the down veth answers no node's DNS query: the
		// DNS rule names the same pod.
		want := []kernelFinding{{Kind: "pod-veth-down", Nodes: []string{p.Node}, Target: "kube-system/" + p.Name},
			{Kind: "dns-replica-failing", Protocol: "dns", Nodes: []string{p.Node}, Target: "kube-system/" + p.Name}}
		var got []kernelFinding
		for _, f := range out.Findings {
			if f.Kind == "pod-veth-down" && !strings.Contains(f.Summary, veth) {
				t.Errorf("summary does not name %s: %s", veth, f.Summary)
			}
			f.Summary = ""
			got = append(got, f)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("findings %+v, want %+v", got, want)
		}
	})
	t.Run("conntrack-dst", func(t *testing.T) {
		x := names[3]
		vip := ""
		for _, ip := range c.DNSIPs {
			if !strings.Contains(ip, ":") {
				vip = ip
			}
		}
		// Three UDP sockets from X's namespace to the DNS Service VIP (a
		// sandbox address): three conntrack entries with that original dst.
		inNetns(t, c.netnsOf(t, x), "bash", "-c", "for i in 1 2 3; do echo probe > /dev/udp/"+vip+"/53; done")
		out, r := diagnoseKernel(t, c, dir, "--conntrack-dst", vip)
		if r.Code != 0 || len(out.Findings) != 0 {
			t.Errorf("exit %d, findings %+v", r.Code, out.Findings)
		}
		for _, name := range names {
			d := out.Facts[name].ConntrackDst
			if len(d) != 1 || d[0].IP != vip || d[0].Skipped != "" || d[0].Count < 0 {
				t.Errorf("node %s conntrackDst %+v, want a count toward %s", name, d, vip)
				continue
			}
			if name == x && d[0].Count < 3 {
				t.Errorf("node %s: %d entries toward %s, want >= 3", name, d[0].Count, vip)
			}
			if s := out.Facts[name].ConntrackStats; s == nil {
				t.Errorf("node %s: no conntrack stats", name)
			}
		}
	})

	t.Run("one-node", func(t *testing.T) {
		x, y := names[2], names[0]
		setSysctl(t, c.netnsOf(t, x), "net.ipv6.conf.all.forwarding", "0")
		out, r := diagnoseKernel(t, c, dir, "--node", y)
		if r.Code != 0 || len(out.Findings) != 0 || len(out.Facts) != 1 || out.Facts[y].Sysctls == nil {
			t.Errorf("--node %s (the fault is on %s): exit %d, findings %+v, facts of %d nodes", y, x, r.Code, out.Findings, len(out.Facts))
		}
		out, r = diagnoseKernel(t, c, dir, "--node", x)
		if r.Code != 1 || len(out.Facts) != 1 || len(out.Findings) != 1 || out.Findings[0].Kind != "sysctl-breaks-pod-traffic" ||
			!reflect.DeepEqual(out.Findings[0].Nodes, []string{x}) || out.Findings[0].Target != "net.ipv6.conf.all.forwarding" {
			t.Errorf("--node %s: exit %d, facts of %d nodes, findings %+v", x, r.Code, len(out.Facts), out.Findings)
		}
		if r := netctl(t, dir, "diagnose", "--kubeconfig", c.Kubeconfig, "--node", "no-such-node"); r.Code != 2 || !strings.Contains(r.Stderr, "no-such-node") {
			t.Errorf("unknown node: exit %d\n%s", r.Code, r.Stderr)
		}
	})

	// Every change above was undone: the cluster is healthy again.
	t.Run("healthy-again", healthy)
}

// rpFilterAsymmetric: strict reverse-path filtering on one node with real
// asymmetric routing (sandbox fault rp-filter-asymmetric: x routes y's IPv4
// pods over a direct link, y answers over the switch, x's eth0 has
// rp_filter 1). The IPv4 checks between x and y fail, every other pair
// passes, and diagnose names exactly x and the sysctl.
func rpFilterAsymmetric(t *testing.T, c *cluster, dir string, names []string) {
	// y hosts no CoreDNS replica, so no DNS query of any node crosses the
	// broken path and the sysctl is the only finding.
	dnsNodes := map[string]bool{}
	for _, p := range c.dnsPods(t) {
		dnsNodes[p.Node] = true
	}
	var x, y string
	for _, n := range names {
		switch {
		case y == "" && !dnsNodes[n]:
			y = n
		case x == "":
			x = n
		}
	}
	if x == "" || y == "" {
		t.Fatalf("no node without CoreDNS among %v (CoreDNS on %v)", names, dnsNodes)
	}
	c.fault(t, "rp-filter-asymmetric", x, y)
	xns, yns := c.netnsOf(t, x), c.netnsOf(t, y)
	ypod, xpod := c.node(y).PodCIDRs[0].Addr().Next(), c.node(x).PodCIDRs[0].Addr().Next()
	// The asymmetry is real: x reaches y's pods over the direct link, y
	// reaches x's over eth0.
	if r := inNetns(t, xns, "ip", "route", "get", ypod.String()); !strings.Contains(r, "dev ndasym") {
		t.Fatalf("%s's route to %s: %s, want the direct link", x, ypod, r)
	}
	if r := inNetns(t, yns, "ip", "route", "get", xpod.String()); !strings.Contains(r, "dev eth0") {
		t.Fatalf("%s's route to %s: %s, want eth0", y, xpod, r)
	}

	all := allPairs(c, c, families(c.Family))
	cdir := workdir(t)
	rep, r := check(t, c, cdir, "--mode", "pod", "--protocol", "tcp")
	// The check's pod-network agents leave with the subtest: the shared
	// cluster's next users expect only diagnose's own objects.
	t.Cleanup(func() {
		if r := netctl(t, cdir, "clean", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
			t.Errorf("netctl clean: exit %d\n%s", r.Code, r.Stderr)
		}
	})
	assertFailed(t, rep, r, all, pairsWhere(all, func(k key) bool {
		return k.Family == probe.IPv4 && ((k.Src == x && k.Dst == y) || (k.Src == y && k.Dst == x))
	}), "", probe.ClassTimeout)

	// rp_filter is the cause: from x, y's pod-network agent answers a ping
	// only while x's eth0 filter is loose.
	var pod struct{ Status struct{ PodIP string } }
	c.kubectlJSON(t, &pod, "-n", "netdoctor-system", "get", "pod", agentPod(t, c, "netdoctor-system", y))
	ping := func() error {
		return exec.Command("ip", "netns", "exec", xns, "ping", "-c", "1", "-W", "2", pod.Status.PodIP).Run()
	}
	if ping() == nil {
		t.Errorf("%s pings %s's pod %s despite strict rp_filter", x, y, pod.Status.PodIP)
	}
	inNetns(t, xns, "sysctl", "-w", "net.ipv4.conf.eth0.rp_filter=0")
	err := ping()
	inNetns(t, xns, "sysctl", "-w", "net.ipv4.conf.eth0.rp_filter=1")
	if err != nil {
		t.Errorf("%s cannot ping %s's pod %s with rp_filter 0: %v", x, y, pod.Status.PodIP, err)
	}

	out, r := diagnoseKernel(t, c, dir)
	if r.Code != 1 {
		t.Errorf("exit %d, want 1", r.Code)
	}
	want := []kernelFinding{{Kind: "sysctl-breaks-pod-traffic", Nodes: []string{x}, Target: "net.ipv4.conf.eth0.rp_filter", Family: "IPv4"}}
	var got []kernelFinding
	for _, f := range out.Findings {
		if !strings.Contains(f.Summary, "= 1") {
			t.Errorf("summary lacks the breaking value: %s", f.Summary)
		}
		f.Summary = ""
		got = append(got, f)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings %+v, want %+v", got, want)
	}
}
