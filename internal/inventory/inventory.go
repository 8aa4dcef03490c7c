// Package inventory reads what a cluster offers a run: its nodes and the
// netctl agents on each network, with one readiness rule (a pod is usable
// when Ready; a Ready pod beats a not-Ready one, a terminating one never
// wins) and, for an agent that is missing, the reason it is.
package inventory

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Agent is one node's agent on one network, or what is known of its
// absence.
type Agent struct {
	Cluster string
	Node    string
	Network deploy.Network
	Pod     string   // "" when no pod exists for this node
	IPs     []string // pod IPs (node IPs for host-network agents)
	// Port is where this agent answers probes when it differs from the
	// spec's port (a monitor peer list carries each agent's); 0 = the spec's.
	Port  int
	Ready bool
	// Problem says why the agent is not usable (empty when Ready), e.g.
	// "agent pod netdoctor-agent-pod-x on node-3 not ready: ImagePullBackOff";
	// Reason is its short cause ("ImagePullBackOff").
	Problem string
	Reason  string
}

// AsProblem is the structured form of a not-ready agent's Problem.
func (a *Agent) AsProblem(side string) *report.AgentProblem {
	return &report.AgentProblem{Side: side, Kind: report.AgentNotReady, Node: a.Node, Pod: a.Pod, Reason: a.Reason}
}

// Inventory is what one cluster offers a check.
type Inventory struct {
	Cluster string
	// Nodes that run agents (Linux nodes), sorted by name.
	Nodes []kube.Node
	// Agents by network, then node name. Every node of Nodes has an entry
	// for each deployed network (a placeholder with Problem when no pod).
	Agents map[deploy.Network]map[string]*Agent
	// DNS are the cluster DNS Service IPs (only looked up for dns checks).
	DNS []string
}

// Families of an inventory: every family any node or agent has an address of.
func (inv *Inventory) Families() []probe.Family {
	seen := map[probe.Family]bool{}
	for _, n := range inv.Nodes {
		for _, ip := range n.InternalIPs {
			seen[probe.FamilyOf(ip)] = true
		}
	}
	for _, byNode := range inv.Agents {
		for _, a := range byNode {
			for _, ip := range a.IPs {
				seen[probe.FamilyOf(ip)] = true
			}
		}
	}
	var out []probe.Family
	for _, f := range []probe.Family{probe.IPv4, probe.IPv6} {
		if seen[f] {
			out = append(out, f)
		}
	}
	return out
}

// AgentOn returns the agent of node on network n, or a placeholder saying
// none was scheduled there.
func (inv *Inventory) AgentOn(n deploy.Network, node kube.Node) *Agent {
	if a := inv.Agents[n][node.Name]; a != nil {
		return a
	}
	a := &Agent{Cluster: inv.Cluster, Node: node.Name, Network: n,
		Problem: fmt.Sprintf("no %s-network agent pod scheduled on %s", n, node.Name),
		Reason:  "no agent pod scheduled"}
	if n == deploy.HostNetwork {
		a.IPs = node.InternalIPs
	}
	return a
}

// Cluster is one cluster of a run: its client and the agent networks
// deployed there.
type Cluster struct {
	Name     string
	Client   *kube.Client
	Networks []deploy.Network
	// Nodes are the nodes checked (can run an agent, match nodeSelector);
	// nil before SelectNodes ran (tests): every node that can run one.
	Nodes map[string]bool
}

// SelectNodes decides which nodes of c a check covers: those that can run
// an agent and match selector. It returns the others that cannot run an
// agent, each once with the reason, and says how many selector left out.
func SelectNodes(ctx context.Context, c *Cluster, selector string, log io.Writer) ([]report.SkippedNode, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("nodeSelector: %w", err)
	}
	nodes, err := c.Client.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	c.Nodes = map[string]bool{}
	var skipped []report.SkippedNode
	outside := 0
	for _, n := range nodes {
		switch {
		case !sel.Matches(labels.Set(n.Labels)):
			outside++
		case n.Skip != "":
			skipped = append(skipped, report.SkippedNode{Cluster: c.Name, Node: n.Name, Reason: n.Skip})
			fmt.Fprintf(log, "cluster %s: skipping node %s: %s\n", c.Name, n.Name, n.Skip)
		default:
			c.Nodes[n.Name] = true
		}
	}
	if outside > 0 {
		fmt.Fprintf(log, "cluster %s: %d of %d nodes do not match nodeSelector %q and are not checked\n", c.Name, outside, len(nodes), selector)
	}
	if len(c.Nodes) == 0 {
		return nil, fmt.Errorf("cluster %s: no node to check: none of its %d nodes can run an agent and matches nodeSelector %q", c.Name, len(nodes), selector)
	}
	return skipped, nil
}

func (c *Cluster) NodeNames() []string {
	var out []string
	for n := range c.Nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// progressEvery is how often Wait says how many agents are ready.
const progressEvery = 5 * time.Second

// Wait watches the agent pods and DaemonSets of c's networks (client-go
// informers: one list and one watch each, instead of listing every second)
// until every node has a Ready agent on each network, or until deadline;
// then it returns the inventory as it stands. A late or broken agent never
// blocks the others: it simply shows up with its Problem. Only ctx ending
// is an error.
func Wait(ctx context.Context, c *Cluster, namespace string, deadline time.Time, log io.Writer) (*Inventory, error) {
	nodes, err := c.Client.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client.Clientset, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = deploy.NameLabel + "=" + deploy.AgentName }))
	pods := factory.Core().V1().Pods()
	dss := factory.Apps().V1().DaemonSets()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // a rebuild is already due
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{pods.Informer(), dss.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("watching agent pods in cluster %s: %w", c.Name, err)
		}
	}
	defer factory.Shutdown() // runs after stop: Shutdown waits for the informers to end
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	factory.Start(wctx.Done())
	// A watch that never syncs (no watch permission: the informer retries
	// forever) must not outlast the deadline: then read once instead.
	sctx, scancel := context.WithDeadline(wctx, deadline)
	defer scancel()
	for _, ok := range factory.WaitForCacheSync(sctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			inv, _, err := Read(ctx, c, namespace)
			return inv, err
		}
	}
	// While waiting, a node without a pod is not asked about FailedCreate
	// events (an API request each time); the final read asks.
	watched := source{
		pods: func(net deploy.Network) ([]kube.Pod, error) {
			sel, err := labels.Parse(deploy.AgentSelector(net))
			if err != nil {
				return nil, err
			}
			objs, err := pods.Lister().Pods(namespace).List(sel)
			if err != nil {
				return nil, err
			}
			out := make([]kube.Pod, 0, len(objs))
			for _, p := range objs {
				out = append(out, kube.PodInfo(p))
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
			return out, nil
		},
		daemonSet: func(name string) (*appsv1.DaemonSet, error) {
			return dss.Lister().DaemonSets(namespace).Get(name)
		},
		failedCreate: func(string) string { return "" },
	}
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	for {
		inv, done, err := build(c, namespace, nodes, watched)
		if err != nil {
			return nil, err
		}
		if done {
			return inv, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			inv, _, err := build(c, namespace, nodes, watched.withFailedCreate(ctx, c.Client, namespace))
			return inv, err
		case <-progress.C:
			fmt.Fprintf(log, "waiting for agents in cluster %s: %s\n", c.Name, inv.ReadySummary(c.Networks))
		case <-changed:
		}
	}
}

// source is where an inventory's pods and DaemonSets come from: the API
// (Read) or Wait's watch caches.
type source struct {
	pods         func(deploy.Network) ([]kube.Pod, error)
	daemonSet    func(name string) (*appsv1.DaemonSet, error)
	failedCreate func(daemonSet string) string
}

func (s source) withFailedCreate(ctx context.Context, c *kube.Client, namespace string) source {
	s.failedCreate = func(ds string) string { return c.FailedCreate(ctx, namespace, ds) }
	return s
}

// Read reads nodes and agent pods once. done reports whether every
// node has a Ready agent on every network and the DaemonSets have rolled
// out their current spec (so no agent of an older spec is used).
func Read(ctx context.Context, c *Cluster, namespace string) (*Inventory, bool, error) {
	nodes, err := c.Client.Nodes(ctx)
	if err != nil {
		return nil, false, err
	}
	api := source{
		pods: func(net deploy.Network) ([]kube.Pod, error) {
			return c.Client.Pods(ctx, namespace, deploy.AgentSelector(net))
		},
		daemonSet: func(name string) (*appsv1.DaemonSet, error) {
			return c.Client.Clientset.AppsV1().DaemonSets(namespace).Get(ctx, name, metav1.GetOptions{})
		},
		failedCreate: func(ds string) string { return c.Client.FailedCreate(ctx, namespace, ds) },
	}
	return build(c, namespace, nodes, api)
}

// build makes the inventory of nodes from src's agent pods.
func build(c *Cluster, namespace string, nodes []kube.Node, src source) (*Inventory, bool, error) {
	inv := &Inventory{Cluster: c.Name, Agents: map[deploy.Network]map[string]*Agent{}}
	for _, n := range nodes {
		if (c.Nodes == nil && n.Skip == "") || c.Nodes[n.Name] {
			inv.Nodes = append(inv.Nodes, n)
		}
	}
	done := true
	for _, net := range c.Networks {
		pods, err := src.pods(net)
		if err != nil {
			return nil, false, err
		}
		byNode := map[string]*Agent{}
		for _, p := range pods {
			if p.Node == "" {
				continue // not scheduled, and not known to be meant for a node
			}
			if cur := byNode[p.Node]; cur != nil && !better(p, cur) {
				continue
			}
			a := &Agent{Cluster: c.Name, Node: p.Node, Network: net, Pod: p.Name, IPs: p.IPs, Ready: p.Ready}
			if !p.Ready {
				where := "on"
				if !p.Scheduled {
					where = "for"
				}
				a.Problem = fmt.Sprintf("agent pod %s %s %s not ready: %s", p.Name, where, p.Node, p.NotReady)
				a.Reason = p.NotReady
			}
			byNode[p.Node] = a
		}
		inv.Agents[net] = byNode
		failedCreate, asked := "", false
		for _, n := range inv.Nodes {
			a := inv.AgentOn(net, n)
			if a.Pod == "" {
				// No pod at all: the DaemonSet controller's FailedCreate
				// event (admission, quota, ...) says why, when there is one.
				if !asked {
					failedCreate, asked = src.failedCreate(deploy.DaemonSetName(net)), true
				}
				if failedCreate != "" {
					a.Reason = "FailedCreate: " + failedCreate
					a.Problem = fmt.Sprintf("no %s-network agent pod on %s: DaemonSet %s/%s cannot create pods: %s", net, n.Name, namespace, deploy.DaemonSetName(net), failedCreate)
				}
			}
			byNode[n.Name] = a
			if !a.Ready {
				done = false
			}
		}
		if done {
			ds, err := src.daemonSet(deploy.DaemonSetName(net))
			if err != nil {
				return nil, false, fmt.Errorf("reading DaemonSet %s/%s in cluster %s: %w", namespace, deploy.DaemonSetName(net), c.Name, err)
			}
			if ds.Status.ObservedGeneration < ds.Generation || ds.Status.UpdatedNumberScheduled < ds.Status.DesiredNumberScheduled {
				done = false
			}
		}
	}
	return inv, done, nil
}

// better says whether pod p should represent its node rather than cur:
// Ready beats not Ready, and a pod being deleted never wins.
func better(p kube.Pod, cur *Agent) bool {
	if cur.Ready {
		return false
	}
	return p.Ready || !p.Terminating
}

// ReadySummary says how many agents of each network are ready.
func (inv *Inventory) ReadySummary(nets []deploy.Network) string {
	s := ""
	for i, net := range nets {
		ready := 0
		for _, a := range inv.Agents[net] {
			if a.Ready {
				ready++
			}
		}
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d/%d %s-network agents ready", ready, len(inv.Nodes), net)
	}
	return s
}
