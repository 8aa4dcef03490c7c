package check

import (
	"context"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// What a check deploys: the agent workloads of the networks the plan needs,
// with the config's image, resources and NetworkPolicy.

// policySettle is how long an updated NetworkPolicy is given to be
// programmed by the cluster's engine before probes start. Nothing already
// waited for covers it: the policy changes after the agents are Ready (it
// gains their pod IPs; a check of icmp drops the rules' ports; a policy
// created into a namespace whose agents already run), and the API has no
// status saying an engine programmed it. Without the wait, kube-router
// (the sandbox's engine) rejected the first probes of a default-deny
// namespace with "connection refused" (TestNetworkPolicyDefaultDeny failed
// in 1 of 2 runs: pod/icmp and pod-to-node/icmp after tcp, tcp right after
// the policy was created). It is waited only when the policy changed.
var policySettle = 2 * time.Second

// refreshPolicies adds the running agents' pod IPs to netctl's
// NetworkPolicy in every cluster, and waits policySettle when it changed.
func refreshPolicies(ctx context.Context, cfg config.Config, clusters []*cluster, invs []*inventory.Inventory, log io.Writer) error {
	port, _ := cfg.Port.Int()
	changed := false
	for i, c := range clusters {
		if !c.deployed {
			continue
		}
		var ips []string
		for _, a := range invs[i].Agents[deploy.PodNetwork] {
			if a.Ready {
				ips = append(ips, a.IPs...)
			}
		}
		if len(ips) == 0 {
			continue
		}
		ch, err := deploy.RefreshNetworkPolicy(ctx, c.Client, deploy.PolicySpec{Namespace: cfg.Namespace, Port: port, AgentIPs: ips,
			CustomIPs: cfg.CustomizedTargetIPList, CustomPorts: customPorts(cfg), ICMP: probe.ParseKind(cfg.Protocol) == probe.KindICMP})
		if err != nil {
			return err
		}
		changed = changed || ch
	}
	if changed {
		fmt.Fprintf(log, "NetworkPolicy %s/%s now lists the agents' pod IPs; giving the policy engine %s\n", cfg.Namespace, deploy.NetworkPolicyName, policySettle)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(policySettle):
		}
	}
	return nil
}

func customPorts(cfg config.Config) []int {
	var out []int
	for _, p := range cfg.CustomizedTargetPortList {
		if n, err := p.Int(); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// deployAll applies the agents in every cluster at once.
func deployAll(ctx context.Context, cfg config.Config, clusters []*cluster, log io.Writer) error {
	port, _ := cfg.Port.Int()
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range clusters {
		if len(c.Networks) == 0 {
			continue
		}
		repo := cfg.SrcImageRepository
		if c.Name == plan.DstCluster && cfg.DstImageRepository != "" {
			repo = cfg.DstImageRepository
		}
		c.deployed = true
		g.Go(func() error {
			res, err := deploy.Apply(gctx, c.Client, deploy.Plan{
				Namespace: cfg.Namespace, Image: deploy.Image(repo, cfg.Version), Port: port, Networks: c.Networks,
				RawICMP: probe.ParseKind(cfg.Protocol) == probe.KindICMP, Nodes: c.NodeNames(), Resources: agentResources(cfg),
				NetworkPolicy: cfg.NetworkPolicy != "none", Policy: deploy.PolicySpec{CustomIPs: cfg.CustomizedTargetIPList, CustomPorts: customPorts(cfg)},
			}, log)
			if err != nil {
				return err
			}
			c.token = res.Token
			return nil
		})
	}
	return g.Wait()
}

// agentResources turns the config's agent quantities (validated) into the
// container's requests and limits.
func agentResources(cfg config.Config) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		list corev1.ResourceList
		name corev1.ResourceName
		v    string
	}{
		{r.Requests, corev1.ResourceCPU, cfg.AgentCPURequest}, {r.Requests, corev1.ResourceMemory, cfg.AgentMemoryRequest},
		{r.Limits, corev1.ResourceCPU, cfg.AgentCPULimit}, {r.Limits, corev1.ResourceMemory, cfg.AgentMemoryLimit},
	} {
		if v, err := resource.ParseQuantity(q.v); err == nil {
			q.list[q.name] = v
		}
	}
	return r
}
