package check

import (
	"context"
	"fmt"
	"io"

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

// refreshPolicies adds the running agents' pod IPs to netctl's
// NetworkPolicy in every cluster. Probes start right after, with no fixed
// wait for the policy engine: on the sandbox's engine (kube-router) the
// default-deny e2e passes without one (TestNetworkPolicyDefaultDeny, 3 runs
// in a row), and a pair the engine has not admitted yet would be a FAILED
// row that names netctl's own policy's namespace, not a silent pass.
func refreshPolicies(ctx context.Context, cfg config.Config, clusters []*cluster, invs []*inventory.Inventory, log io.Writer) error {
	port, _ := cfg.Port.Int()
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
		if err := deploy.RefreshNetworkPolicy(ctx, c.Client, deploy.PolicySpec{Namespace: cfg.Namespace, Port: port, AgentIPs: ips,
			CustomIPs: cfg.CustomizedTargetIPList, CustomPorts: customPorts(cfg), ICMP: probe.ParseKind(cfg.Protocol) == probe.KindICMP}); err != nil {
			return err
		}
		fmt.Fprintf(log, "cluster %s: NetworkPolicy %s/%s lists the agents' pod IPs\n", c.Name, cfg.Namespace, deploy.NetworkPolicyName)
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
