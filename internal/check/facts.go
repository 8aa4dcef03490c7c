package check

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/plan"
)

// FactsOptions say where `netctl diagnose` collects node facts.
type FactsOptions struct {
	Kubeconfig, Context string
	Namespace           string
	Image               string // full agent image reference
	Port                int    // agent data port; the API is on agent.APIPortFor(Port)
	PodWait             time.Duration
	AutoClean           bool
	Log                 io.Writer
	// ConntrackDst: count each node's conntrack entries toward these IPs.
	ConntrackDst []string
	// Node, when set, limits the collection to this one node.
	Node string
}

// Facts is what the host-network agents reported.
type Facts struct {
	Nodes []kube.Node // Linux nodes, sorted by name
	// ByNode holds the facts of every node whose agent answered.
	ByNode map[string]agent.NodeFacts
	// Unavailable says why a node has no facts (agent not ready, or the
	// request through the API server failed).
	Unavailable map[string]string
	// Pods are every pod of the cluster (all namespaces), for the rules
	// that map a pod to its host-side veth; PodsError says why they could
	// not be listed (those rules are then inconclusive).
	Pods      []kube.Pod
	PodsError string
	// Services are the Service ports (with ready endpoints) the API held
	// both before and after the agents were asked: a port that changed
	// meanwhile is left out (ServicesChanged names it), since a node's
	// rules may rightly lag it. ServicesError says why they could not be
	// listed (the Service rules are then inconclusive).
	Services        []kube.ServicePort
	ServicesChanged []string
	ServicesError   string
	// DNS are the queries each node's host-network agent sent to the
	// cluster DNS Service and to each of its endpoints (CoreDNS replicas).
	DNS []DNSQuery
	// Only is the one node asked (--node); "" all. Nodes still lists every
	// node: rules about one node compare it with the others' pod CIDRs and IPs.
	Only string
}

// factsTimeout bounds one agent's answer (API server proxy included).
const factsTimeout = 30 * time.Second

// CollectFacts deploys the host-network agents, waits for them (at most
// PodWait) and asks each Ready one for its node's facts through the API
// server's pod proxy. An error is a setup problem (nothing collected).
func CollectFacts(ctx context.Context, opts FactsOptions) (*Facts, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	client, err := kube.New(ctx, plan.SrcCluster, kube.Options{Kubeconfig: opts.Kubeconfig, Context: opts.Context, Hint: "--kubeconfig"})
	if err != nil {
		return nil, err
	}
	if err := deploy.Preflight(ctx, client, opts.Namespace); err != nil {
		return nil, err
	}
	c := &cluster{Cluster: inventory.Cluster{Name: plan.SrcCluster, Client: client, Networks: []deploy.Network{deploy.HostNetwork}}, deployed: true}
	if opts.AutoClean {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanTimeout)
			defer cancel()
			if err := deploy.Clean(cctx, client, deploy.CleanScope{Namespace: opts.Namespace}, log); err != nil {
				fmt.Fprintf(log, "autoClean failed: %v; run `netctl clean`\n", err)
			}
		}()
	}
	res, err := deploy.Apply(ctx, client, deploy.Plan{Namespace: opts.Namespace, Image: opts.Image, Port: opts.Port, Networks: c.Networks, Diagnose: true}, log)
	if err != nil {
		return nil, err
	}
	c.token = res.Token
	inv, err := inventory.Wait(ctx, &c.Cluster, opts.Namespace, time.Now().Add(opts.PodWait), log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "ready: %s\n", inv.ReadySummary(c.Networks))

	out := &Facts{Nodes: inv.Nodes, ByNode: map[string]agent.NodeFacts{}, Unavailable: map[string]string{}, Only: opts.Node}
	if opts.Node != "" && !slices.ContainsFunc(inv.Nodes, func(n kube.Node) bool { return n.Name == opts.Node }) {
		var names []string
		for _, n := range inv.Nodes {
			names = append(names, n.Name)
		}
		return nil, fmt.Errorf("--node %s: no such Linux node (nodes: %s)", opts.Node, strings.Join(names, ", "))
	}
	before, svcErr := client.ServicePorts(ctx)
	vips, dnsEPs := DNSServers(before)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range inv.Nodes {
		if opts.Node != "" && n.Name != opts.Node {
			continue
		}
		a := inv.AgentOn(deploy.HostNetwork, n)
		if !a.Ready {
			out.Unavailable[n.Name] = a.Problem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fctx, cancel := context.WithTimeout(ctx, factsTimeout)
			defer cancel()
			url := client.PodProxyURL(opts.Namespace, a.Pod, agent.APIPortFor(opts.Port))
			f, err := agent.FactsFor(fctx, client.HTTP, url, c.token, opts.ConntrackDst)
			var dns []DNSQuery
			if err == nil {
				dns = queryDNS(fctx, client.HTTP, url, c.token, n.Name, vips, dnsEPs)
			}
			mu.Lock()
			out.DNS = append(out.DNS, dns...)
			defer mu.Unlock()
			if err != nil {
				out.Unavailable[n.Name] = fmt.Sprintf("asking agent pod %s on %s: %v", a.Pod, n.Name, err)
				return
			}
			out.ByNode[n.Name] = f
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if svcErr == nil {
		var after []kube.ServicePort
		if after, svcErr = client.ServicePorts(ctx); svcErr == nil {
			out.Services, out.ServicesChanged = kube.StablePorts(before, after)
		}
	}
	if svcErr != nil {
		out.ServicesError = svcErr.Error()
	}
	if out.Pods, err = client.Pods(ctx, "", ""); err != nil {
		out.PodsError = err.Error()
	}
	if !opts.AutoClean {
		fmt.Fprintf(log, "agents stay in namespace %s; `netctl clean` removes them\n", opts.Namespace)
	}
	return out, nil
}
