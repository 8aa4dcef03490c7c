// Package diagnosecmd implements `netctl diagnose`: deploy the host-network
// agents, collect each node's facts (routes, link MTU, conntrack, neighbour
// table) and name what is wrong on which node.
package diagnosecmd

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/configflags"
	"github.com/netdoctor/netdoctor/internal/cli/printers"
	"github.com/netdoctor/netdoctor/internal/cli/printers/diagnosereport"
	"github.com/netdoctor/netdoctor/internal/diagnose"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Collector gathers node facts (check.CollectFacts; tests pass a fake).
type Collector func(ctx context.Context, opts check.FactsOptions) (*check.Facts, error)

// Options of `netctl diagnose`.
type Options struct {
	configflags.AgentFlags
	Print        *printers.PrintFlags
	ConntrackDst []string
	Node         string

	facts   check.FactsOptions
	collect Collector
	genericiooptions.IOStreams
}

// NewCommand returns `netctl diagnose` wired to the real collector.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return newCommand(streams, check.CollectFacts)
}

func newCommand(streams genericiooptions.IOStreams, collect Collector) *cobra.Command {
	o := &Options{IOStreams: streams, collect: collect, Print: printers.New((*diagnosereport.Document)(nil))}
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Read every node's routes, MTU, conntrack and neighbour table and name what is wrong where",
		Long: "Deploy the host-network agents, read each node's network facts (interfaces and\n" +
			"MTU, routes of every table and ip rules, conntrack, neighbours, sysctls,\n" +
			"kube-proxy's rules and health, kernel log; DNS queries from every node) and\n" +
			"report findings: route-missing, mtu-mismatch, conntrack-near-full,\n" +
			"neighbour-table-near-full, sysctl-breaks-pod-traffic, neighbour-failed,\n" +
			"pod-veth-down, pod-veth-missing, pod-veth-mtu, conntrack-drops,\n" +
			"service-rules-missing, service-rules-stale, kube-proxy-not-syncing, kernel-log,\n" +
			"dns-replica-failing, dns-node-failing, facts-unavailable. Rules that could not\n" +
			"be applied are listed as inconclusive (no finding).\n\n" +
			"Exit status: 0 no finding, 1 some finding (or interrupted), 2 a usage or setup error.",
		Example: "  netctl diagnose\n  netctl diagnose -o json --auto-clean\n  netctl diagnose --node worker-2 --conntrack-dst 10.96.0.10",
		Args:    clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	o.AgentFlags.AddFlags(f, "agents")
	o.Print.AddFlags(f)
	f.StringVar(&o.Node, "node", "", "diagnose only this node (its facts, compared with the other nodes' pod CIDRs and IPs)")
	f.StringSliceVar(&o.ConntrackDst, "conntrack-dst", nil, "count each node's conntrack entries toward this IP (repeatable; from /proc/net/nf_conntrack, skipped with the reason where absent)")
	return cmd
}

// Complete merges --config (when given) with the flags that were set and
// rejects bad input before anything touches a cluster.
func (o *Options) Complete() error {
	agents, err := o.AgentFlags.Load()
	if err != nil {
		return err
	}
	if err := o.Print.Validate(); err != nil {
		return err
	}
	for _, ip := range o.ConntrackDst {
		if _, err := netip.ParseAddr(ip); err != nil {
			return clierr.Usagef("--conntrack-dst %q is not an IP address", ip)
		}
	}
	o.facts = check.FactsOptions{
		Kubeconfig: agents.Kubeconfig, Context: agents.Context, Namespace: agents.Namespace,
		Image: agents.Image, Port: agents.Port, PodWait: agents.PodWait, AutoClean: agents.AutoClean,
		ConntrackDst: o.ConntrackDst, Node: o.Node,
	}
	return nil
}

// Run collects, analyzes and renders; exit 1 when there is a finding.
func (o *Options) Run(ctx context.Context) error {
	opts := o.facts
	opts.Log = o.ErrOut
	facts, err := o.collect(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(o.ErrOut, "interrupted before facts were collected")
			return clierr.Silent(clierr.Failed)
		}
		return clierr.UsageError(err)
	}
	findings, inconclusive := diagnose.AnalyzeFactsFull(diagnose.WithPodAddrs(facts.Nodes, facts.Pods), facts.ByNode, facts.Unavailable)
	findings = append(findings, diagnose.AnalyzePods(facts.ByNode, facts.Pods, facts.PodsError)...)
	findings, inconclusive = withNodeRules(findings, inconclusive, facts)
	if facts.PodsError != "" {
		fmt.Fprintf(o.ErrOut, "pod interfaces not checked: %s\n", facts.PodsError)
	}
	if err := o.Print.Print(o.Out, &diagnosereport.Document{Facts: facts, Findings: findings, Inconclusive: inconclusive}); err != nil {
		return err
	}
	if len(findings) > 0 {
		fmt.Fprintf(o.ErrOut, "diagnose: %d finding(s) (%d node(s) checked)\n", len(findings), len(facts.ByNode))
		return clierr.Silent(clierr.Failed)
	}
	checked := len(facts.Nodes)
	if facts.Only != "" {
		checked = 1
	}
	fmt.Fprintf(o.ErrOut, "diagnose: no finding on %d node(s)\n", checked)
	return nil
}

// withNodeRules adds the findings of the rules that compare node facts
// with the API (Service rules, kube-proxy health) and returns what they
// could not judge.
func withNodeRules(findings []report.Finding, inc []diagnose.Inconclusive, facts *check.Facts) ([]report.Finding, []diagnose.Inconclusive) {
	if facts.ServicesError != "" {
		inc = append(inc, diagnose.Inconclusive{Rule: diagnose.KindServiceRulesMissing, Reason: "Services or EndpointSlices could not be listed: " + facts.ServicesError})
	} else {
		f, i := diagnose.AnalyzeServices(facts.Nodes, facts.ByNode, facts.Services, facts.ServicesChanged)
		findings, inc = append(findings, f...), append(inc, i...)
	}
	if len(facts.DNS) == 0 && facts.ServicesError == "" {
		inc = append(inc, diagnose.Inconclusive{Rule: diagnose.KindDNSReplicaFailing, Reason: "no cluster DNS Service (kube-system/kube-dns or coredns, UDP 53) to query"})
	}
	var qs []diagnose.NodeDNSQuery
	for _, q := range facts.DNS {
		qs = append(qs, diagnose.NodeDNSQuery{Node: q.Node, Server: q.Server, Pod: q.Pod, PodNode: q.PodNode, OK: q.Result.OK, Reason: q.Result.Reason})
	}
	findings = append(findings, diagnose.AnalyzeNodeDNS(qs)...)
	for _, rule := range []func([]kube.Node, map[string]agent.NodeFacts) ([]report.Finding, []diagnose.Inconclusive){
		diagnose.AnalyzeKubeProxy, diagnose.AnalyzeKernelLog,
	} {
		f, i := rule(facts.Nodes, facts.ByNode)
		findings, inc = append(findings, f...), append(inc, i...)
	}
	return findings, inc
}
