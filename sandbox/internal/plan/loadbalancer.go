package plan

import (
	"fmt"
	"strings"
)

// LoadBalancer is the plan of `up --load-balancer`: MetalLB's address pools
// and the "outside" network namespace, a client on the node segment that is
// not a node (see netcfg.CreateOutside).
type LoadBalancer struct {
	// Pools are the IPAddressPool ranges, one per family, primary first:
	// 100.64.(32+s).0/24 and fd0d:s:3::/112. Each has its own guard route.
	Pools []string `json:"pools"`
	// OutsideNetns is the outside client's namespace, OutsideVeth the host
	// end (bridge port) of its link, OutsideIPs its addresses on the node
	// segment (the last node address of each family: .254 and ::fe).
	OutsideNetns string   `json:"outsideNetns"`
	OutsideVeth  string   `json:"outsideVeth"`
	OutsideIPs   []string `json:"outsideIPs"`
}

// outsideIndex is the node index whose addresses the outside client takes
// (node i holds .i+1): .254 in IPv4, ::fe in IPv6.
const outsideIndex = MaxNodes

// OutsideNetnsName is the outside namespace of cluster name. It carries the
// cluster's "nd-<name>-" prefix, so `down` finds it even without state.
func OutsideNetnsName(name string) string { return "nd-" + name + "-outside" }

// AddLoadBalancer gives the plan its LB pools and outside client and adds
// the pools' guards (call before the guards are installed). The outside
// client takes the address node 253 would have, so at most 252 nodes
// (Linux, Windows and virtual together) fit.
func (p *Plan) AddLoadBalancer() error {
	if n := len(p.Nodes) + len(p.AgentlessNodes); n >= outsideIndex {
		return fmt.Errorf("--load-balancer: at most %d nodes in all (%d asked): the outside client takes the last node address", outsideIndex-1, n)
	}
	lb := &LoadBalancer{
		OutsideNetns: OutsideNetnsName(p.Name),
		OutsideVeth:  fmt.Sprintf("nd%do", p.Slot),
	}
	for _, nn := range p.NodeNets {
		if strings.Contains(nn, ":") {
			lb.Pools = append(lb.Pools, canon(fmt.Sprintf("fd0d:%x:3::/112", p.Slot)))
			lb.OutsideIPs = append(lb.OutsideIPs, canon(fmt.Sprintf("fd0d:%x::%x", p.Slot, outsideIndex+1)))
		} else {
			lb.Pools = append(lb.Pools, fmt.Sprintf("100.64.%d.0/24", 32+p.Slot))
			lb.OutsideIPs = append(lb.OutsideIPs, fmt.Sprintf("100.64.%d.%d", p.Slot, outsideIndex+1))
		}
	}
	p.LoadBalancer = lb
	p.Guards = append(p.Guards, lb.Pools...)
	return nil
}
