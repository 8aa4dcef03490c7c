package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/agent"

	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// cluster is one cluster of a run and what was deployed there.
type cluster struct {
	inventory.Cluster
	token    string
	deployed bool // Apply succeeded (or partially ran): clean may be needed
}

// Options of one check run.
type Options struct {
	Config   config.Config         // already defaulted+validated, paths expanded
	Resume   []report.Pair         // non-nil: re-check only these pairs
	Progress func(done, total int) // may be nil; called as results arrive
	Log      io.Writer             // human progress/log lines (stderr)
}

// CleanOptions say where `netctl clean` looks.
type CleanOptions struct {
	SrcKubeconfig, SrcContext, DstKubeconfig, DstContext, Namespace string
	Log                                                             io.Writer
}

// cleanTimeout bounds the automatic clean after a run (also after Ctrl-C,
// when the run's own context is already gone).
const cleanTimeout = 60 * time.Second

// Run checks every planned pair and returns the report. An error with a
// nil report is a setup problem (bad kubeconfig, missing permission,
// nothing to check). When ctx ends early the report holds what was
// gathered, Interrupted is set, and the error is ctx's.
func Run(ctx context.Context, opts Options) (*report.Report, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	cfg := opts.Config
	rep := &report.Report{Started: time.Now()}
	spec, err := plan.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	if opts.Resume != nil {
		if len(opts.Resume) == 0 {
			fmt.Fprintln(log, "resume: no pairs to re-check")
			rep.Duration = time.Since(rep.Started)
			return rep, nil
		}
		spec = plan.ResumeSpec(spec, opts.Resume, log)
	}

	clusters, err := connect(ctx, cfg, spec)
	if err != nil {
		return nil, err
	}
	return execute(ctx, opts, spec, clusters, rep, log)
}

// execute is Run after the clients exist (tests enter here with a fake
// clientset and a real HTTP pod-proxy path).
func execute(ctx context.Context, opts Options, spec plan.Spec, clusters []*cluster, rep *report.Report, log io.Writer) (*report.Report, error) {
	cfg := opts.Config
	for _, c := range clusters {
		var extra []deploy.Need
		if cfg.NetworkPolicy != "none" {
			extra = append(extra, deploy.NeedNetworkPolicy)
		}
		if cfg.AgentAccess == config.AgentAccessPortForward {
			extra = append(extra, deploy.NeedPortForward)
		}
		if err := deploy.Preflight(ctx, c.Client, cfg.Namespace, extra...); err != nil {
			return nil, err
		}
	}

	// Before anything is created: a dns check without a DNS to ask is a
	// setup problem.
	dnsIPs, err := discoverDNS(ctx, spec, clusters)
	if err != nil {
		return nil, err
	}

	// From the first object created on, cleaning is owed when asked for,
	// whatever happens next (errors, Ctrl-C).
	if cfg.AutoClean {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanTimeout)
			defer cancel()
			for _, c := range clusters {
				if !c.deployed {
					continue
				}
				if err := deploy.Clean(cctx, c.Client, deploy.CleanScope{Namespace: cfg.Namespace}, log); err != nil {
					fmt.Fprintf(log, "autoClean in cluster %s failed: %v; run `netctl clean`\n", c.Name, err)
				}
			}
		}()
	}

	for _, c := range clusters {
		skipped, err := inventory.SelectNodes(ctx, &c.Cluster, cfg.NodeSelector, log)
		if err != nil {
			return nil, err
		}
		rep.Skipped = append(rep.Skipped, skipped...)
	}

	start := time.Now()
	if err := deployAll(ctx, cfg, clusters, log); err != nil {
		return nil, err
	}
	phase(rep, log, "deploy", start, fmt.Sprintf("agents applied in %d cluster(s)", len(clusters)))

	start = time.Now()
	deadline := start.Add(time.Duration(cfg.PodWaitTime) * time.Second)
	invs := make([]*inventory.Inventory, len(clusters))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range clusters {
		g.Go(func() error {
			inv, err := inventory.Wait(gctx, &c.Cluster, cfg.Namespace, deadline, log)
			invs[i] = inv
			return err
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return interrupted(rep, ctx)
		}
		return nil, err
	}
	var summary []string
	for i, inv := range invs {
		summary = append(summary, "cluster "+inv.Cluster+": "+inv.ReadySummary(clusters[i].Networks))
	}
	phase(rep, log, "ready", start, strings.Join(summary, "; "))

	if cfg.NetworkPolicy != "none" {
		if err := refreshPolicies(ctx, cfg, clusters, invs, log); err != nil {
			return nil, err
		}
	}

	invs[len(invs)-1].DNS = dnsIPs
	src, dst := invs[0], (*inventory.Inventory)(nil)
	if len(invs) > 1 {
		dst = invs[1]
	}
	checks := plan.Plan(spec, src, dst)
	if opts.Resume != nil {
		checks = plan.SelectResume(checks, opts.Resume, spec, log)
	} else if len(checks) == 0 {
		return nil, fmt.Errorf("nothing to check: no node has an address of the family ipFamily=%s allows (mode %s)", cfg.IPFamily, spec.Mode)
	}

	start = time.Now()
	r := &runner{
		clusters: clusters, namespace: cfg.Namespace, port: spec.Port,
		concurrency: cfg.MaxNum, timeout: time.Duration(cfg.CmdTimeout) * time.Second,
		progress: opts.Progress, log: log, access: cfg.AgentAccess,
	}
	rows := r.run(ctx, checks)
	rep.Rows = rows
	if anyFailed(rows) || anyUnreachable(rows) {
		// Policies of the user's that select the agents are a likelier
		// cause of failed rows than the network (diagnose names them).
		for _, c := range clusters {
			if !c.deployed {
				continue
			}
			nps, err := deploy.SelectingPolicies(ctx, c.Client, cfg.Namespace)
			if err != nil {
				fmt.Fprintf(log, "cluster %s: %v\n", c.Name, err)
			}
			for _, np := range nps {
				if len(clusters) > 1 {
					np = c.Name + "/" + np
				}
				rep.NetworkPolicies = append(rep.NetworkPolicies, np)
			}
		}
	}
	phase(rep, log, "probe", start, fmt.Sprintf("%d of %d checks done from %d source agents", len(rows), len(checks), r.sources))
	rep.Duration = time.Since(rep.Started)
	if ctx.Err() != nil {
		return interrupted(rep, ctx)
	}
	if !cfg.AutoClean {
		fmt.Fprintf(log, "agents stay in namespace %s; `netctl clean` removes them\n", cfg.Namespace)
	}
	return rep, nil
}

// policySettle is how long an updated NetworkPolicy is given to be
// programmed by the cluster's engine before probes start.
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
			CustomIPs: cfg.CustomizedTargetIPList, CustomPorts: customPorts(cfg)})
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

func anyFailed(rows []report.Row) bool {
	for _, r := range rows {
		if r.Result == report.Failed {
			return true
		}
	}
	return false
}

func anyUnreachable(rows []report.Row) bool {
	for _, r := range rows {
		if r.Agent != nil && r.Agent.Kind == report.AgentUnreachable {
			return true
		}
	}
	return false
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

func interrupted(rep *report.Report, ctx context.Context) (*report.Report, error) {
	rep.Interrupted = true
	rep.Duration = time.Since(rep.Started)
	return rep, ctx.Err()
}

func phase(rep *report.Report, log io.Writer, name string, start time.Time, detail string) {
	d := time.Since(start)
	rep.Phases = append(rep.Phases, report.Phase{Name: name, Duration: d})
	fmt.Fprintf(log, "%s: %s in %s\n", name, detail, d.Round(time.Millisecond))
}

// connect builds the clients; the source cluster first.
func connect(ctx context.Context, cfg config.Config, spec plan.Spec) ([]*cluster, error) {
	srcNets, dstNets := spec.Networks()
	src, err := kube.New(ctx, plan.SrcCluster, kube.Options{Kubeconfig: cfg.SrcKubeConfig, Context: cfg.SrcContext, Hint: "srcKubeConfig/--kubeconfig"})
	if err != nil {
		return nil, err
	}
	clusters := []*cluster{{Cluster: inventory.Cluster{Name: plan.SrcCluster, Client: src, Networks: srcNets}}}
	if spec.Cross {
		dst, err := kube.New(ctx, plan.DstCluster, kube.Options{Kubeconfig: cfg.DstKubeConfig, Context: cfg.DstContext, Hint: "dstKubeConfig/--dst-kubeconfig"})
		if err != nil {
			return nil, err
		}
		clusters = append(clusters, &cluster{Cluster: inventory.Cluster{Name: plan.DstCluster, Client: dst, Networks: dstNets}})
	}
	return clusters, nil
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

// discoverDNS returns the cluster DNS Service IPs of the cluster whose DNS
// is checked (the destination cluster when there is one), when needed.
func discoverDNS(ctx context.Context, spec plan.Spec, clusters []*cluster) ([]string, error) {
	if spec.Protocol != probe.KindDNS || spec.DNSServer != "" {
		return nil, nil
	}
	return clusters[len(clusters)-1].Client.ClusterDNSIPs(ctx)
}

// runner sends one probe batch per source agent and gathers rows.
type runner struct {
	clusters    []*cluster
	namespace   string
	port        int
	concurrency int
	timeout     time.Duration
	progress    func(done, total int)
	log         io.Writer
	// access is agentAccess: "auto" (pod proxy, port-forward to agents it
	// cannot reach), "proxy" or "port-forward".
	access string

	fwdOnce   sync.Once
	fwdSem    chan struct{} // bounds concurrent port-forwards
	fwdSemOne sync.Once
	forwarded sync.Map // *inventory.Agent -> true: reached through a port-forward

	mu      sync.Mutex
	rows    []indexedRow
	done    int
	total   int
	sources int
}

type indexedRow struct {
	i   int
	row report.Row
}

func (r *runner) add(i int, row report.Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, indexedRow{i, row})
	r.done++
	if r.progress != nil {
		r.progress(r.done, r.total)
	}
}

func (r *runner) client(name string) *cluster {
	for _, c := range r.clusters {
		if c.Name == name {
			return c
		}
	}
	return r.clusters[0]
}

// run probes every check whose source is usable and returns rows in plan
// order. Rows for checks not done because ctx ended are left out.
func (r *runner) run(ctx context.Context, checks []plan.Check) []report.Row {
	r.total = len(checks)
	if r.progress != nil {
		r.progress(0, r.total)
	}
	batches := map[*inventory.Agent][]int{}
	var order []*inventory.Agent
	for i, c := range checks {
		if c.Skip != "" {
			r.add(i, report.Row{Pair: c.Pair, Result: report.Exception, Class: c.SkipClass, Log: c.Skip, Agent: c.SkipAgent})
			continue
		}
		if _, ok := batches[c.Source]; !ok {
			order = append(order, c.Source)
		}
		batches[c.Source] = append(batches[c.Source], i)
	}
	r.sources = len(order)
	var wg sync.WaitGroup
	for _, src := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runSource(ctx, src, checks, batches[src])
		}()
	}
	wg.Wait()

	sort.Slice(r.rows, func(a, b int) bool { return r.rows[a].i < r.rows[b].i })
	rows := make([]report.Row, len(r.rows))
	for i, ir := range r.rows {
		rows[i] = ir.row
	}
	return rows
}

// runSource sends src's checks in batches of at most agent.MaxTargets.
func (r *runner) runSource(ctx context.Context, src *inventory.Agent, checks []plan.Check, idx []int) {
	for len(idx) > 0 && ctx.Err() == nil {
		n := min(len(idx), maxBatch)
		r.runBatch(ctx, src, checks, idx[:n])
		idx = idx[n:]
	}
}

// firstResultSlack is how much longer than one probe timeout the first
// result of a batch may take (API server, proxy, agent start of work).
const firstResultSlack = 10 * time.Second

var errAgentSilent = errors.New("no result from the agent")

// batchTimeout bounds one batch: every probe may take the full timeout,
// maxNum at a time, plus slack for the API server and proxy.
func (r *runner) batchTimeout(n int) time.Duration {
	rounds := (n + r.concurrency - 1) / r.concurrency
	return time.Duration(rounds)*r.timeout*3/2 + 30*time.Second
}

func (r *runner) runBatch(ctx context.Context, src *inventory.Agent, checks []plan.Check, idx []int) {
	c := r.client(src.Cluster)
	targets := make([]probe.Target, len(idx))
	byID := make(map[string]int, len(idx))
	for k, i := range idx {
		t := checks[i].Target
		t.ID = fmt.Sprint(i)
		targets[k] = t
		byID[t.ID] = i
	}
	bctx, cancel := context.WithTimeout(ctx, r.batchTimeout(len(idx)))
	defer cancel()
	// The first result is due within one probe timeout. When none comes
	// sooner than that plus slack, the agent cannot be reached (the API
	// server's own proxy dial timeout is 30 s): give up on it early.
	sctx, scancel := context.WithCancelCause(bctx)
	defer scancel(nil)
	silence := time.AfterFunc(r.timeout+firstResultSlack, func() { scancel(errAgentSilent) })
	defer silence.Stop()
	var mu sync.Mutex // onResult may run on either path's goroutine
	got := 0
	onResult := func(res probe.Result) {
		mu.Lock()
		defer mu.Unlock()
		silence.Stop()
		i, ok := byID[res.ID]
		if !ok {
			return // not ours (or a duplicate): ignore
		}
		got++
		delete(byID, res.ID)
		r.add(i, rowFor(checks[i].Pair, res))
	}
	_, fwd := r.forwarded.Load(src)
	fwd = fwd || r.access == config.AgentAccessPortForward
	var err error
	if !fwd {
		err = streamProbe(sctx, c.Client, r.namespace, src.Pod, agent.APIPortFor(r.port), c.token, targets, r.concurrency, r.timeout, onResult)
		if r.access == config.AgentAccessAuto && got == 0 && sctx.Err() == nil && proxyCannotDial(err) {
			// The API server cannot reach this pod (a control plane
			// outside the pod network): go through the kubelet instead.
			r.forwarded.Store(src, true)
			r.fwdOnce.Do(func() {
				fmt.Fprintf(r.log, "the API server's pod proxy cannot reach agent pod %s on %s (%s); reaching agents it cannot reach through port-forwards instead (agentAccess: auto)\n",
					src.Pod, src.Node, proxyMessage(err))
			})
			proxyErr := err
			if err = r.forward(sctx, c, src, targets, onResult); err != nil {
				err = fmt.Errorf("pod proxy: %s; port-forward: %w", proxyMessage(proxyErr), err)
			}
		}
	} else {
		err = r.forward(sctx, c, src, targets, onResult)
	}
	if ctx.Err() != nil {
		return // interrupted: unfinished pairs are simply not in the report
	}
	reason := "the agent ended the batch without a result for this pair"
	var problem *report.AgentProblem
	switch {
	case errors.Is(context.Cause(sctx), errAgentSilent):
		silent := fmt.Sprintf("no answer within %s", r.timeout+firstResultSlack)
		reason = fmt.Sprintf("agent pod %s on %s unreachable through the API server's pod proxy: %s", src.Pod, src.Node, silent)
		problem = &report.AgentProblem{Side: report.AgentSource, Kind: report.AgentUnreachable, Node: src.Node, Pod: src.Pod, Reason: silent}
	case err != nil:
		reason = batchFailure(src, err, r.batchTimeout(len(idx)))
		problem = &report.AgentProblem{Side: report.AgentSource, Kind: report.AgentUnreachable, Node: src.Node, Pod: src.Pod, Reason: reason}
	}
	rest := make([]int, 0, len(byID))
	for _, i := range byID {
		rest = append(rest, i)
	}
	sort.Ints(rest)
	for _, i := range rest {
		r.add(i, report.Row{Pair: checks[i].Pair, Result: report.Exception, Class: probe.ClassAgentError, Log: reason, Agent: problem})
	}
}

// maxForwards bounds the port-forwards open at once (each is one SPDY
// connection through the API server to a kubelet).
const maxForwards = 16

// forward sends one batch through a port-forward, at most maxForwards at
// a time.
func (r *runner) forward(ctx context.Context, c *cluster, src *inventory.Agent, targets []probe.Target, onResult func(probe.Result)) error {
	r.fwdSemOne.Do(func() { r.fwdSem = make(chan struct{}, maxForwards) })
	select {
	case r.fwdSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.fwdSem }()
	return streamProbeForwarded(ctx, c.Client, r.namespace, src.Pod, agent.APIPortFor(r.port), c.token, targets, r.concurrency, r.timeout, onResult)
}

// proxyCannotDial says whether a batch error is the API server's pod proxy
// failing to connect to the pod.
func proxyCannotDial(err error) bool {
	var herr *agent.HTTPError
	return errors.As(err, &herr) && kube.IsProxyDialError(herr.StatusCode, proxyMessage(err))
}

// proxyMessage is the API server's message in a pod-proxy error (its
// Status message when there is one).
func proxyMessage(err error) string {
	var herr *agent.HTTPError
	if !errors.As(err, &herr) {
		return err.Error()
	}
	var st metav1.Status
	if json.Unmarshal([]byte(herr.Body), &st) == nil && st.Message != "" {
		return fmt.Sprintf("HTTP %d: %s", herr.StatusCode, st.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", herr.StatusCode, herr.Body)
}

// batchFailure says in one line why a whole batch failed. The API server
// answers proxy failures with a Status object; its message is what a user
// can act on ("error trying to reach service: ...").
func batchFailure(src *inventory.Agent, err error, limit time.Duration) string {
	prefix := fmt.Sprintf("probe batch from agent pod %s on %s failed", src.Pod, src.Node)
	var herr *agent.HTTPError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("probe batch from agent pod %s on %s did not finish within %s", src.Pod, src.Node, limit)
	case errors.As(err, &herr):
		var st metav1.Status
		msg := herr.Body
		if json.Unmarshal([]byte(herr.Body), &st) == nil && st.Message != "" {
			msg = st.Message
		}
		hint := ""
		switch herr.StatusCode {
		case http.StatusUnauthorized:
			hint = " (token mismatch: the agent was started with another Secret; run `netctl clean` and check again)"
		case http.StatusForbidden:
			hint = " (the API server refused pods/proxy for this user)"
		}
		return fmt.Sprintf("%s: HTTP %d: %s%s", prefix, herr.StatusCode, msg, hint)
	}
	return fmt.Sprintf("%s: %v", prefix, err)
}

// rowFor maps a probe result to a row: FAILED only when the network said
// no; everything else that is not a success is an EXCEPTION.
func rowFor(p report.Pair, res probe.Result) report.Row {
	row := report.Row{Pair: p, Latency: res.Timings.Total, PacketSize: res.Size, Note: res.Note}
	switch {
	case res.OK:
		row.Result = report.Succeeded
	case res.Class.IsNetworkFailure():
		row.Result, row.Class, row.Log = report.Failed, res.Class, res.Reason
	default:
		row.Result, row.Class, row.Log = report.Exception, res.Class, res.Reason
		if row.Class == "" {
			row.Class, row.Log = probe.ClassAgentError, "agent reported a failure without a class: "+res.Reason
		}
	}
	return row
}

// Clean deletes what netctl created in the source (and destination)
// cluster: labelled objects in every namespace (falling back to Namespace
// when cross-namespace listing is forbidden) and namespaces netctl created.
func Clean(ctx context.Context, opts CleanOptions) error {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	ns := opts.Namespace
	if ns == "" {
		ns = config.DefaultNamespace
	}
	targets := []struct{ name, kubeconfig, context, hint string }{
		{plan.SrcCluster, opts.SrcKubeconfig, opts.SrcContext, "srcKubeConfig/--kubeconfig"},
	}
	if opts.DstKubeconfig != "" {
		targets = append(targets, struct{ name, kubeconfig, context, hint string }{plan.DstCluster, opts.DstKubeconfig, opts.DstContext, "dstKubeConfig/--dst-kubeconfig"})
	}
	var errs []error
	for _, t := range targets {
		c, err := kube.New(ctx, t.name, kube.Options{Kubeconfig: t.kubeconfig, Context: t.context, Hint: t.hint})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := deploy.Clean(ctx, c, deploy.CleanScope{Namespace: ns, AllNamespaces: true}, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
