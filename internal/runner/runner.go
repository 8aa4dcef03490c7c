// Package runner sends planned checks to their source agents, one streamed
// batch per agent, through the API server's pod proxy or a port-forward to
// the agent's control port (agentAccess), and gathers the results as report
// rows in plan order. Any front-end that plans checks runs them here.
package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
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
	// MaxStreams bounds the pod-proxy streams open at once (0 =
	// DefaultMaxStreams).
	MaxStreams int
	// Silence is how long a stream may go without a byte before it is
	// given up (0 = Timeout + 10s; tests set it short).
	Silence time.Duration
	// Sources is how many source agents Run sent batches to.
	Sources int

	streamSem    chan struct{} // bounds concurrent pod-proxy streams
	streamSemOne sync.Once

	fwdOnce   sync.Once
	fwdSem    chan struct{} // bounds concurrent port-forwards
	fwdSemOne sync.Once
	forwarded sync.Map // *inventory.Agent -> true: reached through a port-forward

	// rows[i] is check i's row once have[i]: results land in plan order
	// as they arrive, in the one slice Run returns (no copy to sort).
	mu    sync.Mutex
	rows  []report.Row
	have  []bool
	done  int
	total int
}

func (r *Runner) add(i int, row report.Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows[i], r.have[i] = row, true
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
	r.rows, r.have = make([]report.Row, len(checks)), make([]bool, len(checks))
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

	// Leave out the checks ctx ended before, in place.
	rows := r.rows[:0]
	for i, row := range r.rows {
		if r.have[i] {
			rows = append(rows, row)
		}
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

// firstResultSlack is how much longer than one probe timeout a stream may
// stay silent (API server, proxy, agent start of work).
const firstResultSlack = 10 * time.Second

// maxAttempts: a batch whose stream fails or goes silent is sent once more
// for the pairs without a result before they become EXCEPTION rows (a cold
// agent can be Ready but silent through the pod proxy for a few seconds).
const maxAttempts = 2

// DefaultMaxStreams bounds the pod-proxy streams open at once (each is one
// long request through the API server): at 100 nodes dual stack every
// source agent has one, and more would only queue in the API server.
const DefaultMaxStreams = 100

var errAgentSilent = errors.New("no result from the agent")

// batchTimeout bounds one batch: every probe may take the full timeout,
// maxNum at a time, plus slack for the API server and proxy.
func (r *Runner) batchTimeout(n int) time.Duration {
	rounds := (n + r.Concurrency - 1) / r.Concurrency
	return time.Duration(rounds)*r.Timeout*3/2 + 30*time.Second
}

// silenceLimit is how long a stream may go without a byte (a result or the
// agent's keepalive, agent.KeepaliveInterval) before it counts as silent.
func (r *Runner) silenceLimit() time.Duration {
	if r.Silence > 0 {
		return r.Silence
	}
	return r.Timeout + firstResultSlack
}

// runBatch sends one batch, retries the pairs without a result once when
// the stream failed or went silent, and makes EXCEPTION rows of what is
// still missing, with every attempt's reason.
func (r *Runner) runBatch(ctx context.Context, src *inventory.Agent, checks []plan.Check, idx []int) {
	c := r.client(src.Cluster)
	pending := make(map[string]int, len(idx))
	for _, i := range idx {
		pending[fmt.Sprint(i)] = i
	}
	var mu sync.Mutex // onResult may run on either path's goroutine
	onResult := func(res probe.Result) bool {
		mu.Lock()
		defer mu.Unlock()
		i, ok := pending[res.ID]
		if !ok {
			return false // not ours (or a duplicate): ignore
		}
		delete(pending, res.ID)
		r.add(i, report.RowFor(checks[i].Pair, res))
		return true
	}
	reason := "the agent ended the batch without a result for this pair"
	var problem *report.AgentProblem
	var failures []string
	for attempt := 1; attempt <= maxAttempts && len(pending) > 0; attempt++ {
		rest := sortedIndexes(pending)
		targets := make([]probe.Target, len(rest))
		for k, i := range rest {
			targets[k] = checks[i].Target
			targets[k].ID = fmt.Sprint(i)
		}
		why, prob := r.attempt(ctx, c, src, targets, onResult)
		if ctx.Err() != nil {
			return // interrupted: unfinished pairs are simply not in the report
		}
		if prob == nil {
			break // the agent ended the stream: nothing to retry
		}
		failures = append(failures, why)
		problem = prob
		reason = why
		if len(failures) > 1 {
			reason = fmt.Sprintf("%s (tried %d times: %s)", why, len(failures), strings.Join(failures[:len(failures)-1], "; "))
		}
		if attempt < maxAttempts && len(pending) > 0 {
			fmt.Fprintf(r.Log, "retrying %d pairs from agent pod %s on %s: %s\n", len(pending), src.Pod, src.Node, why)
		}
	}
	if problem != nil && len(failures) > 1 {
		problem.Reason = fmt.Sprintf("%s (tried %d times)", problem.Reason, len(failures))
	}
	for _, i := range sortedIndexes(pending) {
		r.add(i, report.Row{Pair: checks[i].Pair, Result: report.Exception, Class: probe.ClassAgentError, Log: reason, Agent: problem})
	}
}

func sortedIndexes(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, i := range m {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// attempt streams targets to src once, through the pod proxy (falling back
// to a port-forward under agentAccess auto) or a port-forward. The stream
// is given up when no byte arrives for silenceLimit. It returns why the
// stream failed and the agent problem; a nil problem means the agent ended
// the stream itself.
func (r *Runner) attempt(ctx context.Context, c *Cluster, src *inventory.Agent, targets []probe.Target, onResult func(probe.Result) bool) (string, *report.AgentProblem) {
	_, fwd := r.forwarded.Load(src)
	fwd = fwd || r.Access == config.AgentAccessPortForward
	if !fwd {
		// Bound the pod-proxy streams open at once; waiting here is
		// neither silence nor batch time.
		r.streamSemOne.Do(func() { r.streamSem = make(chan struct{}, cmp.Or(r.MaxStreams, DefaultMaxStreams)) })
		select {
		case r.streamSem <- struct{}{}:
			defer func() { <-r.streamSem }()
		case <-ctx.Done():
			return "", nil // the caller sees ctx ended
		}
	}
	bctx, cancel := context.WithTimeout(ctx, r.batchTimeout(len(targets)))
	defer cancel()
	// Any byte (a result or a keepalive) shows the stream alive; none for
	// silenceLimit means the agent or the path to it is stuck (the API
	// server's own proxy dial timeout is 30 s): give up on this stream.
	limit := r.silenceLimit()
	sctx, scancel := context.WithCancelCause(bctx)
	defer scancel(nil)
	silence := time.AfterFunc(limit, func() { scancel(errAgentSilent) })
	defer silence.Stop()
	touch := func() { silence.Reset(limit) }
	var mu sync.Mutex
	got := 0
	count := func(res probe.Result) {
		if onResult(res) {
			mu.Lock()
			got++
			mu.Unlock()
		}
	}
	var err error
	if !fwd {
		err = streamProbe(sctx, touchDoer{c.Client.HTTP, touch}, c.Client.PodProxyURL(r.Namespace, src.Pod, agent.APIPortFor(r.Port)), c.Token, targets, r.Concurrency, r.Timeout, count)
		mu.Lock()
		none := got == 0
		mu.Unlock()
		if r.Access == config.AgentAccessAuto && none && sctx.Err() == nil && proxyCannotDial(err) {
			// The API server cannot reach this pod (a control plane
			// outside the pod network): go through the kubelet instead.
			r.forwarded.Store(src, true)
			r.fwdOnce.Do(func() {
				fmt.Fprintf(r.Log, "the API server's pod proxy cannot reach agent pod %s on %s (%s); reaching agents it cannot reach through port-forwards instead (agentAccess: auto)\n",
					src.Pod, src.Node, proxyMessage(err))
			})
			proxyErr := err
			if err = r.forward(sctx, c, src, targets, touch, count); err != nil {
				err = fmt.Errorf("pod proxy: %s; port-forward: %w", proxyMessage(proxyErr), err)
			}
		}
	} else {
		err = r.forward(sctx, c, src, targets, touch, count)
	}
	switch {
	case errors.Is(context.Cause(sctx), errAgentSilent):
		silent := fmt.Sprintf("no answer within %s", limit)
		how := "the API server's pod proxy"
		if _, f := r.forwarded.Load(src); f || fwd {
			how = "a port-forward"
		}
		return fmt.Sprintf("agent pod %s on %s unreachable through %s: %s", src.Pod, src.Node, how, silent),
			&report.AgentProblem{Side: report.AgentSource, Kind: report.AgentUnreachable, Node: src.Node, Pod: src.Pod, Reason: silent}
	case err != nil:
		reason := batchFailure(src, err, r.batchTimeout(len(targets)))
		return reason, &report.AgentProblem{Side: report.AgentSource, Kind: report.AgentUnreachable, Node: src.Node, Pod: src.Pod, Reason: reason}
	}
	return "", nil
}

// touchDoer calls touch when response headers arrive and on every read
// that returns bytes, so the silence timer sees keepalives the NDJSON
// decoder skips.
type touchDoer struct {
	d     agent.Doer
	touch func()
}

func (t touchDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.d.Do(req)
	if resp != nil {
		t.touch()
		resp.Body = touchReader{resp.Body, t.touch}
	}
	return resp, err
}

type touchReader struct {
	io.ReadCloser
	touch func()
}

func (t touchReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		t.touch()
	}
	return n, err
}

// maxForwards bounds the port-forwards open at once (each is one SPDY
// connection through the API server to a kubelet).
const maxForwards = 16

// forward sends one batch through a port-forward, at most maxForwards at
// a time.
func (r *Runner) forward(ctx context.Context, c *Cluster, src *inventory.Agent, targets []probe.Target, touch func(), onResult func(probe.Result)) error {
	r.fwdSemOne.Do(func() { r.fwdSem = make(chan struct{}, maxForwards) })
	select {
	case r.fwdSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.fwdSem }()
	return streamProbeForwarded(ctx, c.Client, touch, r.Namespace, src.Pod, agent.APIPortFor(r.Port), c.Token, targets, r.Concurrency, r.Timeout, onResult)
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
