package cluster

import (
	"context"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/sandbox/internal/multus"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// createSegment makes the second segment of up --multus (its guards are
// already in place: reserve added them with the others).
func (u *upper) createSegment(ctx context.Context) error {
	s := u.s
	if s.Segment == nil {
		return nil
	}
	if err := netcfg.CreateSegment(ctx, &s.Plan); err != nil {
		return err
	}
	u.logf("second segment: bridge %s, %s in every node, ranges %v", s.Segment.Bridge, plan.SegmentNodeLink, s.Segment.Ranges)
	return nil
}

// installMultus creates the NetworkAttachmentDefinition CRD (up --multus);
// the kubelet then honours k8s.v1.cni.cncf.io/networks.
func (u *upper) installMultus(ctx context.Context) error {
	if u.s.Segment == nil {
		return nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", u.s.Kubeconfig)
	if err != nil {
		return err
	}
	if err := multus.InstallCRD(ctx, rc); err != nil {
		return fmt.Errorf("--multus: %w", err)
	}
	u.logf("Multus model: CRD %s established", multus.CRDName)
	return nil
}
