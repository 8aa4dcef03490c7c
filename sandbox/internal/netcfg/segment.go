package netcfg

import (
	"context"
	"fmt"

	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// CreateSegment makes the second L2 segment of up --multus: a host bridge
// with no address (the host takes no part in it; IPv6 is off on it so the
// host does not even get a link-local address there) and in every node a
// veth plan.SegmentNodeLink on it, up, without addresses: the parent of the
// pods' macvlan interfaces. The guards for its ranges are installed before.
func CreateSegment(ctx context.Context, p *plan.Plan) error {
	seg := p.Segment
	host := []string{fmt.Sprintf("link add %s type bridge", seg.Bridge)}
	for _, n := range p.Nodes {
		host = append(host,
			fmt.Sprintf("link add %s type veth peer name %s netns %s", p.SegmentHostVeth(n), plan.SegmentNodeLink, n.Netns),
			fmt.Sprintf("link set %s master %s up", p.SegmentHostVeth(n), seg.Bridge))
	}
	host = append(host, fmt.Sprintf("link set %s up", seg.Bridge))
	if err := Batch(ctx, "", host, false); err != nil {
		return fmt.Errorf("creating the second segment: %w", err)
	}
	if err := SetSysctls(ctx, "", []string{fmt.Sprintf("net.ipv6.conf.%s.disable_ipv6=1", seg.Bridge)}); err != nil {
		return err
	}
	for _, n := range p.Nodes {
		if err := Batch(ctx, n.Netns, []string{fmt.Sprintf("link set %s up", plan.SegmentNodeLink)}, false); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

// DeleteSegment removes the segment's bridge (the node ends of its veths go
// with the node namespaces).
func DeleteSegment(ctx context.Context, p *plan.Plan) {
	if p.Segment != nil {
		Batch(ctx, "", []string{"link del " + p.Segment.Bridge}, true)
	}
}
