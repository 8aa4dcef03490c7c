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
	for _, n := range p.Nodes {
		host = append(host,
			"netns add "+n.Netns,
			fmt.Sprintf("link add %s type veth peer name %s netns %s", n.HostVeth, NodeLink, n.Netns),
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
	for _, o := range p.Nodes {
		if o.Index == n.Index {
			continue
		}
		l = append(l, PodRouteLines(o)...)
	}
	for _, s := range p.ServiceCIDR {
		l = append(l, fmt.Sprintf("route add %s dev %s", s, NodeLink))
	}
	return l
}

// PodRouteLines are the routes (without verb prefix "route add") other nodes
// use to reach node o's pods.
func PodRouteLines(o plan.Node) []string {
	var l []string
	for i, c := range o.PodCIDRs {
		l = append(l, fmt.Sprintf("route add %s via %s dev %s", c, o.IPs[i], NodeLink))
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
