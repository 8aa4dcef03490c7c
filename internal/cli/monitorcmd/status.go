package monitorcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/printers"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
)

type workloads struct {
	daemonSets []dsStatus
	serverOK   bool
	serverText string
}

type dsStatus struct {
	name           string
	desired, ready int32
}

func (w workloads) ready() bool {
	if !w.serverOK || len(w.daemonSets) != 2 {
		return false
	}
	for _, d := range w.daemonSets {
		if d.desired == 0 || d.ready < d.desired {
			return false
		}
	}
	return true
}

func (w workloads) String() string {
	var parts []string
	for _, d := range w.daemonSets {
		parts = append(parts, fmt.Sprintf("%s %d/%d ready", d.name, d.ready, d.desired))
	}
	return strings.Join(append(parts, w.serverText), ", ")
}

func workloadStatus(ctx context.Context, c *clients, ns string) (workloads, error) {
	var w workloads
	for _, name := range []string{manifest.PodAgentDS, manifest.HostAgentDS} {
		ds, err := c.cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return w, err
		}
		w.daemonSets = append(w.daemonSets, dsStatus{name, ds.Status.DesiredNumberScheduled, ds.Status.NumberReady})
	}
	d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, manifest.ServerDeploy, metav1.GetOptions{})
	if err != nil {
		return w, err
	}
	w.serverOK = d.Status.AvailableReplicas >= 1
	w.serverText = fmt.Sprintf("%s %d/%d available", manifest.ServerDeploy, d.Status.AvailableReplicas, ptrVal(d.Spec.Replicas))
	return w, nil
}

func ptrVal(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

type statusOptions struct {
	kube  kubeFlags
	port  int
	print *printers.PrintFlags
	genericiooptions.IOStreams
}

func newStatusCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &statusOptions{IOStreams: streams, print: printers.New((*statusDoc)(nil))}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the monitor's health: workloads, agents reporting, failing pairs",
		Long: "Show the agent DaemonSets and the server, then ask the server (through the\n" +
			"API server's service proxy) for /api/v1/connectivity_check, the failing\n" +
			"pairs of /api/v1/matrix and the findings of /api/v1/findings (the likely\n" +
			"culprit, read as netctl check reads its rows). -o json prints the matrix. Exit code 0 when every agent reports and no pair\n" +
			"fails, 1 otherwise.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.Run(contextOf(cmd)) },
	}
	o.kube.add(cmd.Flags())
	o.kube.AddNamespaceFlag(cmd.Flags(), manifest.DefaultNamespace, "namespace of the monitor")
	cmd.Flags().IntVar(&o.port, "server-port", manifest.DefaultServerPort, "server port")
	o.print.AddFlags(cmd.Flags())
	return cmd
}

// proxyGet GETs path (with an optional query) from the server through the
// service proxy and returns the HTTP status and body.
func proxyGet(ctx context.Context, c *clients, ns string, port int, path string) (int, []byte, error) {
	u, err := url.Parse(path)
	if err != nil {
		return 0, nil, err
	}
	req := c.cs.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/namespaces", ns, "services", "http:"+manifest.ServiceName+":"+strconv.Itoa(port), "proxy").
		Suffix(u.Path)
	// The query goes in as parameters: in the suffix, "?" would be escaped
	// into the path.
	for k, vs := range u.Query() {
		for _, v := range vs {
			req = req.Param(k, v)
		}
	}
	var code int
	res := req.Do(ctx).StatusCode(&code)
	body, err := res.Raw()
	if code == 0 && err != nil {
		return 0, nil, err
	}
	return code, body, nil
}

func (o *statusOptions) Run(ctx context.Context) error {
	if err := o.print.Validate(); err != nil {
		return err
	}
	c, err := o.kube.connect(ctx)
	if err != nil {
		return err
	}
	w, err := workloadStatus(ctx, c, o.kube.Namespace)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the monitor is not installed in namespace %s (run `netctl monitor install -n %s`)", o.kube.Namespace, o.kube.Namespace)
	}
	if err != nil {
		return fmt.Errorf("reading the monitor workloads: %w", err)
	}
	healthy := w.ready()
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	code, body, err := proxyGet(qctx, c, o.kube.Namespace, o.port, api.PathConnectivity)
	if err != nil {
		return fmt.Errorf("asking the monitor server: %w", err)
	}
	var cc api.ConnectivityProblem
	_ = json.Unmarshal(body, &cc)
	if code != 200 {
		healthy = false
	}
	mcode, mbody, err := proxyGet(qctx, c, o.kube.Namespace, o.port, api.PathMatrix+"?failing=true")
	if err != nil || mcode != 200 {
		return fmt.Errorf("asking the monitor server for the matrix: status %d: %v", mcode, err)
	}
	var m api.Matrix
	if err := json.Unmarshal(mbody, &m); err != nil {
		return fmt.Errorf("decoding the matrix: %w", err)
	}
	if m.Failing > 0 {
		healthy = false
	}
	doc := &statusDoc{workloads: w, agents: cc, matrix: m}
	fcode, fbody, err := proxyGet(qctx, c, o.kube.Namespace, o.port, api.PathFindings)
	if err != nil || fcode != 200 {
		return fmt.Errorf("asking the monitor server for the findings: status %d: %v", fcode, err)
	}
	if err := json.Unmarshal(fbody, &doc.findings); err != nil {
		return fmt.Errorf("decoding the findings: %w", err)
	}
	rcode, rbody, err := proxyGet(qctx, c, o.kube.Namespace, o.port, api.PathReach)
	if err != nil || rcode != 200 {
		return fmt.Errorf("asking the monitor server for the reach rounds: status %d: %v", rcode, err)
	}
	if err := json.Unmarshal(rbody, &doc.reach); err != nil {
		return fmt.Errorf("decoding the reach rounds: %w", err)
	}
	for _, p := range doc.reach.Paths {
		if p.Result == "FAILED" && !p.Stale {
			healthy = false
		}
	}
	if err := o.print.Print(o.Out, doc); err != nil {
		return err
	}
	if !healthy {
		return clierr.Silent(clierr.Failed)
	}
	return nil
}

// statusDoc is what `monitor status` prints.
type statusDoc struct {
	workloads workloads
	agents    api.ConnectivityProblem
	matrix    api.Matrix
	findings  api.Findings
	reach     api.ReachStatus
}

// PrintJSON prints the matrix of failing pairs (the document scripts read).
func (d *statusDoc) PrintJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d.matrix)
}

func (d *statusDoc) PrintTable(out io.Writer) error {
	fmt.Fprintf(out, "Workloads: %s\n", d.workloads)
	fmt.Fprintf(out, "Agents:    %s\n", d.agents.Message)
	if len(d.agents.Absent) > 0 {
		fmt.Fprintf(out, "  absent:   %s\n", strings.Join(d.agents.Absent, ", "))
	}
	if len(d.agents.Outdated) > 0 {
		fmt.Fprintf(out, "  outdated: %s\n", strings.Join(d.agents.Outdated, ", "))
	}
	fmt.Fprintf(out, "Pairs:     %d probed, %d failing\n", d.matrix.Total, d.matrix.Failing)
	if len(d.matrix.Pairs) > 0 {
		printPairs(out, d.matrix.Pairs)
	}
	if len(d.reach.Paths) > 0 || len(d.reach.Notes) > 0 {
		printReach(out, d.reach)
	}
	if len(d.findings.Findings) > 0 {
		fmt.Fprintln(out, "Findings:")
		for _, f := range d.findings.Findings {
			fmt.Fprintf(out, "  %s: %s\n", f.Kind, f.Summary)
			if f.Evidence != "" {
				fmt.Fprintf(out, "      %s\n", f.Evidence)
			}
		}
	}
	return nil
}

// printReach prints each source node's latest reach round per (path,
// family) with netctl reach's BACKENDS cell (reached/expected, "?" when
// some targets had too few answers to judge), then the failed targets.
func printReach(out io.Writer, st api.ReachStatus) {
	fmt.Fprintln(out, "Reach (latest round per source node):")
	t := tablewriter.NewWriter(out)
	t.SetHeader([]string{"SOURCE", "PATH", "FAMILY", "ROUND", "TARGETS", "REQUESTS", "SUCCESS", "BACKENDS", "RESULT"})
	t.SetAutoWrapText(false)
	for _, p := range st.Paths {
		rate := "-"
		if p.Requests > 0 {
			rate = fmt.Sprintf("%.2f%%", 100*float64(p.Succeeded)/float64(p.Requests))
		}
		backends := "-"
		if p.BackendsExpected > 0 {
			backends = fmt.Sprintf("%d/%d", p.BackendsReached, p.BackendsExpected)
		}
		if p.Inconclusive > 0 {
			backends += "?"
		}
		result := p.Result
		if p.Stale {
			result += " (stale: next round overdue)"
		}
		t.Append([]string{p.SourceNode, p.Path, string(p.Family), strconv.FormatInt(p.Round, 10), strconv.Itoa(p.Targets),
			strconv.FormatInt(p.Requests, 10), rate, backends, result})
	}
	t.Render()
	for _, r := range st.Failed {
		fmt.Fprintf(out, "  %s %s %s %s: %s: %s\n", r.SourceNode, r.Path, r.Family, r.Address, r.Result, strings.Join(r.Reasons, "; "))
	}
	// Asked paths without an address are not in the rounds: say why.
	for _, n := range st.Notes {
		fmt.Fprintf(out, "  not in the rounds: %s\n", n)
	}
}

func printPairs(out io.Writer, pairs []api.MatrixPair) {
	t := tablewriter.NewWriter(out)
	t.SetHeader([]string{"SOURCE", "TARGET", "ADDRESS", "KIND", "CLASS", "ROUNDS", "FAILING SINCE", "REASON"})
	t.SetAutoWrapText(false)
	for _, p := range pairs {
		since := ""
		if p.FailingSince != nil {
			since = p.FailingSince.UTC().Format(time.RFC3339)
		}
		t.Append([]string{p.Source, p.Target, p.Address, string(p.Kind), string(p.Class),
			strconv.Itoa(p.ConsecutiveFailures), since, p.Reason})
	}
	t.Render()
}
