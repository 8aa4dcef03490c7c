package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// KindSysctl: a node's kernel setting drops or misroutes pod traffic
// (target: the sysctl's name).
const KindSysctl = "sysctl-breaks-pod-traffic"

// sysctlFindings names each sysctl of node n whose value breaks pod
// networking. Unknown values (-1, or facts from an agent that did not read
// sysctls) are inconclusive and give no finding.
func sysctlFindings(n kube.Node, f agent.NodeFacts) []report.Finding {
	s := f.Sysctls
	if s == nil {
		return nil
	}
	var out []report.Finding
	add := func(name string, fam probe.Family, value int, why string) {
		out = append(out, report.Finding{Kind: KindSysctl, Nodes: []string{n.Name}, Target: name, Family: fam,
			Summary:  fmt.Sprintf("node %s: %s = %d: %s", n.Name, name, value, why),
			Evidence: "/proc/sys/" + strings.ReplaceAll(strings.TrimPrefix(name, "net."), ".", "/") + " read by the node's host-network agent",
			Failed:   1, Total: 1})
	}
	has4, has6 := families(n)
	if has4 && s.IPForward == 0 {
		add("net.ipv4.ip_forward", probe.IPv4, 0, "the node does not forward IPv4: pods on it cannot reach or be reached from other nodes, and Service traffic to them is dropped")
	}
	if has6 && s.IPv6Forwarding == 0 {
		add("net.ipv6.conf.all.forwarding", probe.IPv6, 0, "the node does not forward IPv6: its pods' IPv6 traffic to and from other nodes is dropped")
	}
	if has4 {
		for _, it := range rpFilterIfaces(n, f) {
			if it.RPFilter == nil || s.RPFilterAll < 0 {
				continue // inconclusive: the effective value needs both
			}
			if eff := max(s.RPFilterAll, *it.RPFilter); eff == 1 {
				name := "net.ipv4.conf." + it.Name + ".rp_filter"
				if s.RPFilterAll == 1 {
					name = "net.ipv4.conf.all.rp_filter"
				}
				add(name, probe.IPv4, 1, fmt.Sprintf("strict reverse-path filtering on %s (effective max(all=%d, %s=%d)): packets from pods of other nodes are dropped when the reply route leaves by another interface (asymmetric routing, several NICs, overlays)",
					it.Name, s.RPFilterAll, it.Name, *it.RPFilter))
			}
		}
	}
	if bridges := podBridges(n, f); len(bridges) > 0 {
		switch v := s.BridgeNFCallIPTables; v {
		case 0:
			add("net.bridge.bridge-nf-call-iptables", probe.IPv4, 0, fmt.Sprintf("pod traffic bridged on %s bypasses iptables: kube-proxy's Service DNAT and NetworkPolicy do not apply to it", strings.Join(bridges, ", ")))
		case -1:
			out = append(out, report.Finding{Kind: KindSysctl, Nodes: []string{n.Name}, Target: "net.bridge.bridge-nf-call-iptables",
				Summary:  fmt.Sprintf("node %s: net.bridge.bridge-nf-call-iptables does not exist (br_netfilter not loaded): pod traffic bridged on %s bypasses iptables, so kube-proxy's Service DNAT does not apply to it", n.Name, strings.Join(bridges, ", ")),
				Evidence: "/proc/sys/net/bridge/bridge-nf-call-iptables is absent in the node's network namespace", Failed: 1, Total: 1})
		}
	}
	return out
}

// families says whether the node carries IPv4 / IPv6 pod traffic (from its
// pod CIDRs, else its InternalIPs).
func families(n kube.Node) (has4, has6 bool) {
	src := n.PodCIDRs
	if len(src) == 0 {
		src = n.InternalIPs
	}
	for _, s := range src {
		s, _, _ = strings.Cut(s, "/")
		if a, err := netip.ParseAddr(s); err == nil {
			has4, has6 = has4 || a.Is4(), has6 || a.Is6()
		}
	}
	return has4, has6
}

// podFacing lists the interfaces a route into the node's own pod CIDRs
// points at (veths of routed CNIs, the CNI bridge).
func podFacing(n kube.Node, f agent.NodeFacts) map[string]bool {
	var cidrs []netip.Prefix
	for _, c := range n.PodCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil {
			cidrs = append(cidrs, p.Masked())
		}
	}
	out := map[string]bool{}
	for _, r := range f.Routes {
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil || r.Iface == "" || r.Reject || r.Gateway != "" {
			continue
		}
		for _, c := range cidrs {
			if c.Overlaps(p) && p.Bits() >= c.Bits() {
				out[r.Iface] = true
			}
		}
	}
	return out
}

// rpFilterIfaces are the interfaces whose rp_filter matters: the node
// interface (holding an InternalIP) and pod-facing interfaces that are not
// veths (a bridge, an overlay device). A routed veth is left out: the route
// to its pod points back at it, so the reverse path always matches.
func rpFilterIfaces(n kube.Node, f agent.NodeFacts) []agent.Interface {
	pods := podFacing(n, f)
	var out []agent.Interface
	for _, it := range f.Interfaces {
		if (pods[it.Name] && it.Kind != "veth") || holdsIP(it, n.InternalIPs) || it.Kind == "vxlan" {
			out = append(out, it)
		}
	}
	return out
}

func holdsIP(it agent.Interface, ips []string) bool {
	for _, s := range it.Addrs {
		p, err := netip.ParsePrefix(s)
		if err == nil && slices.Contains(ips, p.Addr().String()) {
			return true
		}
	}
	return false
}

// podBridges are the pod-facing bridges of the node.
func podBridges(n kube.Node, f agent.NodeFacts) []string {
	pods := podFacing(n, f)
	var out []string
	for _, it := range f.Interfaces {
		if it.Kind == "bridge" && pods[it.Name] {
			out = append(out, it.Name)
		}
	}
	return out
}
