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
	kube      kubeFlags
	namespace string
	port      int
	output    string
	genericiooptions.IOStreams
}

func newStatusCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &statusOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the monitor's health: workloads, agents reporting, failing pairs",
		Long: "Show the agent DaemonSets and the server, then ask the server (through the\n" +
			"API server's service proxy) for /api/v1/connectivity_check and the failing\n" +
			"pairs of /api/v1/matrix. Exit code 0 when every agent reports and no pair\n" +
			"fails, 1 otherwise.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.Run(contextOf(cmd)) },
	}
	o.kube.add(cmd.Flags())
	cmd.Flags().StringVarP(&o.namespace, "namespace", "n", manifest.DefaultNamespace, "namespace of the monitor")
	cmd.Flags().IntVar(&o.port, "server-port", manifest.DefaultServerPort, "server port")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "table or json (the failing pairs of the matrix)")
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
	if o.output != "table" && o.output != "json" {
		return clierr.Usagef("--output: must be table or json, got %q", o.output)
	}
	c, err := o.kube.connect(ctx)
	if err != nil {
		return err
	}
	w, err := workloadStatus(ctx, c, o.namespace)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the monitor is not installed in namespace %s (run `netctl monitor install -n %s`)", o.namespace, o.namespace)
	}
	if err != nil {
		return fmt.Errorf("reading the monitor workloads: %w", err)
	}
	healthy := w.ready()
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	code, body, err := proxyGet(qctx, c, o.namespace, o.port, api.PathConnectivity)
	if err != nil {
		return fmt.Errorf("asking the monitor server: %w", err)
	}
	var cc api.ConnectivityProblem
	_ = json.Unmarshal(body, &cc)
	if code != 200 {
		healthy = false
	}
	mcode, mbody, err := proxyGet(qctx, c, o.namespace, o.port, api.PathMatrix+"?failing=true")
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
	if o.output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.Out, "Workloads: %s\n", w)
		fmt.Fprintf(o.Out, "Agents:    %s\n", cc.Message)
		if len(cc.Absent) > 0 {
			fmt.Fprintf(o.Out, "  absent:   %s\n", strings.Join(cc.Absent, ", "))
		}
		if len(cc.Outdated) > 0 {
			fmt.Fprintf(o.Out, "  outdated: %s\n", strings.Join(cc.Outdated, ", "))
		}
		fmt.Fprintf(o.Out, "Pairs:     %d probed, %d failing\n", m.Total, m.Failing)
		if len(m.Pairs) > 0 {
			printPairs(o.Out, m.Pairs)
		}
	}
	if !healthy {
		return clierr.Silent(clierr.Failed)
	}
	return nil
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
