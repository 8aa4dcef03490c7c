package netcfg

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// NodeLink is the interface name of a node's link inside its namespace.
const NodeLink = "eth0"

// CreateBridge creates the cluster's bridge with its addresses.
func CreateBridge(ctx context.Context, p *plan.Plan) error {
	lines := []string{fmt.Sprintf("link add %s type bridge", p.Bridge)}
	if m := p.UnderlayMTU(); m > 0 {
		lines = append(lines, fmt.Sprintf("link set %s mtu %d", p.Bridge, m))
	}
	for i, ip := range p.BridgeIPs {
		lines = append(lines, fmt.Sprintf("addr add %s/%d dev %s%s", ip, p.NodeNetPrefixLen(ip), p.Bridge, nodad(p.NodeNets[i])))
	}
	lines = append(lines, fmt.Sprintf("link set %s up", p.Bridge))
	return Batch(ctx, "", lines, false)
}

func nodad(s string) string {
	if IsV6(s) {
		return " nodad"
	}
	return ""
}

// CreateNodes creates every node namespace with its link to the bridge, its
// addresses, forwarding, routes to the other nodes' pod CIDRs and the
// Service ranges, and the host routes to its pod CIDRs.
func CreateNodes(ctx context.Context, p *plan.Plan) error {
	var host []string
	mtu := ""
	if m := p.UnderlayMTU(); m > 0 {
		mtu = fmt.Sprintf(" mtu %d", m)
	}
	for _, n := range p.Nodes {
		host = append(host,
			"netns add "+n.Netns,
			fmt.Sprintf("link add %s%s type veth peer name %s%s netns %s", n.HostVeth, mtu, NodeLink, mtu, n.Netns),
			fmt.Sprintf("link set %s master %s up", n.HostVeth, p.Bridge),
		)
	}
	if err := Batch(ctx, "", host, false); err != nil {
		return fmt.Errorf("creating node namespaces: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range p.Nodes {
		n := p.Nodes[i]
		g.Go(func() error {
			sys := []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
				"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"}
			if err := SetSysctls(gctx, n.Netns, sys); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			if err := Batch(gctx, n.Netns, NodeLines(p, n), false); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			if err := BridgeBatch(gctx, n.Netns, FDBLines(p, n)); err != nil {
				return fmt.Errorf("node %s: vxlan fdb: %w", n.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if p.IsolatedControlPlane {
		// The host never reaches pods (the guards cover the pod ranges).
		return MasqueradeToControlPlane(ctx, p)
	}
	var routes []string
	for _, n := range p.Nodes {
		for i, c := range n.PodCIDRs {
			routes = append(routes, fmt.Sprintf("route replace %s via %s dev %s", c, n.IPs[i], p.Bridge))
		}
	}
	if err := Batch(ctx, "", routes, false); err != nil {
		return fmt.Errorf("host routes to pod CIDRs: %w", err)
	}
	return nil
}

// NodeLines is the batch configuring node n inside its namespace.
func NodeLines(p *plan.Plan, n plan.Node) []string {
	l := []string{"link set lo up", fmt.Sprintf("link set %s up", NodeLink)}
	for i, ip := range n.IPs {
		l = append(l, fmt.Sprintf("addr add %s/%d dev %s%s", ip, p.NodeNetPrefixLen(ip), NodeLink, nodad(p.NodeNets[i])))
	}
	if p.Overlay == plan.OverlayVXLAN {
		l = append(l, VXLANLines(p, n)...)
	}
	for _, o := range p.Nodes {
		if o.Index == n.Index {
			continue
		}
		l = append(l, PodRouteLines(p, o)...)
	}
	for _, s := range p.ServiceCIDR {
		l = append(l, fmt.Sprintf("route add %s dev %s", s, NodeLink))
	}
	return l
}

// PodRouteLines are the routes ("route add ...") other nodes use to reach
// node o's pods: via o's node address on eth0 (routed), or via o's vxlan
// address on the vxlan device, on-link (overlay, as flannel's vxlan backend).
func PodRouteLines(p *plan.Plan, o plan.Node) []string {
	var l []string
	for i, c := range o.PodCIDRs {
		if p.Overlay == plan.OverlayVXLAN {
			l = append(l, fmt.Sprintf("route add %s via %s dev %s onlink", c, o.VTEPIPs()[i], plan.VXLANDevice))
			continue
		}
		l = append(l, fmt.Sprintf("route add %s via %s dev %s", c, o.IPs[i], NodeLink))
	}
	return l
}

// VXLANLines create node n's vxlan device (no learning: every peer is
// configured) with its addresses and a permanent neighbour entry per peer
// VTEP address; FDBLines add the forwarding entries (MAC -> peer node IP).
func VXLANLines(p *plan.Plan, n plan.Node) []string {
	dev := plan.VXLANDevice
	l := []string{
		fmt.Sprintf("link add %s address %s mtu %d type vxlan id %d local %s dev %s dstport %d nolearning",
			dev, p.VTEPMAC(n), p.MTU, plan.VXLANID, p.UnderlayIP(n), NodeLink, plan.VXLANPort),
	}
	for _, a := range n.VTEPIPs() {
		l = append(l, fmt.Sprintf("addr add %s dev %s%s", Prefix(a), dev, nodad(a)))
	}
	l = append(l, fmt.Sprintf("link set %s up", dev))
	for _, o := range p.Nodes {
		if o.Index == n.Index {
			continue
		}
		for _, a := range o.VTEPIPs() {
			l = append(l, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", a, p.VTEPMAC(o), dev))
		}
	}
	return l
}

// FDBLines are the `bridge -batch` lines of node n's vxlan forwarding
// database: one permanent entry per peer node.
func FDBLines(p *plan.Plan, n plan.Node) []string {
	if p.Overlay != plan.OverlayVXLAN {
		return nil
	}
	var l []string
	for _, o := range p.Nodes {
		if o.Index == n.Index {
			continue
		}
		l = append(l, fmt.Sprintf("fdb append %s dev %s dst %s self permanent", p.VTEPMAC(o), plan.VXLANDevice, p.UnderlayIP(o)))
	}
	return l
}

// DeleteNetns deletes namespaces in one batch (missing ones are ignored).
func DeleteNetns(ctx context.Context, names []string) error {
	var l []string
	for _, n := range names {
		l = append(l, "netns del "+n)
	}
	return Batch(ctx, "", l, true)
}
