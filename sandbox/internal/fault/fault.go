// Package fault injects network faults into a sandbox cluster with real
// kernel mechanisms (nftables tables in node namespaces, routes, MTU, tc) and
// removes them exactly. Every change is recorded in the cluster state.
//
// Each nftables fault is its own table (inet netdoctor_fault_<n>) in the
// affected node namespaces; a drop there is final whatever kube-proxy's own
// tables say, and deleting the table restores the previous behaviour.
package fault

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// ErrUnsupported means the fault needs a kernel feature this machine lacks
// (exit code 3): the fault is skipped, nothing was changed.
var ErrUnsupported = errors.New("unsupported on this machine")

// Kinds lists the faults with their arguments.
var Kinds = map[string]string{
	"link":                 "A B            drop all traffic between node A (and its pods) and node B (and its pods), both ways",
	"oneway":               "A B            drop new connections/flows from A (and its pods) to B; B -> A still works",
	"port":                 "NODE PORT [tcp|udp]  drop traffic to PORT on NODE and on NODE's pods",
	"isolate":              "POD            drop all traffic to and from a pod (NAMESPACE/NAME or NAME in default)",
	"pod-routes":           "NODE           every other node loses its route to NODE's pod CIDRs",
	"mtu":                  "NODE BYTES     lower the MTU of NODE's link to the switch (full-size packets to NODE's pods are lost)",
	"dns-down":             "               cluster DNS stops answering (udp/tcp 53 to kube-dns and CoreDNS pods dropped)",
	"delay":                "NODE DURATION  add latency on NODE's link (tc netem)",
	"loss":                 "NODE PERCENT   drop a random share of the packets NODE sends on its link (nftables numgen)",
	"kube-proxy-stop":      "NODE    stop NODE's kube-proxy (its rules stay as they were, new Services get none); remove starts it again",
	"conntrack-full":       "NODE    make NODE's conntrack table full (fill it to the host-wide nf_conntrack_max, or lower a per-netns max below the count)",
	"host-port":            "NODE PORT [tcp|udp]  a foreign process in NODE's network namespace holds PORT on all addresses",
	"endpoint-drop":        "SERVICE POD  drop traffic kube-proxy sends to POD for SERVICE (after DNAT); the pod IP itself still works",
	"nodeport-block":       "NODE    drop the NodePort range (" + NodePortRange + ") to NODE's addresses",
	"svc-rules-flush":      "NODE    stop NODE's kube-proxy and empty its chains (iptables or nftables); remove starts it again",
	"lb-speaker-stop":      "NODE    MetalLB's speaker pod leaves NODE (process stopped; up --load-balancer); remove brings it back",
	"ingress-down":         "               the Ingress controller and Gateway (traefik, up --ingress) is scaled to zero; remove scales it back",
	"kube-proxy-sync-fail": "NODE    NODE's kube-proxy keeps running but every sync fails (a chain it must delete is held by another rule; iptables mode)",
	"rp-filter-asymmetric": "NODE PEER  NODE routes PEER's IPv4 pods over a direct link (replies come back over the switch) and filters eth0 strictly (rp_filter 1)",
}

// Spec is a parsed fault request.
type Spec struct {
	Kind string
	Args []string
}

// ID is the stable key of a fault: kind and arguments.
func (s Spec) ID() string { return strings.TrimSpace(s.Kind + " " + strings.Join(s.Args, " ")) }

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", cluster.ErrBadInput, fmt.Sprintf(format, a...))
}

// Parse validates the words after `fault add|remove`.
func Parse(words []string) (Spec, error) {
	if len(words) == 0 {
		return Spec{}, bad("missing fault kind: one of %s", kindList())
	}
	s := Spec{Kind: words[0], Args: words[1:]}
	want := map[string][2]int{"link": {2, 2}, "oneway": {2, 2}, "port": {2, 3}, "isolate": {1, 1},
		"pod-routes": {1, 1}, "mtu": {2, 2}, "dns-down": {0, 0}, "delay": {2, 2}, "loss": {2, 2},
		"kube-proxy-stop": {1, 1}, "conntrack-full": {1, 1}, "host-port": {2, 3},
		"endpoint-drop": {2, 2}, "nodeport-block": {1, 1}, "svc-rules-flush": {1, 1},
		"lb-speaker-stop": {1, 1}, "ingress-down": {0, 0}, "kube-proxy-sync-fail": {1, 1}, "rp-filter-asymmetric": {2, 2}}
	n, ok := want[s.Kind]
	if !ok {
		return s, bad("unknown fault %q: one of %s", s.Kind, kindList())
	}
	if len(s.Args) < n[0] || len(s.Args) > n[1] {
		return s, bad("fault %s takes arguments: %s", s.Kind, strings.TrimSpace(strings.SplitN(Kinds[s.Kind], "  ", 2)[0]))
	}
	switch s.Kind {
	case "port", "host-port":
		if p, err := strconv.Atoi(s.Args[1]); err != nil || p < 1 || p > 65535 {
			return s, bad("fault %s: PORT %q must be 1-65535", s.Kind, s.Args[1])
		}
		if len(s.Args) == 2 {
			s.Args = append(s.Args, "tcp")
		}
		if s.Args[2] != "tcp" && s.Args[2] != "udp" {
			return s, bad("fault %s: protocol %q must be tcp or udp", s.Kind, s.Args[2])
		}
	case "mtu":
		if b, err := strconv.Atoi(s.Args[1]); err != nil || b < 576 || b > 9000 {
			return s, bad("fault mtu: BYTES %q must be 576-9000", s.Args[1])
		}
	case "delay":
		if d, err := time.ParseDuration(s.Args[1]); err != nil || d <= 0 {
			return s, bad("fault delay: DURATION %q must be like 100ms", s.Args[1])
		}
	case "loss":
		p, err := strconv.ParseFloat(strings.TrimSuffix(s.Args[1], "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return s, bad("fault loss: PERCENT %q must be in (0,100]", s.Args[1])
		}
		s.Args[1] = strconv.FormatFloat(p, 'f', -1, 64) + "%"
	case "link", "oneway":
		if s.Args[0] == s.Args[1] {
			return s, bad("fault %s: A and B must be different nodes", s.Kind)
		}
	case "rp-filter-asymmetric":
		if s.Args[0] == s.Args[1] {
			return s, bad("fault %s: NODE and PEER must be different nodes", s.Kind)
		}
	}
	return s, nil
}

func kindList() string {
	return "link, oneway, port, isolate, pod-routes, mtu, dns-down, delay, loss, kube-proxy-stop, conntrack-full, host-port, endpoint-drop, nodeport-block, svc-rules-flush, lb-speaker-stop, ingress-down, kube-proxy-sync-fail, rp-filter-asymmetric"
}

// Find returns the active fault matching spec words or an ID.
func Find(st *state.State, words []string) (int, error) {
	key := strings.Join(words, " ")
	if sp, err := Parse(words); err == nil {
		key = sp.ID()
	}
	for i, f := range st.Faults {
		if f.ID == key {
			return i, nil
		}
	}
	return -1, bad("no active fault %q in cluster %q (see `fault list`)", key, st.Name)
}

// Add applies a fault and records it in the state (saved by the caller).
func Add(ctx context.Context, st *state.State, sp Spec) (state.Fault, error) {
	for _, f := range st.Faults {
		if f.ID == sp.ID() {
			return f, bad("fault %q is already active", f.ID)
		}
	}
	f := state.Fault{ID: sp.ID(), Kind: sp.Kind, Args: sp.Args}
	a := &applier{st: st, f: &f, table: fmt.Sprintf("netdoctor_fault_%d", nextTable(st))}
	err := a.apply(ctx, sp)
	if err != nil {
		// Undo whatever part was applied, so a failed add changes nothing.
		if uerr := undo(ctx, st, f.Changes); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undoing partial fault: %w", uerr))
		}
		return f, err
	}
	st.Faults = append(st.Faults, f)
	return f, nil
}

// Remove undoes fault i and drops it from the state (saved by the caller).
func Remove(ctx context.Context, st *state.State, i int) error {
	if err := undo(ctx, st, st.Faults[i].Changes); err != nil {
		return err
	}
	st.Faults = append(st.Faults[:i], st.Faults[i+1:]...)
	return nil
}

func nextTable(st *state.State) int {
	max := 0
	for _, f := range st.Faults {
		for _, c := range f.Changes {
			var n int
			if _, err := fmt.Sscanf(c.Table, "netdoctor_fault_%d", &n); err == nil && n > max {
				max = n
			}
		}
	}
	return max + 1
}

type applier struct {
	st    *state.State
	f     *state.Fault
	table string
}

func (a *applier) node(name string) (*plan.Node, error) {
	n, err := a.st.NodeByName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", cluster.ErrBadInput, err)
	}
	return n, nil
}

func (a *applier) apply(ctx context.Context, sp Spec) error {
	switch sp.Kind {
	case "link", "oneway":
		na, err := a.node(sp.Args[0])
		if err != nil {
			return err
		}
		nb, err := a.node(sp.Args[1])
		if err != nil {
			return err
		}
		peer := append(append([]string{}, nb.IPs...), nb.PodCIDRs...)
		var r rules
		if sp.Kind == "link" {
			r.add("output", matchAddr("daddr", peer, "drop"))
			r.add("forward", matchAddr("daddr", peer, "drop"))
			r.add("forward", matchAddr("saddr", peer, "drop"))
			r.add("input", matchAddr("saddr", peer, "drop"))
		} else {
			if a.st.Overlay == plan.OverlayVXLAN {
				// The encapsulated packets are node-to-node UDP whose replies
				// use other source ports: conntrack sees each direction as
				// new. Only the inner flows count.
				r.add("output", []string{fmt.Sprintf("udp dport %d accept", plan.VXLANPort)})
			}
			r.add("output", matchAddr("daddr", peer, "ct state new drop"))
			r.add("forward", matchAddr("daddr", peer, "ct state new drop"))
		}
		return a.nft(ctx, na.Netns, r)
	case "port":
		n, err := a.node(sp.Args[0])
		if err != nil {
			return err
		}
		m := sp.Args[2] + " dport " + sp.Args[1] + " drop"
		var r rules
		r.add("input", []string{`iifname != "lo" ` + m})
		r.add("forward", matchAddr("daddr", n.PodCIDRs, m))
		r.add("output", matchAddr("daddr", n.PodCIDRs, m))
		return a.nft(ctx, n.Netns, r)
	case "isolate":
		node, ips, err := podIPs(ctx, a.st, sp.Args[0])
		if err != nil {
			return err
		}
		n, err := a.node(node)
		if err != nil {
			return err
		}
		var r rules
		r.add("forward", matchAddr("daddr", ips, "drop"))
		r.add("forward", matchAddr("saddr", ips, "drop"))
		r.add("output", matchAddr("daddr", ips, "drop"))
		r.add("input", matchAddr("saddr", ips, "drop"))
		return a.nft(ctx, n.Netns, r)
	case "dns-down":
		pods, err := dnsPodIPs(ctx, a.st)
		if err != nil {
			return err
		}
		m := "meta l4proto { tcp, udp } th dport 53 drop"
		var r rules
		// Before kube-proxy's DNAT (priority -100): queries to the Service IPs.
		r.add("prerouting", matchAddr("daddr", a.st.DNSIPs, m))
		r.add("output-early", matchAddr("daddr", a.st.DNSIPs, m))
		// After DNAT and for direct queries: the CoreDNS pods themselves.
		r.add("forward", matchAddr("daddr", pods, m))
		r.add("output", matchAddr("daddr", pods, m))
		for _, n := range a.st.Nodes {
			if err := a.nft(ctx, n.Netns, r); err != nil {
				return err
			}
		}
		return nil
	case "pod-routes":
		n, err := a.node(sp.Args[0])
		if err != nil {
			return err
		}
		for _, o := range a.st.Nodes {
			if o.Index == n.Index {
				continue
			}
			for _, rt := range netcfg.PodRouteLines(&a.st.Plan, *n) {
				route := strings.TrimPrefix(rt, "route add ")
				if err := netcfg.Batch(ctx, o.Netns, []string{"route del " + route}, false); err != nil {
					return err
				}
				a.f.Changes = append(a.f.Changes, state.Change{Netns: o.Netns, Type: "route-del", Route: route})
			}
		}
		return nil
	case "mtu":
		n, err := a.node(sp.Args[0])
		if err != nil {
			return err
		}
		bytes, _ := strconv.Atoi(sp.Args[1])
		old, err := linkMTU(ctx, n.Netns, netcfg.NodeLink)
		if err != nil {
			return err
		}
		if bytes >= old {
			return bad("fault mtu: BYTES %d must be below the current MTU %d of %s", bytes, old, n.Name)
		}
		if a.st.IPFamily != plan.IPv4 && bytes < 1280 {
			// Below 1280 the kernel removes IPv6 from the link for good.
			return bad("fault mtu: BYTES %d: IPv6 needs at least 1280", bytes)
		}
		if err := netcfg.Batch(ctx, n.Netns, []string{fmt.Sprintf("link set %s mtu %d", netcfg.NodeLink, bytes)}, false); err != nil {
			return err
		}
		a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "mtu", Link: netcfg.NodeLink, OldMTU: old})
		return nil
	case "loss":
		n, err := a.node(sp.Args[0])
		if err != nil {
			return err
		}
		var r rules
		r.add("postrouting", lossRules(sp.Args[1]))
		return a.nft(ctx, n.Netns, r)
	case "kube-proxy-stop":
		return a.stopKubeProxy(ctx, sp.Args[0])
	case "conntrack-full":
		return a.conntrackFull(ctx, sp.Args[0])
	case "host-port":
		return a.hostPort(ctx, sp.Args[0], sp.Args[1], sp.Args[2])
	case "endpoint-drop":
		return a.endpointDrop(ctx, sp.Args[0], sp.Args[1])
	case "nodeport-block":
		return a.nodeportBlock(ctx, sp.Args[0])
	case "svc-rules-flush":
		return a.svcRulesFlush(ctx, sp.Args[0])
	case "lb-speaker-stop":
		return a.stopSpeaker(ctx, sp.Args[0])
	case "ingress-down":
		return a.ingressDown(ctx)
	case "kube-proxy-sync-fail":
		return a.kubeProxySyncFail(ctx, sp.Args[0])
	case "rp-filter-asymmetric":
		return a.rpFilterAsymmetric(ctx, sp.Args[0], sp.Args[1])
	case "delay":
		n, err := a.node(sp.Args[0])
		if err != nil {
			return err
		}
		args := []string{"-n", n.Netns, "qdisc", "add", "dev", netcfg.NodeLink, "root", "netem", sp.Kind, sp.Args[1]}
		out, err := exec.CommandContext(ctx, "tc", args...).CombinedOutput()
		if err != nil {
			msg := strings.TrimSpace(string(out))
			if strings.Contains(msg, "kind is unknown") || strings.Contains(msg, "Unknown qdisc") || strings.Contains(msg, "No such file") {
				return fmt.Errorf("%w: fault %s skipped: tc netem is not available (the kernel has no sch_netem: %q)", ErrUnsupported, sp.Kind, msg)
			}
			return fmt.Errorf("tc %s: %w: %s", strings.Join(args, " "), err, msg)
		}
		a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "qdisc", Link: netcfg.NodeLink})
		return nil
	}
	return bad("unknown fault %q", sp.Kind)
}

// rules collects nft rules per chain.
type rules map[string][]string

func (r *rules) add(chain string, rs []string) {
	if *r == nil {
		*r = rules{}
	}
	(*r)[chain] = append((*r)[chain], rs...)
}

// chains maps our chain names to their hook and priority.
var chains = []struct{ name, hook, prio string }{
	{"prerouting", "prerouting", "-150"},
	{"output-early", "output", "-150"},
	{"input", "input", "-5"},
	{"forward", "forward", "-5"},
	{"output", "output", "-5"},
	{"postrouting", "postrouting", "-5"},
}

// matchAddr builds rules matching addresses/prefixes of each family.
func matchAddr(dir string, addrs []string, verdict string) []string {
	var v4, v6 []string
	for _, x := range addrs {
		if netcfg.IsV6(x) {
			v6 = append(v6, x)
		} else {
			v4 = append(v4, x)
		}
	}
	var out []string
	if len(v4) > 0 {
		out = append(out, fmt.Sprintf("ip %s { %s } %s", dir, strings.Join(v4, ", "), verdict))
	}
	if len(v6) > 0 {
		out = append(out, fmt.Sprintf("ip6 %s { %s } %s", dir, strings.Join(v6, ", "), verdict))
	}
	return out
}

func (a *applier) nft(ctx context.Context, netns string, r rules) error {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", a.table)
	for _, c := range chains {
		if len(r[c.name]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  chain %s {\n    type filter hook %s priority %s; policy accept;\n", strings.ReplaceAll(c.name, "-", "_"), c.hook, c.prio)
		for _, rule := range r[c.name] {
			fmt.Fprintf(&b, "    %s\n", rule)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", netns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s\n%s", netns, err, strings.TrimSpace(string(out)), b.String())
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: netns, Type: "nft-table", Table: a.table})
	return nil
}

// undo reverts changes in reverse order.
func undo(ctx context.Context, st *state.State, changes []state.Change) error {
	var errs []error
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		var err error
		switch c.Type {
		case "nft-table":
			err = netcfg.Run(ctx, "ip", "netns", "exec", c.Netns, "nft", "delete", "table", "inet", c.Table)
		case "route-del":
			err = netcfg.Batch(ctx, c.Netns, []string{"route add " + c.Route}, false)
		case "route-replace":
			err = netcfg.Batch(ctx, c.Netns, []string{"route replace " + c.Route}, false)
		case "link":
			err = netcfg.Batch(ctx, c.Netns, []string{"link del " + c.Link}, false)
		case syncFailKey:
			err = releaseHeldChain(ctx, c.Netns, c.Value)
		case "mtu":
			err = netcfg.Batch(ctx, c.Netns, []string{fmt.Sprintf("link set %s mtu %d", c.Link, c.OldMTU)}, false)
			if err == nil {
				err = flushPathMTUs(ctx, st)
			}
		case "qdisc":
			err = netcfg.Run(ctx, "tc", "-n", c.Netns, "qdisc", "del", "dev", c.Link, "root")
		case "process":
			err = KillFaultProcess(c.PID)
		case conntrackFillerKey:
			err = deleteFillerEntries(ctx, c.Netns)
		case "kube-proxy-stopped":
			err = startKubeProxy(st, c.Node)
		case "kube-proxy-nft-reset":
			err = resetKubeProxyTables(ctx, c.Netns, c.Value)
		case speakerStopped:
			err = startSpeaker(ctx, st, c.Node)
		case "sysctl":
			err = netcfg.SetSysctls(ctx, c.Netns, []string{c.Key + "=" + c.Value})
		case "scaled-down":
			err = ingressUp(ctx, st, c)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flushPathMTUs forgets the path MTUs the cluster's nodes and pods learned
// while a lowered MTU was in place (ICMP "fragmentation needed"/"packet too
// big" exceptions live about 10 minutes): without this, removing the fault
// would not restore the network, and checks right after it would still see
// "message too long" on the healed path.
func flushPathMTUs(ctx context.Context, st *state.State) error {
	out, err := netcfg.Output(ctx, "ip", "netns", "list")
	if err != nil {
		return err
	}
	prefix := "nd-" + st.Name + "-"
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		for _, fam := range []string{"-4", "-6"} {
			if err := netcfg.Run(ctx, "ip", "-n", f[0], fam, "route", "flush", "cache"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func linkMTU(ctx context.Context, netns, link string) (int, error) {
	out, err := netcfg.Output(ctx, "ip", "-n", netns, "-o", "link", "show", link)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "mtu" {
			return strconv.Atoi(f[i+1])
		}
	}
	return 0, fmt.Errorf("no mtu in %q", out)
}

// podIPs finds a pod's node and IPs. ref is NAMESPACE/NAME or NAME (default namespace).
func podIPs(ctx context.Context, st *state.State, ref string) (string, []string, error) {
	ns, name := "default", ref
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		ns, name = ref[:i], ref[i+1:]
	}
	c, err := cluster.Client(st.Kubeconfig)
	if err != nil {
		return "", nil, err
	}
	pod, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", nil, bad("fault isolate: pod %s/%s: %v", ns, name, err)
	}
	if pod.Spec.HostNetwork {
		return "", nil, bad("fault isolate: pod %s/%s uses the host network: isolate its node with link faults instead", ns, name)
	}
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 || pod.Spec.NodeName == "" {
		return "", nil, bad("fault isolate: pod %s/%s has no IP yet", ns, name)
	}
	return pod.Spec.NodeName, ips, nil
}

// dnsPodIPs lists the IPs of the CoreDNS pods.
func dnsPodIPs(ctx context.Context, st *state.State) ([]string, error) {
	c, err := cluster.Client(st.Kubeconfig)
	if err != nil {
		return nil, err
	}
	pods, err := c.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		return nil, fmt.Errorf("listing CoreDNS pods: %w", err)
	}
	var ips []string
	for _, p := range pods.Items {
		for _, ip := range p.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
	}
	return ips, nil
}
