package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Finding kinds of `netctl diagnose` (node facts; docs/output.md).
const (
	KindRouteMissing      = "route-missing"             // node X has no usable route to node Y's pod CIDR
	KindMTUMismatch       = "mtu-mismatch"              // a node's link MTU differs from the cluster's common MTU
	KindConntrackNearFull = "conntrack-near-full"       // conntrack entries >= 90% of nf_conntrack_max
	KindNeighbourNearFull = "neighbour-table-near-full" // neighbour entries >= gc_thresh2 or 90% of gc_thresh3
	KindFactsUnavailable  = "facts-unavailable"         // no facts from a node's agent
	KindConntrackDrops    = "conntrack-drops"           // insert_failed + drop + early_drop > 0 (cumulative)
	nearFullPercent       = 90
)

// AnalyzeFacts is AnalyzeFactsFull without the inconclusive rules.
func AnalyzeFacts(nodes []kube.Node, facts map[string]agent.NodeFacts, unavailable map[string]string) []report.Finding {
	out, _ := AnalyzeFactsFull(nodes, facts, unavailable)
	return out
}

// AnalyzeFactsFull names what is wrong on which node from the facts the
// host-network agents read, and what could not be judged. nodes are the cluster's (Linux) nodes; facts
// holds what each node's agent reported; unavailable says why a node has no
// facts. Pure: same input, same findings, in a stable order.
func AnalyzeFactsFull(nodes []kube.Node, facts map[string]agent.NodeFacts, unavailable map[string]string) ([]report.Finding, []Inconclusive) {
	var inc []Inconclusive
	nodes = slices.SortedFunc(slices.Values(nodes), func(a, b kube.Node) int { return cmp.Compare(a.Name, b.Name) })
	var out []report.Finding
	for _, n := range nodes {
		if reason, ok := unavailable[n.Name]; ok {
			out = append(out, report.Finding{Kind: KindFactsUnavailable, Nodes: []string{n.Name}, Reason: reason,
				Summary:  fmt.Sprintf("no facts from node %s: %s", n.Name, reason),
				Evidence: "its host-network agent could not be asked; nothing on this node was checked"})
		}
	}
	for _, n := range nodes {
		if f, ok := facts[n.Name]; ok {
			fs, i := routeFindings(n, nodes, f)
			out = append(out, fs...)
			inc = append(inc, i...)
		}
	}
	out = append(out, mtuFindings(nodes, facts)...)
	for _, n := range nodes {
		f, ok := facts[n.Name]
		if !ok {
			continue
		}
		out = append(out, sysctlFindings(n, f)...)
		out = append(out, neighbourFindings(n, nodes, f)...)
		if s := f.ConntrackStats; s != nil && s.InsertFailed+s.Drop+s.EarlyDrop > 0 {
			sum := s.InsertFailed + s.Drop + s.EarlyDrop
			out = append(out, report.Finding{Kind: KindConntrackDrops, Nodes: []string{n.Name},
				Summary: fmt.Sprintf("node %s: conntrack dropped packets: insert_failed %d, drop %d, early_drop %d (since the namespace was made): connections were lost (table full, or racing inserts such as parallel UDP DNS queries)",
					n.Name, s.InsertFailed, s.Drop, s.EarlyDrop),
				Evidence: "/proc/net/stat/nf_conntrack, summed over CPUs", Failed: int(sum)})
		}
		if c := f.Conntrack; c.Count >= 0 && c.Max > 0 && c.Count*100 >= c.Max*nearFullPercent {
			out = append(out, report.Finding{Kind: KindConntrackNearFull, Nodes: []string{n.Name},
				Summary:  fmt.Sprintf("node %s: conntrack table %d%% full (%d of %d entries): new connections will be dropped", n.Name, c.Count*100/c.Max, c.Count, c.Max),
				Evidence: "nf_conntrack_count and nf_conntrack_max", Failed: c.Count, Total: c.Max})
		}
		entries, gc := len(f.Neighbours), f.NeighGC4
		if (gc[1] > 0 && entries >= gc[1]) || (gc[2] > 0 && entries*100 >= gc[2]*nearFullPercent) {
			out = append(out, report.Finding{Kind: KindNeighbourNearFull, Nodes: []string{n.Name}, Family: probe.IPv4,
				Summary:  fmt.Sprintf("node %s: %d IPv4 neighbour entries, gc_thresh2 %d, gc_thresh3 %d: neighbours get evicted, new ones may fail", n.Name, entries, gc[1], gc[2]),
				Evidence: "/proc/net/arp and net.ipv4.neigh.default.gc_thresh2/3", Failed: entries, Total: gc[2]})
		}
	}
	return out, inc
}

// routeFindings lists the pod CIDRs of other nodes that x cannot route to:
// the route the policy rules and tables pick (routeFor) is missing or a
// reject (unreachable, prohibit, blackhole) route. A CIDR reached only by
// a default route is inconclusive unless its next hop is the owner node:
// whether that gateway carries pod CIDRs (a cloud route table, a BGP peer)
// is not visible from the node.
func routeFindings(x kube.Node, nodes []kube.Node, f agent.NodeFacts) ([]report.Finding, []Inconclusive) {
	var missing, owners, viaDefault []string
	fams := map[probe.Family]bool{}
	for _, y := range nodes {
		if y.Name == x.Name {
			continue
		}
		for _, c := range y.PodCIDRs {
			cidr, err := netip.ParsePrefix(c)
			if err != nil {
				continue
			}
			r, how := routeFor(f, cidr)
			switch {
			case r != nil && !r.Reject && r.Dst != "0.0.0.0/0" && r.Dst != "::/0":
				continue
			case r != nil && !r.Reject:
				if slices.Contains(y.InternalIPs, r.Gateway) {
					continue // the default route's next hop is the owner itself
				}
				viaDefault = append(viaDefault, fmt.Sprintf("%s of %s (default route via %s dev %s%s)", c, y.Name, cmp.Or(r.Gateway, "-"), cmp.Or(r.Iface, "-"), how))
				continue
			case r != nil:
				how = "only the reject route " + r.Dst + how
			default:
				how = "no route" + how
			}
			missing = append(missing, fmt.Sprintf("%s of %s (%s)", c, y.Name, how))
			if !slices.Contains(owners, y.Name) {
				owners = append(owners, y.Name)
			}
			fams[familyOfPrefix(cidr)] = true
		}
	}
	var inc []Inconclusive
	if len(viaDefault) > 0 {
		inc = append(inc, Inconclusive{Rule: KindRouteMissing, Nodes: []string{x.Name},
			Reason: "reached only through the default route, whose next hop is not the owner node (whether it routes pod CIDRs is not visible from the node): " + strings.Join(viaDefault, "; ")})
	}
	if len(missing) == 0 {
		return nil, inc
	}
	fd := report.Finding{Kind: KindRouteMissing, Nodes: append([]string{x.Name}, owners...),
		Summary:  fmt.Sprintf("node %s has no route to the pod CIDRs of %s: its traffic to their pods is dropped", x.Name, strings.Join(owners, ", ")),
		Evidence: "unrouted: " + strings.Join(missing, "; "),
		Target:   strings.Join(cidrsOf(missing), ","),
		Failed:   len(missing)}
	if len(fams) == 1 {
		for f := range fams {
			fd.Family = f
		}
	}
	return []report.Finding{fd}, inc
}

// routeFor is the route the kernel picks for traffic to cidr, as `ip
// route get` would for a packet with no source, mark or interface: the
// policy rules in priority order (those selecting by source, interface or
// mark are skipped: pod traffic to another node does not depend on them
// in the CNIs that route by table), each lookup taking the longest match
// of its table. Facts without rules (older agents) use the main table.
// how names a table other than main.
func routeFor(f agent.NodeFacts, cidr netip.Prefix) (*agent.Route, string) {
	fam := "IPv4"
	if cidr.Addr().Is6() {
		fam = "IPv6"
	}
	lookup := func(table int) *agent.Route {
		var best *agent.Route
		bestBits := -1
		for i := range f.Routes {
			r := &f.Routes[i]
			t := r.Table
			if t == 0 {
				t = 254
			}
			p, err := netip.ParsePrefix(r.Dst)
			if err != nil || t != table || p.Addr().Is4() != cidr.Addr().Is4() || p.Bits() > cidr.Bits() || !p.Contains(cidr.Addr()) {
				continue
			}
			if p.Bits() > bestBits {
				best, bestBits = r, p.Bits()
			}
		}
		return best
	}
	rules := slices.Clone(f.Rules)
	slices.SortStableFunc(rules, func(a, b agent.RoutingRule) int { return cmp.Compare(a.Priority, b.Priority) })
	if len(rules) == 0 {
		rules = []agent.RoutingRule{{Family: fam, Action: "lookup", Table: 254}}
	}
	for _, ru := range rules {
		if ru.Family != fam || ru.Src != "" || ru.Iif != "" || ru.Oif != "" || ru.Fwmark != 0 {
			continue
		}
		if ru.Dst != "" {
			p, err := netip.ParsePrefix(ru.Dst)
			if err != nil || p.Bits() > cidr.Bits() || !p.Contains(cidr.Addr()) {
				continue
			}
		}
		switch ru.Action {
		case "lookup":
			r := lookup(ru.Table)
			if r == nil || r.Type == "throw" {
				continue
			}
			how := ""
			if ru.Table != 254 {
				how = fmt.Sprintf(", table %d by rule %d", ru.Table, ru.Priority)
			}
			return r, how
		case "blackhole", "unreachable", "prohibit":
			return &agent.Route{Dst: cmp.Or(ru.Dst, "rule"), Reject: true}, fmt.Sprintf(", rule %d %s", ru.Priority, ru.Action)
		}
	}
	return nil, ""
}

// cidrsOf takes the CIDR (first word) of each "CIDR of NODE (...)" entry.
func cidrsOf(entries []string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i], _, _ = strings.Cut(e, " ")
	}
	return out
}

func familyOfPrefix(p netip.Prefix) probe.Family {
	if p.Addr().Is4() {
		return probe.IPv4
	}
	return probe.IPv6
}

// NodeMTU is the MTU of the interface holding one of node's InternalIPs;
// 0 when no interface holds one.
func NodeMTU(n kube.Node, f agent.NodeFacts) int {
	for _, ip := range n.InternalIPs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		for _, it := range f.Interfaces {
			for _, s := range it.Addrs {
				if p, err := netip.ParsePrefix(s); err == nil && p.Addr() == a {
					return it.MTU
				}
			}
		}
	}
	return 0
}

// mtuFindings names every node whose node-IP link MTU differs from the most
// common one (ties: the larger MTU counts as the norm, since a smaller
// link is what drops full-size packets).
func mtuFindings(nodes []kube.Node, facts map[string]agent.NodeFacts) []report.Finding {
	mtus := map[string]int{}
	count := map[int]int{}
	for _, n := range nodes {
		f, ok := facts[n.Name]
		if !ok {
			continue
		}
		if m := NodeMTU(n, f); m > 0 {
			mtus[n.Name] = m
			count[m]++
		}
	}
	common := 0
	for m, c := range count {
		if c > count[common] || (c == count[common] && m > common) {
			common = m
		}
	}
	var out []report.Finding
	for _, n := range nodes {
		m, ok := mtus[n.Name]
		if !ok || m == common {
			continue
		}
		out = append(out, report.Finding{Kind: KindMTUMismatch, Nodes: []string{n.Name},
			Summary: fmt.Sprintf("node %s: MTU %d on its node link, the other nodes have %d: packets larger than %d to or from %s are lost",
				n.Name, m, common, min(m, common), n.Name),
			Evidence: fmt.Sprintf("%d of %d nodes have MTU %d on the link holding their InternalIP", count[common], len(mtus), common),
			Failed:   1, Total: len(mtus)})
	}
	return out
}

// WithPodAddrs fills the pod CIDRs of nodes that have none in
// spec.podCIDRs (Calico, Cilium and other CNIs allocate their own) with
// the addresses their running pods actually use, as host prefixes: the
// route rules then check routes to what the CNI uses.
func WithPodAddrs(nodes []kube.Node, pods []kube.Pod) []kube.Node {
	out := slices.Clone(nodes)
	for i := range out {
		if len(out[i].PodCIDRs) > 0 {
			continue
		}
		var cidrs []string
		for _, p := range pods {
			if p.Node != out[i].Name || p.HostNetwork {
				continue
			}
			for _, ip := range p.IPs {
				if a, err := netip.ParseAddr(ip); err == nil {
					cidrs = append(cidrs, netip.PrefixFrom(a, a.BitLen()).String())
				}
			}
		}
		slices.Sort(cidrs)
		out[i].PodCIDRs = slices.Compact(cidrs)
	}
	return out
}
