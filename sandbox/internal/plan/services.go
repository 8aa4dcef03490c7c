package plan

import "fmt"

// kube-proxy modes (up --proxy-mode).
const (
	ProxyIPTables = "iptables"
	ProxyNFTables = "nftables"
	ProxyIPVS     = "ipvs"
)

// ValidateProxyMode checks --proxy-mode. IPVS is a real kube-proxy mode but
// needs the kernel's ip_vs module, which this machine's kernel lacks.
func ValidateProxyMode(mode string) error {
	switch mode {
	case "", ProxyIPTables, ProxyNFTables:
		return nil
	case ProxyIPVS:
		return fmt.Errorf("--proxy-mode ipvs: this kernel has no IPVS (ip_vs is not built), so kube-proxy cannot run in ipvs mode here; use iptables or nftables")
	}
	return fmt.Errorf("--proxy-mode %q: must be iptables (default) or nftables", mode)
}

// Segment is the second sandbox L2 segment for secondary pod interfaces
// (up --multus): a host bridge without addresses and, in every node, a
// veth (SegmentNodeLink) on it that macvlan NADs use as their master.
// Ranges are where NetworkAttachmentDefinition IPAM may hand out
// addresses; both families always, guarded by unreachable routes in the
// host before the segment exists.
type Segment struct {
	Bridge string   `json:"bridge"`
	Ranges []string `json:"ranges"`
}

// SegmentNodeLink is the name of each node's interface on the second segment.
const SegmentNodeLink = "eth1"

// AddSegment gives the plan its second segment and adds its guards:
// 100.64.(48+s).0/24 and fd0d:s:5::/64 (inside the slot's fd0d:s::/32
// guard already; its own guard is listed too, so the rule "every range has
// a guard" holds by inspection).
func (p *Plan) AddSegment() {
	p.Segment = &Segment{
		Bridge: fmt.Sprintf("ndsb%d", p.Slot),
		Ranges: []string{fmt.Sprintf("100.64.%d.0/24", 48+p.Slot), canon(fmt.Sprintf("fd0d:%x:5::/64", p.Slot))},
	}
	p.Guards = append(p.Guards, p.Segment.Ranges...)
}

// SegmentHostVeth is the host end (bridge port) of node n's segment link.
func (p *Plan) SegmentHostVeth(n Node) string { return fmt.Sprintf("nd%ds%d", p.Slot, n.Index) }
