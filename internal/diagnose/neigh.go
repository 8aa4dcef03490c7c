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

// KindNeighbourFailed: a node's neighbour entry for another node's
// InternalIP is FAILED or INCOMPLETE (nodes: [X, the peers]; target: their IPs).
const KindNeighbourFailed = "neighbour-failed"

// neighbourFindings names the other nodes whose InternalIP x's kernel
// cannot resolve (ARP or NDP). No neighbour states (older agent, netlink
// unreadable) or no entry for a peer: nothing is concluded.
func neighbourFindings(x kube.Node, nodes []kube.Node, f agent.NodeFacts) []report.Finding {
	if f.NeighStates == nil {
		return nil
	}
	owner := map[netip.Addr]string{}
	for _, y := range nodes {
		if y.Name == x.Name {
			continue
		}
		for _, ip := range y.InternalIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				owner[a] = y.Name
			}
		}
	}
	var peers, ips, evidence []string
	fams := map[probe.Family]bool{}
	for _, n := range f.NeighStates {
		a, err := netip.ParseAddr(n.IP)
		if err != nil {
			continue
		}
		y, ok := owner[a]
		if !ok || !(strings.Contains(n.State, "FAILED") || strings.Contains(n.State, "INCOMPLETE")) {
			continue
		}
		if !slices.Contains(peers, y) {
			peers = append(peers, y)
		}
		ips = append(ips, n.IP)
		evidence = append(evidence, fmt.Sprintf("%s dev %s %s (%s)", n.IP, n.Iface, n.State, y))
		if a.Is4() {
			fams[probe.IPv4] = true
		} else {
			fams[probe.IPv6] = true
		}
	}
	if len(peers) == 0 {
		return nil
	}
	fd := report.Finding{Kind: KindNeighbourFailed, Nodes: append([]string{x.Name}, peers...), Target: strings.Join(ips, ","),
		Summary:  fmt.Sprintf("node %s cannot resolve the link-layer address of %s: its traffic to them (and to their pods) is dropped", x.Name, strings.Join(peers, ", ")),
		Evidence: "neighbour entries: " + strings.Join(evidence, "; "), Failed: len(ips)}
	if len(fams) == 1 {
		for fam := range fams {
			fd.Family = fam
		}
	}
	return []report.Finding{fd}
}
