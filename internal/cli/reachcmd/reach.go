// Package reachcmd implements `netctl reach`: every service path of the
// cluster under HTTP load from every node, judged against expectations
// (internal/reach does the work).
package reachcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/configflags"
	"github.com/netdoctor/netdoctor/internal/cli/printers"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/reach"
)

// Runner runs a reach (reach.Run; tests pass a fake).
type Runner func(ctx context.Context, o reach.Options) (*reach.Report, error)

type options struct {
	configflags.AgentFlags
	print                      *printers.PrintFlags
	file                       string
	paths                      []string
	ipFamily                   string
	qps, duration, timeoutMS   int
	successRate, meanMs, p99Ms float64
	allBackends                bool
	rounds                     int
	interval                   time.Duration
	fromHere                   bool
	addressWait                time.Duration
	dnsName                    string
	multusNetworks             string

	run  Runner
	opts reach.Options
	genericiooptions.IOStreams
}

// NewCommand returns `netctl reach` wired to reach.Run.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return newCommand(streams, reach.Run)
}

func newCommand(streams genericiooptions.IOStreams, run Runner) *cobra.Command {
	o := &options{IOStreams: streams, run: run, print: printers.New((*document)(nil))}
	def := reach.DefaultSpec()
	cmd := &cobra.Command{
		Use:   "reach",
		Short: "Put every service path (pod, ClusterIP, NodePort, LB, Ingress, Gateway, Multus, hairpin, DNS) under load from every node and judge it",
		Long: "Deploy the agents and Services over them, then from every node's agent send HTTP load\n" +
			"(one batch per agent per round, the agent's QPS split over its targets) to every\n" +
			"path kind: pod, clusterip, nodeport (every node's every address), nodeport-local\n" +
			"(externalTrafficPolicy: Local, from the host network), affinity (sessionAffinity:\n" +
			"ClientIP), hairpin, loadbalancer, ingress, gateway, multus, dns. Each (source, path,\n" +
			"family, address) is judged: success rate, mean and p99 latency, status codes, and\n" +
			"which backends answered against the Service's ready endpoints.\n\n" +
			"Without --paths every path the cluster can serve runs; a path named in --paths (or\n" +
			"switched on in -f netreach.yaml) that the cluster cannot serve is bad input.\n" +
			"-f reads a kdoctor NetReach object (kdoctor.io/v1beta1); flags set explicitly win.\n\n" +
			"Exit status: 0 every row succeeded, 1 a row failed or a finding, 2 bad input or setup.",
		Example: "  netctl reach\n  netctl reach --paths clusterip,nodeport --qps 200 --duration 5 -o wide\n" +
			"  netctl reach -f netreach.yaml -o json\n  netctl reach --paths loadbalancer --from-here",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return o.execute(cmd.Context())
		},
	}
	f := cmd.Flags()
	o.AgentFlags.AddFlags(f, "agents and Services")
	o.print.AddFlags(f)
	f.StringVarP(&o.file, "filename", "f", "", "a kdoctor NetReach object (YAML or JSON) to run")
	f.StringSliceVar(&o.paths, "paths", nil, "path kinds to run (comma-separated): pod, clusterip, nodeport, nodeport-local, affinity, hairpin, loadbalancer, ingress, gateway, multus, dns (default: every one the cluster can serve)")
	f.StringVar(&o.ipFamily, "ip-family", "auto", "ipv4, ipv6, or auto (every family the cluster has)")
	f.IntVar(&o.qps, "qps", def.Request.QPS, fmt.Sprintf("requests per second per agent, split over its targets (1-%d)", reach.MaxQPS))
	f.IntVar(&o.duration, "duration", def.Request.DurationInSecond, "seconds of load per round (durationInSecond)")
	f.IntVar(&o.timeoutMS, "timeout", def.Request.PerRequestTimeoutInMS, "per-request timeout in milliseconds (perRequestTimeoutInMS)")
	f.Float64Var(&o.successRate, "success-rate", def.Expect.SuccessRate, "least share of requests that must succeed per row (expect.successRate, 0-1)")
	f.Float64Var(&o.meanMs, "mean-delay", def.Expect.MeanAccessDelayInMs, "highest mean latency per row in ms (expect.meanAccessDelayInMs)")
	f.Float64Var(&o.p99Ms, "p99-delay", 0, "highest p99 latency per row in ms (expect.p99AccessDelayInMs; 0 = not judged)")
	f.BoolVar(&o.allBackends, "all-backends", def.Expect.AllBackends, "on VIP paths every ready endpoint must answer (expect.allBackends)")
	f.IntVar(&o.rounds, "rounds", 1, "rounds to run")
	f.DurationVar(&o.interval, "interval", 0, "pause between rounds")
	f.BoolVar(&o.fromHere, "from-here", false, "netctl itself is a client too: LoadBalancer addresses and ETP=Local NodePorts from where it runs")
	f.DurationVar(&o.addressWait, "address-wait", 30*time.Second, "how long to wait for LoadBalancer/Ingress addresses and Service endpoints")
	f.StringVar(&o.multusNetworks, "multus-networks", "", "Multus networks the pod-network agents ask for (the k8s.v1.cni.cncf.io/networks annotation, e.g. macvlan-a or ns/nad@net1): their secondary IPs are the multus path's targets")
	f.StringVar(&o.dnsName, "dns-name", config.DefaultTargetHostToLookup, "name the dns path looks up")
	return cmd
}

// complete builds the spec (NetReach file, then flags set explicitly) and
// rejects bad input before anything touches a cluster.
func (o *options) complete(cmd *cobra.Command) error {
	changed := cmd.Flags().Changed
	spec := reach.DefaultSpec()
	if o.file != "" {
		data, err := os.ReadFile(o.file)
		if err != nil {
			return clierr.Usagef("-f: %v", err)
		}
		if spec, err = reach.ParseNetReach(data); err != nil {
			return clierr.UsageError(fmt.Errorf("-f %s: %w", o.file, err))
		}
	}
	if changed("paths") {
		ps, err := reach.ParsePaths("--paths", o.paths)
		if err != nil {
			return clierr.UsageError(err)
		}
		spec.Paths, spec.Asked = ps, map[reach.PathKind]string{}
		for _, p := range ps {
			spec.Asked[p] = "--paths " + string(p)
		}
	}
	switch o.ipFamily {
	case "auto":
	case "ipv4":
		spec.IPv4, spec.IPv6 = true, false
	case "ipv6":
		spec.IPv4, spec.IPv6 = false, true
	default:
		return clierr.Usagef("--ip-family %q is not one of auto, ipv4, ipv6", o.ipFamily)
	}
	// Without -f every flag applies (its default included); with -f only
	// the flags given explicitly override the object.
	for _, f := range []struct {
		flag string
		set  func()
	}{
		{"qps", func() { spec.Request.QPS = o.qps }},
		{"duration", func() { spec.Request.DurationInSecond = o.duration }},
		{"timeout", func() { spec.Request.PerRequestTimeoutInMS = o.timeoutMS }},
		{"success-rate", func() { spec.Expect.SuccessRate = o.successRate }},
		{"mean-delay", func() { spec.Expect.MeanAccessDelayInMs = o.meanMs }},
		{"p99-delay", func() { spec.Expect.P99AccessDelayInMs = o.p99Ms }},
		{"all-backends", func() { spec.Expect.AllBackends = o.allBackends }},
		{"rounds", func() { spec.Rounds = o.rounds }},
		{"interval", func() { spec.Interval = o.interval }},
	} {
		if changed(f.flag) || o.file == "" {
			f.set()
		}
	}
	spec.FromHere = o.fromHere
	if changed("multus-networks") {
		spec.MultusNetworks = o.multusNetworks
	}
	if err := spec.Validate(""); err != nil {
		return clierr.UsageError(flagNames(err))
	}
	if err := o.print.Validate(); err != nil {
		return err
	}
	agents, err := o.AgentFlags.Load()
	if err != nil {
		return err
	}
	if o.addressWait <= 0 {
		return clierr.Usagef("--address-wait must be positive, got %s", o.addressWait)
	}
	o.opts = reach.Options{Kubeconfig: agents.Kubeconfig, Context: agents.Context, Namespace: agents.Namespace,
		Image: agents.Image, Port: agents.Port, PodWait: agents.PodWait, AutoClean: agents.AutoClean,
		Spec: spec, AddressWait: o.addressWait, DNSName: o.dnsName}
	return nil
}

// flagNames turns spec field names into the flags that set them, for a
// run without -f (request.qps -> --qps).
func flagNames(err error) error {
	names := map[string]string{"request.qps": "--qps", "request.durationInSecond": "--duration", "request.perRequestTimeoutInMS": "--timeout",
		"expect.successRate": "--success-rate", "expect.meanAccessDelayInMs": "--mean-delay", "expect.p99AccessDelayInMs": "--p99-delay",
		"rounds": "--rounds", "interval": "--interval", "target.ipv4/ipv6": "--ip-family", "target": "--paths"}
	var out []error
	for _, e := range unjoin(err) {
		var fe *reach.FieldError
		if errors.As(e, &fe) {
			if flag, ok := names[fe.Field]; ok {
				e = &reach.FieldError{Field: flag + " (" + fe.Field + ")", Msg: fe.Msg}
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// execute runs and renders; exit 1 when a row did not succeed.
func (o *options) execute(ctx context.Context) error {
	opts := o.opts
	opts.Log = o.ErrOut
	for _, n := range opts.Spec.Notes {
		fmt.Fprintf(o.ErrOut, "note: %s\n", n)
	}
	rep, err := o.run(ctx, opts)
	if rep == nil {
		if ctx.Err() != nil {
			fmt.Fprintln(o.ErrOut, "interrupted before any result")
			return clierr.Silent(clierr.Failed)
		}
		return clierr.UsageError(err)
	}
	if err := o.print.Print(o.Out, &document{rep}); err != nil {
		return err
	}
	if !o.print.ForPeople() {
		fmt.Fprintln(o.ErrOut, rep.SummaryLine())
	}
	if rep.Interrupted || rep.Failed() {
		return clierr.Silent(clierr.Failed)
	}
	return nil
}

// document is what reach prints: the report in every format it has.
type document struct{ rep *reach.Report }

func (d *document) PrintTable(w io.Writer) error { d.rep.WriteTable(w, false); return nil }
func (d *document) PrintWide(w io.Writer) error  { d.rep.WriteTable(w, true); return nil }
func (d *document) PrintJSON(w io.Writer) error  { return d.rep.WriteJSON(w) }
func (d *document) PrintJUnit(w io.Writer) error { return d.rep.WriteJUnit(w) }
