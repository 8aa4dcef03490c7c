package cluster

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// Peering joins two clusters at layer 2 with a veth pair between their
// bridges, then gives every node of each cluster an on-link route to the
// other's node network and routes to the other's pod CIDRs via its nodes.
// Nothing is forwarded by the host namespace (its ip_forward stays 0), and
// the host routes and guards stay as they are.

func peerVeth(a, b *state.State) string { return fmt.Sprintf("ndp%dp%d", a.Slot, b.Slot) }

// peerRouteLines are the routes nodes of `to` need to reach `from`'s nodes and pods.
func peerRouteLines(verb string, from *state.State) []string {
	var l []string
	for _, n := range from.NodeNets {
		l = append(l, fmt.Sprintf("route %s %s dev %s", verb, n, netcfg.NodeLink))
	}
	for _, n := range from.Nodes {
		for i, c := range n.PodCIDRs {
			l = append(l, fmt.Sprintf("route %s %s via %s dev %s onlink", verb, c, n.IPs[i], netcfg.NodeLink))
		}
	}
	return l
}

// Peer connects cluster s with the existing cluster other and records the
// peering in both states.
func Peer(ctx context.Context, s *state.State, other string) error {
	unlock, err := state.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	o, err := state.Load(other)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	if o.IPFamily != s.IPFamily {
		return fmt.Errorf("%w: --peer %q has ip-family %s, this cluster %s: they must match", ErrBadInput, other, o.IPFamily, s.IPFamily)
	}
	a, b := peerVeth(s, o), peerVeth(o, s)
	if err := netcfg.Batch(ctx, "", []string{
		fmt.Sprintf("link add %s type veth peer name %s", a, b),
		fmt.Sprintf("link set %s master %s up", a, s.Bridge),
		fmt.Sprintf("link set %s master %s up", b, o.Bridge),
	}, false); err != nil {
		return fmt.Errorf("linking bridges %s and %s: %w", s.Bridge, o.Bridge, err)
	}
	if err := nodeBatches(ctx, s, peerRouteLines("replace", o), false); err != nil {
		return err
	}
	if err := nodeBatches(ctx, o, peerRouteLines("replace", s), false); err != nil {
		return err
	}
	s.Peers = append(s.Peers, state.Peer{Cluster: o.Name, Veth: a})
	o.Peers = append(o.Peers, state.Peer{Cluster: s.Name, Veth: b})
	return o.Save()
}

// unpeer removes s's peerings: the veth pairs and the routes in the peers'
// nodes. Call with the lock held.
func unpeer(ctx context.Context, s *state.State) error {
	var errs []error
	for _, p := range s.Peers {
		netcfg.Batch(ctx, "", []string{"link del " + p.Veth}, true)
		o, err := state.Load(p.Cluster)
		if err != nil {
			continue // the peer is gone already
		}
		if err := nodeBatches(ctx, o, peerRouteLines("del", s), true); err != nil {
			errs = append(errs, err)
		}
		var keep []state.Peer
		for _, op := range o.Peers {
			if op.Cluster != s.Name {
				keep = append(keep, op)
			}
		}
		o.Peers = keep
		if err := o.Save(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing peerings: %v", errs)
	}
	return nil
}

// nodeBatches runs the same batch in every node namespace of s.
func nodeBatches(ctx context.Context, s *state.State, lines []string, force bool) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, n := range s.Nodes {
		g.Go(func() error { return netcfg.Batch(gctx, n.Netns, lines, force) })
	}
	return g.Wait()
}
