package cluster

import (
	"context"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/sandbox/internal/metallb"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// validateLoadBalancer checks --load-balancer and its binaries.
func (o *UpOptions) validateLoadBalancer(p *plan.Plan) error {
	if o.MetalLBDir != "" && !o.LoadBalancer {
		return fmt.Errorf("%w: --metallb-dir needs --load-balancer", ErrBadInput)
	}
	if !o.LoadBalancer {
		return nil
	}
	// The node count includes the agentless nodes (checked before any slot
	// is taken, so bad input leaves nothing behind).
	if err := p.AddAgentless(o.WindowsNodes, o.VirtualNodes); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if err := p.AddLoadBalancer(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if o.MetalLBDir == "" {
		o.MetalLBDir = metallb.Dir(o.Self)
	}
	o.MetalLBDir, _ = filepath.Abs(o.MetalLBDir)
	if err := metallb.Check(o.MetalLBDir); err != nil {
		return fmt.Errorf("%w: --load-balancer: %w", ErrBadInput, err)
	}
	return nil
}

// installMetalLB creates MetalLB's objects and its pool configuration; the
// kubelet then runs its controller and speakers (waited for at the end of up).
func (u *upper) installMetalLB(ctx context.Context) error {
	rc, err := clientcmd.BuildConfigFromFlags("", u.s.Kubeconfig)
	if err != nil {
		return err
	}
	if err := metallb.Install(ctx, rc, u.o.MetalLBDir, u.s.LoadBalancer.Pools); err != nil {
		return fmt.Errorf("installing MetalLB: %w", err)
	}
	u.logf("%s installed: pools %v, L2Advertisement on eth0", metallb.Component, u.s.LoadBalancer.Pools)
	return nil
}
