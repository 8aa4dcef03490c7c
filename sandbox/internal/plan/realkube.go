package plan

import "fmt"

// Kinds of agentless nodes: Node objects that register and stay Ready like
// real ones but never run a Linux pod process (issue 8).
const (
	KindWindows = "windows" // kubernetes.io/os=windows
	KindVirtual = "virtual" // virtual-kubelet, tainted virtual-kubelet.io/provider
)

// AgentlessNode is one Windows or virtual node. It has addresses (unused
// addresses of the node network: nothing answers there) but no network
// namespace, no kube-proxy and no pod routes.
type AgentlessNode struct {
	Index    int      `json:"index"` // continues after the Linux nodes
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	IPs      []string `json:"ips"`
	PodCIDRs []string `json:"podCIDRs,omitempty"` // Windows nodes only, as real ones get one
	Zone     string   `json:"zone"`
}

// Pod Security levels accepted by --pod-security.
var PodSecurityLevels = []string{"privileged", "baseline", "restricted"}

// ValidateRealism checks the issue-8 options: the Pod Security level ("" =
// none configured) and the agentless node counts.
func ValidateRealism(podSecurity string, nodes, windows, virtual int) error {
	if podSecurity != "" {
		ok := false
		for _, l := range PodSecurityLevels {
			ok = ok || l == podSecurity
		}
		if !ok {
			return fmt.Errorf("--pod-security %q: must be privileged, baseline or restricted", podSecurity)
		}
	}
	if windows < 0 {
		return fmt.Errorf("--windows-nodes %d: must be 0 or more", windows)
	}
	if virtual < 0 {
		return fmt.Errorf("--virtual-nodes %d: must be 0 or more", virtual)
	}
	if nodes+windows+virtual > MaxNodes {
		return fmt.Errorf("--nodes + --windows-nodes + --virtual-nodes = %d: at most %d in all", nodes+windows+virtual, MaxNodes)
	}
	return nil
}

// AddAgentless appends the Windows nodes, then the virtual nodes, with the
// indexes after the Linux nodes (so their addresses never collide).
func (p *Plan) AddAgentless(windows, virtual int) error {
	if err := ValidateRealism("", len(p.Nodes), windows, virtual); err != nil {
		return err
	}
	v4 := p.IPFamily != IPv6
	v6 := p.IPFamily != IPv4
	zones := map[string]bool{}
	var zoneList []string
	for _, n := range p.Nodes {
		if !zones[n.Zone] {
			zones[n.Zone] = true
			zoneList = append(zoneList, n.Zone)
		}
	}
	add := func(kind, prefix string, count int) {
		for j := 1; j <= count; j++ {
			i := len(p.Nodes) + len(p.AgentlessNodes) + 1
			n := AgentlessNode{Index: i, Kind: kind, Name: fmt.Sprintf("%s-%s-%d", p.Name, prefix, j)}
			if len(zoneList) > 0 {
				n.Zone = zoneList[(j-1)%len(zoneList)]
			}
			if v4 {
				n.IPs = append(n.IPs, fmt.Sprintf("100.64.%d.%d", p.Slot, i+1))
			}
			if v6 {
				n.IPs = append(n.IPs, canon(fmt.Sprintf("fd0d:%x::%x", p.Slot, i+1)))
			}
			if kind == KindWindows {
				if v4 {
					n.PodCIDRs = append(n.PodCIDRs, fmt.Sprintf("100.%d.%d.0/24", 96+p.Slot, i))
				}
				if v6 {
					n.PodCIDRs = append(n.PodCIDRs, canon(fmt.Sprintf("fd0d:%x:1:%x::/64", p.Slot, i)))
				}
			}
			p.AgentlessNodes = append(p.AgentlessNodes, n)
		}
	}
	add(KindWindows, "win", windows)
	add(KindVirtual, "virtual", virtual)
	return nil
}
