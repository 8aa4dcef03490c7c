package netcfg

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// CreateOutside creates the outside client of `up --load-balancer`: a
// network namespace on the node bridge that is not a node. It has only what
// an external client on the nodes' L2 segment has: its address on the node
// network (connected route) and on-link routes to the LB pools, so it
// resolves a LoadBalancer IP with ARP/NDP and MetalLB's speaker answers. No
// routes to pods or Services, no default route, no forwarding.
//
// The nodes get on-link routes to the LB pools too (a real node reaches
// them through its default route, which sandbox nodes lack by design), so
// traffic a node or hostNetwork pod sends to a LoadBalancer IP meets
// kube-proxy's rules as on a real node.
func CreateOutside(ctx context.Context, p *plan.Plan) error {
	lb := p.LoadBalancer
	mtu := ""
	if m := p.UnderlayMTU(); m > 0 {
		mtu = fmt.Sprintf(" mtu %d", m)
	}
	if err := Batch(ctx, "", []string{
		"netns add " + lb.OutsideNetns,
		fmt.Sprintf("link add %s%s type veth peer name %s%s netns %s", lb.OutsideVeth, mtu, NodeLink, mtu, lb.OutsideNetns),
		fmt.Sprintf("link set %s master %s up", lb.OutsideVeth, p.Bridge),
	}, false); err != nil {
		return fmt.Errorf("creating the outside namespace: %w", err)
	}
	if err := SetSysctls(ctx, lb.OutsideNetns, []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"}); err != nil {
		return fmt.Errorf("outside namespace: %w", err)
	}
	if err := Batch(ctx, lb.OutsideNetns, OutsideLines(p), false); err != nil {
		return fmt.Errorf("outside namespace: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, n := range p.Nodes {
		g.Go(func() error {
			if err := Batch(gctx, n.Netns, PoolRouteLines(p), false); err != nil {
				return fmt.Errorf("node %s: routes to the LB pools: %w", n.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// OutsideLines configure the outside namespace: addresses and pool routes.
func OutsideLines(p *plan.Plan) []string {
	l := []string{"link set lo up", fmt.Sprintf("link set %s up", NodeLink)}
	for _, ip := range p.LoadBalancer.OutsideIPs {
		l = append(l, fmt.Sprintf("addr add %s/%d dev %s%s", ip, p.NodeNetPrefixLen(ip), NodeLink, nodad(ip)))
	}
	return append(l, PoolRouteLines(p)...)
}

// PoolRouteLines are the on-link routes to the LB pools.
func PoolRouteLines(p *plan.Plan) []string {
	var l []string
	for _, pool := range p.LoadBalancer.Pools {
		l = append(l, fmt.Sprintf("route add %s dev %s", pool, NodeLink))
	}
	return l
}
