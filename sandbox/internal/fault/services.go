package fault

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// Service-path faults (issue 12): endpoint-drop, nodeport-block,
// svc-rules-flush. They work the same in kube-proxy's iptables and
// nftables modes: the first two are nftables tables of our own hooked
// around kube-proxy's DNAT (priority -100), the third empties kube-proxy's
// own chains in whichever mode it runs.

// NodePortRange is the API server's default --service-node-port-range,
// which the sandbox keeps.
const NodePortRange = "30000-32767"

// splitRef parses NAMESPACE/NAME or NAME (namespace default).
func splitRef(ref string) (string, string) {
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	return "default", ref
}

// endpointDrop drops, in every node, packets kube-proxy DNAT'ed from one of
// the Service's addresses (ClusterIPs, external IPs, LoadBalancer IPs) or
// NodePorts to the pod: the Service path to that backend only. The filter
// hooks at priority -5 run after kube-proxy's DNAT, where conntrack knows
// both the original destination and the chosen backend; traffic to the
// pod IP itself (no DNAT) passes.
func (a *applier) endpointDrop(ctx context.Context, svcRef, podRef string) error {
	c, err := cluster.Client(a.st.Kubeconfig)
	if err != nil {
		return err
	}
	ns, name := splitRef(svcRef)
	svc, err := c.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return bad("fault endpoint-drop: service %s/%s: %v", ns, name, err)
	}
	pns, pname := splitRef(podRef)
	if pns != ns {
		return bad("fault endpoint-drop: pod %s/%s is not in the service's namespace %s", pns, pname, ns)
	}
	pod, err := c.CoreV1().Pods(pns).Get(ctx, pname, metav1.GetOptions{})
	if err != nil {
		return bad("fault endpoint-drop: pod %s/%s: %v", pns, pname, err)
	}
	if len(pod.Status.PodIPs) == 0 {
		return bad("fault endpoint-drop: pod %s/%s has no IP yet", pns, pname)
	}
	if !selects(svc, pod) {
		return bad("fault endpoint-drop: service %s/%s does not select pod %s (its selector %v)", ns, name, pname, svc.Spec.Selector)
	}
	vips := append([]string{}, svc.Spec.ClusterIPs...)
	vips = append(vips, svc.Spec.ExternalIPs...)
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			vips = append(vips, in.IP)
		}
	}
	// NodePorts by protocol: nft types `ct original proto-dst` only after
	// a `ct protocol` match (without one, nft 1.0.6 cannot parse the set).
	nodePorts := map[string][]string{}
	var protos []string
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			if nodePorts[proto] == nil {
				protos = append(protos, proto)
			}
			nodePorts[proto] = append(nodePorts[proto], fmt.Sprint(p.NodePort))
		}
	}
	var r rules
	for _, ip := range pod.Status.PodIPs {
		fam := "ip"
		if netcfg.IsV6(ip.IP) {
			fam = "ip6"
		}
		var same []string
		for _, v := range vips {
			if v != "None" && netcfg.IsV6(v) == netcfg.IsV6(ip.IP) {
				same = append(same, v)
			}
		}
		var rs []string
		if len(same) > 0 {
			rs = append(rs, fmt.Sprintf("ct status dnat %s daddr %s ct original %s daddr { %s } drop", fam, ip.IP, fam, strings.Join(same, ", ")))
		}
		for _, proto := range protos {
			rs = append(rs, fmt.Sprintf("ct status dnat %s daddr %s ct original protocol %s ct original proto-dst { %s } drop", fam, ip.IP, proto, strings.Join(nodePorts[proto], ", ")))
		}
		r.add("forward", rs)
		r.add("output", rs)
	}
	for _, n := range a.st.Nodes {
		if err := a.nft(ctx, n.Netns, r); err != nil {
			return err
		}
	}
	return nil
}

func selects(svc *corev1.Service, pod *corev1.Pod) bool {
	if len(svc.Spec.Selector) == 0 {
		return false
	}
	for k, v := range svc.Spec.Selector {
		if pod.Labels[k] != v {
			return false
		}
	}
	return true
}

// nodeportBlock drops the NodePort range to NODE's own addresses before
// kube-proxy's DNAT (prerouting and locally generated, priority -150): every
// NodePort of that node stops answering, other nodes' NodePorts and the
// Services' ClusterIPs keep working.
func (a *applier) nodeportBlock(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	addrs := append([]string{}, n.IPs...)
	if a.st.IPFamily != plan.IPv6 {
		addrs = append(addrs, "127.0.0.0/8") // iptables mode serves NodePorts on localhost too
	}
	m := "meta l4proto { tcp, udp } th dport " + NodePortRange + " drop"
	var r rules
	r.add("prerouting", matchAddr("daddr", addrs, m))
	r.add("output-early", matchAddr("daddr", addrs, m))
	return a.nft(ctx, n.Netns, r)
}

// kube-proxy's iptables chains: its fixed chains and the prefixes of its
// per-Service ones (pkg/proxy/iptables). kube-router's chains (KUBE-ROUTER-*,
// KUBE-POD-FW-*, KUBE-NWPLCY-*) and anything else are left alone.
var kubeProxyChains = []string{"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING",
	"KUBE-MARK-MASQ", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL", "KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"}

func isKubeProxyChain(c string) bool {
	for _, k := range kubeProxyChains {
		if c == k || (strings.HasSuffix(k, "-") && strings.HasPrefix(c, k)) {
			return true
		}
	}
	return false
}

// svcRulesFlush is an "iptables cleared" incident on NODE: every rule of
// kube-proxy's chains is gone (the chains and the jumps from the built-in
// chains stay; nftables mode: `nft flush table` of its tables). A running
// kube-proxy would not notice: it rewrites everything only on a full sync
// (at start, then every hour, or, in iptables mode, when its
// KUBE-PROXY-CANARY chain disappears, which a flush does not do); a
// partial sync on a Service or endpoint change rewrites the top-level
// chains and the changed Service's chains only. To make the fault
// deterministic it first stops NODE's kube-proxy (as kube-proxy-stop);
// remove starts it again, and its first full sync restores every rule.
//
// nftables mode needs one more step, found by TestServiceFaultsNFTables: a
// restarted kube-proxy (v1.34.4) does not rewrite per-endpoint chains that
// already exist, even in a full sync (epChainSkipUpdate: their content
// follows from their name), so after a flush they stay empty and every
// Service keeps failing ("connection refused" from its cluster-ips-check)
// until its endpoints change. As an operator would, remove first deletes
// the node's kube-proxy tables, then starts kube-proxy, which recreates them.
// In iptables mode a restart alone restores everything.
func (a *applier) svcRulesFlush(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	if err := a.stopKubeProxy(ctx, n.Name); err != nil {
		return err
	}
	var fams []string
	if a.st.IPFamily != plan.IPv6 {
		fams = append(fams, "ip")
	}
	if a.st.IPFamily != plan.IPv4 {
		fams = append(fams, "ip6")
	}
	if a.st.ProxyMode == plan.ProxyNFTables {
		// Undone before kube-proxy starts again (changes undo in reverse).
		a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "kube-proxy-nft-reset", Value: strings.Join(fams, " ")})
	}
	for _, fam := range fams {
		if a.st.ProxyMode == plan.ProxyNFTables {
			if err := netcfg.Run(ctx, "ip", "netns", "exec", n.Netns, "nft", "flush", "table", fam, "kube-proxy"); err != nil {
				return err
			}
			continue
		}
		bin := map[string]string{"ip": "iptables", "ip6": "ip6tables"}[fam]
		var in strings.Builder
		for _, table := range []string{"nat", "filter"} {
			out, err := netcfg.Output(ctx, "ip", "netns", "exec", n.Netns, bin+"-save", "-t", table)
			if err != nil {
				return err
			}
			fmt.Fprintf(&in, "*%s\n", table)
			for _, line := range strings.Split(out, "\n") {
				// ":CHAIN - [0:0]" redeclares a user chain: restore --noflush empties it.
				if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], ":") && isKubeProxyChain(f[0][1:]) {
					fmt.Fprintf(&in, "%s - [0:0]\n", f[0])
				}
			}
			in.WriteString("COMMIT\n")
		}
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.Netns, bin+"-restore", "--noflush")
		cmd.Stdin = strings.NewReader(in.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s-restore in %s: %w: %s", bin, n.Netns, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// resetKubeProxyTables deletes kube-proxy's nftables tables of the given
// families ("ip ip6") in netns; missing tables are fine.
func resetKubeProxyTables(ctx context.Context, netns, fams string) error {
	for _, fam := range strings.Fields(fams) {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", netns, "nft", "delete", "table", fam, "kube-proxy").CombinedOutput()
		if err != nil && !strings.Contains(string(out), "No such file") {
			return fmt.Errorf("nft delete table %s kube-proxy in %s: %w: %s", fam, netns, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
