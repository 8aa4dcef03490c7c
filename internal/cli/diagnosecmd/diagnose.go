// Package diagnosecmd implements `netctl diagnose`: deploy the host-network
// agents, collect each node's facts (routes, link MTU, conntrack, neighbour
// table) and name what is wrong on which node.
package diagnosecmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/configflags"
	"github.com/netdoctor/netdoctor/internal/cli/printers"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/diagnose"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Collector gathers node facts (check.CollectFacts; tests pass a fake).
type Collector func(ctx context.Context, opts check.FactsOptions) (*check.Facts, error)

// Options of `netctl diagnose`.
type Options struct {
	configflags.ClusterFlags
	ConfigFile   string
	ImageRepo    string
	PodWaitTime  int
	Print        *printers.PrintFlags
	AutoClean    bool
	ConntrackDst []string
	Node         string

	facts   check.FactsOptions
	collect Collector
	genericiooptions.IOStreams
}

// JSONOutput is the -o json document.
type JSONOutput struct {
	Facts    map[string]agent.NodeFacts `json:"facts"`
	Findings []report.Finding           `json:"findings"`
	// PodInterfaces are the running pods matched to their host veths
	// (absent when the pods could not be listed).
	PodInterfaces []diagnose.PodVeth `json:"podInterfaces,omitempty"`
	// DNS are the queries each node sent to the cluster DNS Service and
	// to each CoreDNS replica.
	DNS []check.DNSQuery `json:"dns,omitempty"`
	// Inconclusive are the rules that could not be applied, and why.
	Inconclusive []diagnose.Inconclusive `json:"inconclusive,omitempty"`
}

// NewCommand returns `netctl diagnose` wired to the real collector.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return newCommand(streams, check.CollectFacts)
}

func newCommand(streams genericiooptions.IOStreams, collect Collector) *cobra.Command {
	o := &Options{IOStreams: streams, collect: collect, Print: printers.New((*document)(nil))}
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
			if err := o.Complete(cmd); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	o.ClusterFlags.AddFlags(f, "")
	o.AddNamespaceFlag(f, config.DefaultNamespace, "namespace of the agents")
	f.StringVar(&o.ConfigFile, "config", "", "config.json to take namespace, port, image and version from (optional)")
	f.StringVar(&o.ImageRepo, "image-repository", config.DefaultImageRepository, "repository of the netctl image; the agent image is <repository>/netctl:<version> (overrides srcImageRepository)")
	f.IntVar(&o.PodWaitTime, "pod-wait-time", config.DefaultPodWaitTime, "seconds to wait for the agents to be ready")
	o.Print.AddFlags(f)
	f.BoolVar(&o.AutoClean, "auto-clean", false, "delete the agents when done")
	f.StringVar(&o.Node, "node", "", "diagnose only this node (its facts, compared with the other nodes' pod CIDRs and IPs)")
	f.StringSliceVar(&o.ConntrackDst, "conntrack-dst", nil, "count each node's conntrack entries toward this IP (repeatable; from /proc/net/nf_conntrack, skipped with the reason where absent)")
	return cmd
}

// Complete merges --config (when given) with the flags that were set and
// rejects bad input before anything touches a cluster.
func (o *Options) Complete(cmd *cobra.Command) error {
	cfg := config.Default()
	if o.ConfigFile != "" {
		var err error
		if cfg, err = config.Load(config.ExpandPath(o.ConfigFile)); err != nil {
			return clierr.UsageError(fmt.Errorf("--config: %w", err))
		}
	}
	changed := cmd.Flags().Changed
	if changed("namespace") || o.ConfigFile == "" {
		cfg.Namespace = o.Namespace
	}
	if changed("pod-wait-time") || o.ConfigFile == "" {
		cfg.PodWaitTime = o.PodWaitTime
	}
	if changed("auto-clean") || o.ConfigFile == "" {
		cfg.AutoClean = o.AutoClean
	}
	if changed("image-repository") {
		if o.ImageRepo == "" {
			return clierr.Usagef("--image-repository must not be empty")
		}
		cfg.SrcImageRepository = o.ImageRepo
	}
	kubeconfig, kctx := cfg.SrcKubeConfig, cfg.SrcContext
	if changed("kubeconfig") {
		kubeconfig = o.Kubeconfig
	}
	if changed("context") {
		kctx = o.Context
	}
	if err := o.Print.Validate(); err != nil {
		return err
	}
	if cfg.Namespace == "" {
		return clierr.Usagef("--namespace must not be empty")
	}
	if cfg.PodWaitTime <= 0 {
		return clierr.Usagef("--pod-wait-time must be a positive number of seconds, got %d", cfg.PodWaitTime)
	}
	port, err := cfg.Port.Int()
	if err != nil {
		return clierr.UsageError(fmt.Errorf("port in %s: %w", o.ConfigFile, err))
	}
	if kubeconfig != "" {
		kubeconfig = config.ExpandPath(kubeconfig)
	}
	for _, ip := range o.ConntrackDst {
		if _, err := netip.ParseAddr(ip); err != nil {
			return clierr.Usagef("--conntrack-dst %q is not an IP address", ip)
		}
	}
	o.facts = check.FactsOptions{
		Kubeconfig: kubeconfig, Context: kctx, Namespace: cfg.Namespace,
		Image: deploy.Image(cfg.SrcImageRepository, cfg.Version), Port: port,
		PodWait: time.Duration(cfg.PodWaitTime) * time.Second, AutoClean: cfg.AutoClean,
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
	if err := o.Print.Print(o.Out, &document{facts: facts, findings: findings, inconclusive: inconclusive}); err != nil {
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

// document is what diagnose prints: facts and findings.
type document struct {
	facts        *check.Facts
	findings     []report.Finding
	inconclusive []diagnose.Inconclusive
}

func (d *document) PrintJSON(w io.Writer) error {
	out := JSONOutput{Facts: d.facts.ByNode, Findings: d.findings, PodInterfaces: diagnose.PodVeths(d.facts.ByNode, d.facts.Pods), DNS: d.facts.DNS, Inconclusive: d.inconclusive}
	if out.Findings == nil {
		out.Findings = []report.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func (d *document) PrintHTML(w io.Writer) error {
	return report.WriteFactsHTML(w, "netctl diagnose", factsTable(d.facts), d.findings)
}

func (d *document) PrintTable(w io.Writer) error {
	writeTable(w, d.facts, d.findings, d.inconclusive)
	return nil
}

// factsTable is the per-node facts summary, one row per node: what the
// table and the html output show.
func factsTable(facts *check.Facts) report.FactsTable {
	t := report.FactsTable{Header: []string{"NODE", "MTU", "ROUTES", "CONNTRACK", "NEIGHBOURS"}}
	for _, n := range facts.Nodes {
		if facts.Only != "" && n.Name != facts.Only {
			continue
		}
		f, ok := facts.ByNode[n.Name]
		if !ok {
			t.Rows = append(t.Rows, []string{n.Name, "-", "-", "-", "-"})
			continue
		}
		mtu := "?"
		if m := diagnose.NodeMTU(n, f); m > 0 {
			mtu = strconv.Itoa(m)
		}
		t.Rows = append(t.Rows, []string{n.Name, mtu, strconv.Itoa(len(f.Routes)), usage(f.Conntrack.Count, f.Conntrack.Max),
			usage(len(f.Neighbours), f.NeighGC4[2])})
	}
	return t
}

// writeTable prints the per-node facts summary, then one line per finding.
func writeTable(w io.Writer, facts *check.Facts, findings []report.Finding, inconclusive []diagnose.Inconclusive) {
	ft := factsTable(facts)
	t := tablewriter.NewWriter(w)
	t.SetHeader(ft.Header)
	t.SetAutoFormatHeaders(false)
	t.SetAutoWrapText(false)
	t.SetAlignment(tablewriter.ALIGN_LEFT)
	t.AppendBulk(ft.Rows)
	t.Render()
	for _, n := range facts.Nodes {
		for _, c := range facts.ByNode[n.Name].ConntrackDst {
			if c.Skipped != "" {
				fmt.Fprintf(w, "conntrack entries toward %s on %s: skipped: %s\n", c.IP, n.Name, c.Skipped)
			} else {
				fmt.Fprintf(w, "conntrack entries toward %s on %s: %d\n", c.IP, n.Name, c.Count)
			}
		}
	}
	if len(inconclusive) > 0 {
		fmt.Fprintln(w, "\nInconclusive (not checked):")
		for _, i := range inconclusive {
			fmt.Fprintf(w, "  %s [%s] %s\n", i.Rule, strings.Join(i.Nodes, ","), i.Reason)
		}
	}
	if len(findings) == 0 {
		fmt.Fprintln(w, "\nFindings: none")
		return
	}
	fmt.Fprintln(w, "\nFindings:")
	for _, f := range findings {
		fmt.Fprintf(w, "  %s [%s] %s\n", f.Kind, strings.Join(f.Nodes, ","), f.Summary)
		if f.Evidence != "" {
			fmt.Fprintf(w, "      %s\n", f.Evidence)
		}
	}
}

// usage renders "count/max" with "?" for an unknown (-1) value.
func usage(count, max int) string {
	s := func(v int) string {
		if v < 0 {
			return "?"
		}
		return strconv.Itoa(v)
	}
	return s(count) + "/" + s(max)
}
