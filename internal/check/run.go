package check

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
	"github.com/netdoctor/netdoctor/internal/runner"
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
	r := &runner.Runner{
		Namespace: cfg.Namespace, Port: spec.Port,
		Concurrency: cfg.MaxNum, Timeout: time.Duration(cfg.CmdTimeout) * time.Second,
		Progress: opts.Progress, Log: log, Access: cfg.AgentAccess,
	}
	for _, c := range clusters {
		r.Clusters = append(r.Clusters, &runner.Cluster{Name: c.Name, Client: c.Client, Token: c.token})
	}
	rows := r.Run(ctx, checks)
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
	phase(rep, log, "probe", start, fmt.Sprintf("%d of %d checks done from %d source agents", len(rows), len(checks), r.Sources))
	rep.Duration = time.Since(rep.Started)
	if ctx.Err() != nil {
		return interrupted(rep, ctx)
	}
	if !cfg.AutoClean {
		fmt.Fprintf(log, "agents stay in namespace %s; `netctl clean` removes them\n", cfg.Namespace)
	}
	return rep, nil
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

// discoverDNS returns the cluster DNS Service IPs of the cluster whose DNS
// is checked (the destination cluster when there is one), when needed.
func discoverDNS(ctx context.Context, spec plan.Spec, clusters []*cluster) ([]string, error) {
	if spec.Protocol != probe.KindDNS || spec.DNSServer != "" {
		return nil, nil
	}
	return clusters[len(clusters)-1].Client.ClusterDNSIPs(ctx)
}
