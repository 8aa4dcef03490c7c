// Package runner sends planned checks to their source agents, one streamed
// batch per agent, through the API server's pod proxy or a port-forward to
// the agent's control port (agentAccess), and gathers the results as report
// rows in plan order. Any front-end that plans checks runs them here.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Cluster is where a source agent's batches go: the cluster's client and
// the agents' token.
type Cluster struct {
	Name   string
	Client *kube.Client
	Token  string
}

// Runner sends one probe batch per source agent and gathers rows. Set the
// exported fields, then call Run once.
type Runner struct {
	Clusters    []*Cluster
	Namespace   string
	Port        int // the agents' data port; batches go to agent.APIPortFor(Port)
	Concurrency int // probes in flight per source agent
	Timeout     time.Duration
	Progress    func(done, total int) // may be nil
	Log         io.Writer
	// Access is agentAccess: "auto" (pod proxy, port-forward to agents it
	// cannot reach), "proxy" or "port-forward".
	Access string
	// Sources is how many source agents Run sent batches to.
	Sources int

	fwdOnce   sync.Once
	fwdSem    chan struct{} // bounds concurrent port-forwards
	fwdSemOne sync.Once
	forwarded sync.Map // *inventory.Agent -> true: reached through a port-forward

	mu    sync.Mutex
	rows  []indexedRow
	done  int
	total int
}

type indexedRow struct {
	i   int
	row report.Row
}

func (r *Runner) add(i int, row report.Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, indexedRow{i, row})
	r.done++
	if r.Progress != nil {
		r.Progress(r.done, r.total)
	}
}

func (r *Runner) client(name string) *Cluster {
	for _, c := range r.Clusters {
		if c.Name == name {
			return c
		}
	}
	return r.Clusters[0]
}

// Run probes every check whose source is usable and returns rows in plan
// order. Rows for checks not done because ctx ended are left out.
func (r *Runner) Run(ctx context.Context, checks []plan.Check) []report.Row {
	r.total = len(checks)
	if r.Progress != nil {
		r.Progress(0, r.total)
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
	r.Sources = len(order)
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
func (r *Runner) runSource(ctx context.Context, src *inventory.Agent, checks []plan.Check, idx []int) {
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
func (r *Runner) batchTimeout(n int) time.Duration {
	rounds := (n + r.Concurrency - 1) / r.Concurrency
	return time.Duration(rounds)*r.Timeout*3/2 + 30*time.Second
}

func (r *Runner) runBatch(ctx context.Context, src *inventory.Agent, checks []plan.Check, idx []int) {
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
	silence := time.AfterFunc(r.Timeout+firstResultSlack, func() { scancel(errAgentSilent) })
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
		r.add(i, report.RowFor(checks[i].Pair, res))
	}
	_, fwd := r.forwarded.Load(src)
	fwd = fwd || r.Access == config.AgentAccessPortForward
	var err error
	if !fwd {
		err = streamProbe(sctx, c.Client, r.Namespace, src.Pod, agent.APIPortFor(r.Port), c.Token, targets, r.Concurrency, r.Timeout, onResult)
		if r.Access == config.AgentAccessAuto && got == 0 && sctx.Err() == nil && proxyCannotDial(err) {
			// The API server cannot reach this pod (a control plane
			// outside the pod network): go through the kubelet instead.
			r.forwarded.Store(src, true)
			r.fwdOnce.Do(func() {
				fmt.Fprintf(r.Log, "the API server's pod proxy cannot reach agent pod %s on %s (%s); reaching agents it cannot reach through port-forwards instead (agentAccess: auto)\n",
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
		silent := fmt.Sprintf("no answer within %s", r.Timeout+firstResultSlack)
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
func (r *Runner) forward(ctx context.Context, c *Cluster, src *inventory.Agent, targets []probe.Target, onResult func(probe.Result)) error {
	r.fwdSemOne.Do(func() { r.fwdSem = make(chan struct{}, maxForwards) })
	select {
	case r.fwdSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.fwdSem }()
	return streamProbeForwarded(ctx, c.Client, r.Namespace, src.Pod, agent.APIPortFor(r.Port), c.Token, targets, r.Concurrency, r.Timeout, onResult)
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
