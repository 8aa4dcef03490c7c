package check

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// pollInterval is how often readiness is re-read while waiting.
const pollInterval = time.Second

// cluster is one cluster of a run and what was deployed there.
type cluster struct {
	name     string
	client   *kube.Client
	networks []deploy.Network
	token    string
	deployed bool // Apply succeeded (or partially ran): clean may be needed
	// nodes are the nodes checked (can run an agent, match nodeSelector);
	// nil before selectNodes ran (tests): every node that can run one.
	nodes map[string]bool
}

// selectNodes decides which nodes of c a check covers: those that can run
// an agent and match selector. It returns the others that cannot run an
// agent, each once with the reason, and says how many selector left out.
func selectNodes(ctx context.Context, c *cluster, selector string, log io.Writer) ([]report.SkippedNode, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("nodeSelector: %w", err)
	}
	nodes, err := c.client.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	c.nodes = map[string]bool{}
	var skipped []report.SkippedNode
	outside := 0
	for _, n := range nodes {
		switch {
		case !sel.Matches(labels.Set(n.Labels)):
			outside++
		case n.Skip != "":
			skipped = append(skipped, report.SkippedNode{Cluster: c.name, Node: n.Name, Reason: n.Skip})
			fmt.Fprintf(log, "cluster %s: skipping node %s: %s\n", c.name, n.Name, n.Skip)
		default:
			c.nodes[n.Name] = true
		}
	}
	if outside > 0 {
		fmt.Fprintf(log, "cluster %s: %d of %d nodes do not match nodeSelector %q and are not checked\n", c.name, outside, len(nodes), selector)
	}
	if len(c.nodes) == 0 {
		return nil, fmt.Errorf("cluster %s: no node to check: none of its %d nodes can run an agent and matches nodeSelector %q", c.name, len(nodes), selector)
	}
	return skipped, nil
}

func (c *cluster) nodeNames() []string {
	var out []string
	for n := range c.nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// waitAgents polls the agent pods of c's networks until every Linux node has
// a Ready agent on each, or until deadline; then it returns the inventory
// as it stands. A late or broken agent never blocks the others: it simply
// shows up with its Problem. Only ctx ending is an error.
func waitAgents(ctx context.Context, c *cluster, namespace string, deadline time.Time, log io.Writer) (*Inventory, error) {
	lastReport := time.Time{}
	for {
		inv, done, err := readInventory(ctx, c, namespace)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		if done || !now.Before(deadline) {
			return inv, nil
		}
		if now.Sub(lastReport) >= 5*time.Second {
			lastReport = now
			fmt.Fprintf(log, "waiting for agents in cluster %s: %s\n", c.name, readySummary(inv, c.networks))
		}
		wait := pollInterval
		if left := time.Until(deadline); left < wait {
			wait = left
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// readInventory reads nodes and agent pods once. done reports whether every
// node has a Ready agent on every network and the DaemonSets have rolled
// out their current spec (so no agent of an older spec is used).
func readInventory(ctx context.Context, c *cluster, namespace string) (*Inventory, bool, error) {
	nodes, err := c.client.Nodes(ctx)
	if err != nil {
		return nil, false, err
	}
	inv := &Inventory{Cluster: c.name, Agents: map[deploy.Network]map[string]*Agent{}}
	for _, n := range nodes {
		if (c.nodes == nil && n.Skip == "") || c.nodes[n.Name] {
			inv.Nodes = append(inv.Nodes, n)
		}
	}
	done := true
	for _, net := range c.networks {
		pods, err := c.client.Pods(ctx, namespace, deploy.AgentSelector(net))
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
			a := &Agent{Cluster: c.name, Node: p.Node, Network: net, Pod: p.Name, IPs: p.IPs, Ready: p.Ready}
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
			a := inv.agent(net, n)
			if a.Pod == "" {
				// No pod at all: the DaemonSet controller's FailedCreate
				// event (admission, quota, ...) says why, when there is one.
				if !asked {
					failedCreate, asked = c.client.FailedCreate(ctx, namespace, deploy.DaemonSetName(net)), true
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
			ds, err := c.client.Clientset.AppsV1().DaemonSets(namespace).Get(ctx, deploy.DaemonSetName(net), metav1.GetOptions{})
			if err != nil {
				return nil, false, fmt.Errorf("reading DaemonSet %s/%s in cluster %s: %w", namespace, deploy.DaemonSetName(net), c.name, err)
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

func readySummary(inv *Inventory, nets []deploy.Network) string {
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
