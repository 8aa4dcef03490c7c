// Package plan computes the address plan of one sandbox cluster from its slot.
//
// Every cluster on the machine gets a slot (0..MaxSlots-1) and all its ranges
// derive from it, so several clusters can run at once with disjoint ranges:
//
//	node network  100.64.<s>.0/24        fd0d:<s>::/64
//	pod ranges    100.<96+s>.0.0/16      fd0d:<s>:1::/48   (node i: 100.<96+s>.<i>.0/24, fd0d:<s>:1:<i>::/64)
//	services      100.<80+s>.0.0/16      fd0d:<s>:2::/108
//	v6 guard      fd0d:<s>::/32 (covers all v6 ranges of the slot)
//
// The bridge holds .1 / ::1; node i (1-based) holds .<i+1> / ::<i+1>.
package plan

import (
	"fmt"
	"net/netip"
	"regexp"
)

// MaxSlots bounds the number of concurrent clusters: the IPv4 ranges live
// inside 100.64.0.0/10 (shared address space), 16 slots fill it.
const MaxSlots = 16

// MaxNodes is bounded by the /24 node network (bridge .1, nodes .2-.254).
const MaxNodes = 253

// IP families.
const (
	IPv4 = "ipv4"
	IPv6 = "ipv6"
	Dual = "dual"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)

// ValidateName checks a cluster name. Names are letters and digits only so
// that namespace prefixes ("nd-<name>-") of two clusters can never overlap.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("--name %q: must be 1-12 lowercase letters or digits, starting with a letter", name)
	}
	return nil
}

// Node is the address plan of one node.
type Node struct {
	Index    int      `json:"index"` // 1-based
	Name     string   `json:"name"`  // Node object name
	Netns    string   `json:"netns"`
	HostVeth string   `json:"hostVeth"` // host end of the node's link (bridge port)
	IPs      []string `json:"ips"`      // plain addresses, primary family first
	PodCIDRs []string `json:"podCIDRs"`
	Zone     string   `json:"zone"`
}

// Plan is the address plan of one cluster.
type Plan struct {
	Name        string   `json:"name"`
	Slot        int      `json:"slot"`
	IPFamily    string   `json:"ipFamily"`
	Bridge      string   `json:"bridge"`
	BridgeIPs   []string `json:"bridgeIPs"`   // plain addresses, primary first
	NodeNets    []string `json:"nodeNets"`    // node network prefixes
	ClusterCIDR []string `json:"clusterCIDR"` // all pods
	ServiceCIDR []string `json:"serviceCIDR"`
	Guards      []string `json:"guards"` // unreachable routes in the host namespace
	DNSIPs      []string `json:"dnsIPs"` // kube-dns ClusterIPs (10th service IP)
	APIServerIP string   `json:"apiServerIP"`
	Nodes       []Node   `json:"nodes"`
	// Overlay is "" (routed, host-gw style) or OverlayVXLAN; MTU is the
	// MTU of pod interfaces and of the overlay device (0: kernel default
	// 1500). See SetNetwork.
	Overlay string `json:"overlay,omitempty"`
	MTU     int    `json:"mtu,omitempty"`
	// IsolatedControlPlane: the host (API server) gets no routes to pod CIDRs.
	IsolatedControlPlane bool            `json:"isolatedControlPlane,omitempty"`
	AgentlessNodes       []AgentlessNode `json:"agentlessNodes,omitempty"` // Windows and virtual nodes
	// ProxyMode is kube-proxy's mode ("" = iptables); Segment the second
	// L2 segment of up --multus (nil without). See services.go.
	ProxyMode string   `json:"proxyMode,omitempty"`
	Segment   *Segment `json:"segment,omitempty"`
}

// Overlay modes and their constants.
const (
	OverlayVXLAN = "vxlan"
	// VXLANDevice is the vxlan device in every node namespace (one device:
	// IPv4 underlay for ipv4 and dual clusters, carrying both families;
	// IPv6 underlay for ipv6-only clusters).
	VXLANDevice = "vxlan0"
	VXLANID     = 1
	VXLANPort   = 8472 // flannel's and Linux's default
	// DefaultOverlayMTU is the overlay MTU when --mtu is not given.
	DefaultOverlayMTU = 1450
	// MaxMTU bounds --mtu.
	MaxMTU = 9000
)

// SetNetwork validates and sets the overlay mode and MTU (mtu 0 means the
// default: 1500 routed, 1450 with vxlan). Errors name the flag.
func (p *Plan) SetNetwork(overlay string, mtu int) error {
	switch overlay {
	case "", "none":
		overlay = ""
	case OverlayVXLAN:
		if mtu == 0 {
			mtu = DefaultOverlayMTU
		}
	default:
		return fmt.Errorf("--overlay %q: must be vxlan (or none, the default: routed host-gw)", overlay)
	}
	if mtu != 0 {
		min := 576
		if p.IPFamily != IPv4 {
			min = 1280 // below 1280 the kernel removes IPv6 from a link
		}
		if mtu < min || mtu > MaxMTU {
			return fmt.Errorf("--mtu %d: must be between %d and %d for --ip-family %s", mtu, min, MaxMTU, p.IPFamily)
		}
	}
	p.Overlay, p.MTU = overlay, mtu
	return nil
}

// VXLANOverhead is what the encapsulation adds to each packet on the
// underlay: outer IPv4 (20) or IPv6 (40) + UDP 8 + VXLAN 8 + inner Ethernet 14.
func (p *Plan) VXLANOverhead() int {
	if p.IPFamily == IPv6 {
		return 70
	}
	return 50
}

// UnderlayMTU is the MTU of the node network (bridge, host veths, node
// eth0); 0 leaves the kernel default (1500). Routed: the pod MTU. VXLAN: at
// least 1500 and enough to carry an overlay packet of MTU bytes without
// fragmentation, as on a real network under an overlay.
func (p *Plan) UnderlayMTU() int {
	if p.Overlay != OverlayVXLAN {
		return p.MTU
	}
	if m := p.MTU + p.VXLANOverhead(); m > 1500 {
		return m
	}
	return 1500
}

// VTEPIPs are node n's addresses on the vxlan device: the network address
// of each of its pod CIDRs (unused by pods), as flannel does.
func (n Node) VTEPIPs() []string {
	var out []string
	for _, c := range n.PodCIDRs {
		out = append(out, netip.MustParsePrefix(c).Masked().Addr().String())
	}
	return out
}

// VTEPMAC is node n's vxlan device MAC: locally administered, derived from
// slot and index so every node knows every peer's MAC without learning.
func (p *Plan) VTEPMAC(n Node) string {
	return fmt.Sprintf("0e:dd:%02x:%02x:%02x:01", p.Slot, n.Index>>8, n.Index&0xff)
}

// UnderlayIP is the node address the vxlan device encapsulates from/to.
func (p *Plan) UnderlayIP(n Node) string { return n.IPs[0] }

// New builds the plan for a cluster. zones <= 0 means one zone.
func New(name string, slot, nodes int, family string, zones int) (*Plan, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if slot < 0 || slot >= MaxSlots {
		return nil, fmt.Errorf("slot %d out of range 0..%d", slot, MaxSlots-1)
	}
	if nodes < 1 || nodes > MaxNodes {
		return nil, fmt.Errorf("--nodes %d: must be between 1 and %d", nodes, MaxNodes)
	}
	if zones < 1 {
		zones = 1
	}
	if zones > 26 {
		return nil, fmt.Errorf("--zones %d: must be between 1 and 26", zones)
	}
	v4, v6 := false, false
	switch family {
	case IPv4:
		v4 = true
	case IPv6:
		v6 = true
	case Dual:
		v4, v6 = true, true
	default:
		return nil, fmt.Errorf("--ip-family %q: must be ipv4, ipv6 or dual", family)
	}
	p := &Plan{Name: name, Slot: slot, IPFamily: family, Bridge: fmt.Sprintf("ndbr%d", slot)}
	if v4 {
		p.BridgeIPs = append(p.BridgeIPs, fmt.Sprintf("100.64.%d.1", slot))
		p.NodeNets = append(p.NodeNets, fmt.Sprintf("100.64.%d.0/24", slot))
		p.ClusterCIDR = append(p.ClusterCIDR, fmt.Sprintf("100.%d.0.0/16", 96+slot))
		p.ServiceCIDR = append(p.ServiceCIDR, fmt.Sprintf("100.%d.0.0/16", 80+slot))
		p.DNSIPs = append(p.DNSIPs, fmt.Sprintf("100.%d.0.10", 80+slot))
		p.Guards = append(p.Guards, p.NodeNets[0], p.ClusterCIDR[0], p.ServiceCIDR[0])
	}
	if v6 {
		p.BridgeIPs = append(p.BridgeIPs, canon(fmt.Sprintf("fd0d:%x::1", slot)))
		p.NodeNets = append(p.NodeNets, canon(fmt.Sprintf("fd0d:%x::/64", slot)))
		p.ClusterCIDR = append(p.ClusterCIDR, canon(fmt.Sprintf("fd0d:%x:1::/48", slot)))
		p.ServiceCIDR = append(p.ServiceCIDR, canon(fmt.Sprintf("fd0d:%x:2::/108", slot)))
		p.DNSIPs = append(p.DNSIPs, canon(fmt.Sprintf("fd0d:%x:2::a", slot)))
		p.Guards = append(p.Guards, canon(fmt.Sprintf("fd0d:%x::/32", slot)))
	}
	p.APIServerIP = p.BridgeIPs[0]
	for i := 1; i <= nodes; i++ {
		n := Node{
			Index:    i,
			Name:     fmt.Sprintf("%s-node-%d", name, i),
			Netns:    fmt.Sprintf("nd-%s-n%d", name, i),
			HostVeth: fmt.Sprintf("nd%dn%d", slot, i),
			Zone:     fmt.Sprintf("zone-%c", 'a'+(i-1)%zones),
		}
		if v4 {
			n.IPs = append(n.IPs, fmt.Sprintf("100.64.%d.%d", slot, i+1))
			n.PodCIDRs = append(n.PodCIDRs, fmt.Sprintf("100.%d.%d.0/24", 96+slot, i))
		}
		if v6 {
			n.IPs = append(n.IPs, canon(fmt.Sprintf("fd0d:%x::%x", slot, i+1)))
			n.PodCIDRs = append(n.PodCIDRs, canon(fmt.Sprintf("fd0d:%x:1:%x::/64", slot, i)))
		}
		p.Nodes = append(p.Nodes, n)
	}
	return p, nil
}

// canon writes an IPv6 address or prefix in its canonical (RFC 5952) form,
// as the API server and the kubelet print it ("fd0d:0::2" is "fd0d::2"), so
// the plan, the Node objects and `ip` all show the same text.
func canon(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.String()
	}
	return netip.MustParseAddr(s).String()
}

// NodeNetPrefixLen returns the prefix length of the node network of addr's family.
func (p *Plan) NodeNetPrefixLen(addr string) int {
	a := netip.MustParseAddr(addr)
	for _, n := range p.NodeNets {
		pf := netip.MustParsePrefix(n)
		if pf.Contains(a) {
			return pf.Bits()
		}
	}
	return 32
}

// NodeByName finds a node by Node name, netns name or index ("3").
func (p *Plan) NodeByName(name string) (*Node, error) {
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if n.Name == name || n.Netns == name || fmt.Sprint(n.Index) == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("node %q not found in cluster %q (use a node name like %s)", name, p.Name, p.Nodes[0].Name)
}

// NodeNetnsPrefix and PodNetnsPrefix are the network namespace name prefixes
// of the cluster; down deletes every namespace that carries them.
func (p *Plan) NodeNetnsPrefix() string { return "nd-" + p.Name + "-n" }

// PodNetnsPrefix is the prefix the kubelet uses for pod namespaces.
func (p *Plan) PodNetnsPrefix() string { return "nd-" + p.Name + "-p-" }

// ServiceIP returns the n-th address of each service range (1 = kubernetes).
func (p *Plan) ServiceIP(n int) []string {
	var out []string
	for _, c := range p.ServiceCIDR {
		a := netip.MustParsePrefix(c).Addr()
		for i := 0; i < n; i++ {
			a = a.Next()
		}
		out = append(out, a.String())
	}
	return out
}
