package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// stubAgent is a real loopback HTTP server in the place of the API
// server's pod proxy: behave decides, per pod and attempt, how each probe
// batch is answered.
type stubAgent struct {
	mu       sync.Mutex
	calls    map[string]int      // pod -> batches received
	ids      map[string][]string // pod -> target IDs of its last batch
	inFlight int
	maxIn    int
	behave   func(pod string, call int, w http.ResponseWriter, r *http.Request, ids []string)
}

func newStubAgent(t *testing.T, behave func(pod string, call int, w http.ResponseWriter, r *http.Request, ids []string)) (*stubAgent, *kube.Client) {
	s := &stubAgent{calls: map[string]int{}, ids: map[string][]string{}, behave: behave}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /api/v1/namespaces/nd/pods/NAME:PORT/proxy/v1/probe
		parts := strings.Split(r.URL.Path, "/")
		if len(parts) < 7 || !strings.HasSuffix(r.URL.Path, "/proxy/v1/probe") {
			http.NotFound(w, r)
			return
		}
		pod, _, _ := strings.Cut(parts[6], ":")
		var req struct {
			Targets []struct {
				ID string `json:"id"`
			} `json:"targets"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ids []string
		for _, t := range req.Targets {
			ids = append(ids, t.ID)
		}
		s.mu.Lock()
		s.calls[pod]++
		call := s.calls[pod]
		s.ids[pod] = ids
		s.inFlight++
		s.maxIn = max(s.maxIn, s.inFlight)
		s.mu.Unlock()
		defer func() { s.mu.Lock(); s.inFlight--; s.mu.Unlock() }()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		s.behave(pod, call, w, r, ids)
	}))
	t.Cleanup(srv.Close)
	return s, &kube.Client{Name: "src", Host: srv.URL, HTTP: srv.Client()}
}

func answer(w http.ResponseWriter, ids ...string) {
	for _, id := range ids {
		fmt.Fprintf(w, `{"id":%q,"ok":true}`+"\n", id)
	}
	w.(http.Flusher).Flush()
}

// stall holds the stream open without a byte until the client gives up.
func stall(r *http.Request) { <-r.Context().Done() }

// checksFrom plans n checks from each of the given source pods.
func checksFrom(n int, pods ...string) []plan.Check {
	var out []plan.Check
	for _, pod := range pods {
		src := &inventory.Agent{Cluster: "src", Node: "node-" + pod, Pod: pod, Ready: true}
		for i := range n {
			ip := fmt.Sprintf("10.0.0.%d", i+1)
			out = append(out, plan.Check{
				Pair:   report.Pair{Mode: "pod", Protocol: probe.KindTCP, SrcNode: src.Node, SrcPod: pod, DstNode: fmt.Sprintf("dst-%d", i), TargetIP: ip},
				Target: probe.Target{Kind: probe.KindTCP, Address: ip, Port: 8889},
				Source: src,
			})
		}
	}
	return out
}

func newRunner(c *kube.Client, log *bytes.Buffer) *Runner {
	return &Runner{
		Clusters:  []*Cluster{{Name: "src", Client: c, Token: "t"}},
		Namespace: "nd", Port: 8889, Concurrency: 10, Timeout: time.Second,
		Silence: 300 * time.Millisecond, Log: log, Access: "proxy",
	}
}

// A stream that goes silent after one result is retried once for the
// other pairs only, and the retry's results make the rows.
func TestSilentStreamRetriedForMissingRows(t *testing.T) {
	s, c := newStubAgent(t, func(pod string, call int, w http.ResponseWriter, r *http.Request, ids []string) {
		if call == 1 {
			answer(w, ids[0])
			stall(r)
			return
		}
		answer(w, ids...)
	})
	var log bytes.Buffer
	rows := newRunner(c, &log).Run(context.Background(), checksFrom(4, "a"))
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	for _, r := range rows {
		if r.Result != report.Succeeded {
			t.Errorf("%s: %s %q", r.DstNode, r.Result, r.Log)
		}
	}
	if s.calls["a"] != 2 || len(s.ids["a"]) != 3 {
		t.Errorf("batches %d, retry carried %d targets; want 2 and 3 (only the pairs without a result)", s.calls["a"], len(s.ids["a"]))
	}
	if !strings.Contains(log.String(), "retrying 3 pairs from agent pod a on node-a: agent pod a on node-a unreachable through the API server's pod proxy: no answer within 300ms") {
		t.Errorf("log: %s", log.String())
	}
}

// A stream that never says anything is tried twice, then its rows are
// EXCEPTION with both reasons; Run does not hang.
func TestSilentStreamBecomesException(t *testing.T) {
	s, c := newStubAgent(t, func(pod string, call int, w http.ResponseWriter, r *http.Request, ids []string) { stall(r) })
	var log bytes.Buffer
	start := time.Now()
	rows := newRunner(c, &log).Run(context.Background(), checksFrom(3, "a"))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %s for two silent attempts of 300ms", took)
	}
	if len(rows) != 3 || s.calls["a"] != 2 {
		t.Fatalf("%d rows after %d batches; want 3 after 2", len(rows), s.calls["a"])
	}
	want := "agent pod a on node-a unreachable through the API server's pod proxy: no answer within 300ms (tried 2 times: agent pod a on node-a unreachable through the API server's pod proxy: no answer within 300ms)"
	for _, r := range rows {
		if r.Result != report.Exception || r.Class != probe.ClassAgentError || r.Log != want {
			t.Errorf("%s: %s %s %q", r.DstNode, r.Result, r.Class, r.Log)
		}
		if r.Agent == nil || r.Agent.Kind != report.AgentUnreachable || r.Agent.Pod != "a" || r.Agent.Reason != "no answer within 300ms (tried 2 times)" {
			t.Errorf("%s: agent problem %+v", r.DstNode, r.Agent)
		}
	}
}

// Keepalive lines (which the NDJSON decoder skips) keep a slow batch from
// counting as silent.
func TestKeepaliveIsNotSilence(t *testing.T) {
	s, c := newStubAgent(t, func(pod string, call int, w http.ResponseWriter, r *http.Request, ids []string) {
		for range 8 { // 8 x 100ms: well past the 300ms silence limit
			time.Sleep(100 * time.Millisecond)
			fmt.Fprint(w, "\n")
			w.(http.Flusher).Flush()
		}
		answer(w, ids...)
	})
	var log bytes.Buffer
	rows := newRunner(c, &log).Run(context.Background(), checksFrom(2, "a"))
	for _, r := range rows {
		if r.Result != report.Succeeded {
			t.Errorf("%s: %s %q", r.DstNode, r.Result, r.Log)
		}
	}
	if len(rows) != 2 || s.calls["a"] != 1 {
		t.Errorf("%d rows after %d batches; want 2 after 1\n%s", len(rows), s.calls["a"], log.String())
	}
}

// No more than MaxStreams pod-proxy streams are open at once, and every
// source still gets its rows.
func TestStreamsBounded(t *testing.T) {
	s, c := newStubAgent(t, func(pod string, call int, w http.ResponseWriter, r *http.Request, ids []string) {
		time.Sleep(150 * time.Millisecond)
		answer(w, ids...)
	})
	var log bytes.Buffer
	r := newRunner(c, &log)
	r.MaxStreams = 2
	r.Silence = 2 * time.Second
	pods := []string{"a", "b", "c", "d", "e", "f"}
	rows := r.Run(context.Background(), checksFrom(2, pods...))
	if len(rows) != 12 {
		t.Fatalf("%d rows, want 12", len(rows))
	}
	for _, row := range rows {
		if row.Result != report.Succeeded {
			t.Errorf("%s->%s: %s %q", row.SrcNode, row.DstNode, row.Result, row.Log)
		}
	}
	if s.maxIn != 2 {
		t.Errorf("at most %d streams were open at once, want exactly MaxStreams=2", s.maxIn)
	}
}

// Rows come back in plan order whatever order sources answer in (a slow
// first source, a skipped check between), and the checks a cancelled run
// did not reach are left out.
func TestRowsInPlanOrder(t *testing.T) {
	_, c := newStubAgent(t, func(pod string, call int, w http.ResponseWriter, r *http.Request, ids []string) {
		switch pod {
		case "a":
			time.Sleep(300 * time.Millisecond)
		case "c":
			stall(r)
			return
		}
		answer(w, ids...)
	})
	checks := checksFrom(2, "a", "b", "c")
	checks[2].Skip, checks[2].SkipClass = "no agent", probe.ClassAgentError // b's first
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(time.Second, cancel)
	var log bytes.Buffer
	r := newRunner(c, &log)
	r.Silence = 5 * time.Second
	rows := r.Run(ctx, checks)
	var got []string
	for _, row := range rows {
		got = append(got, row.SrcPod+"/"+row.DstNode+"/"+string(row.Result))
	}
	want := []string{"a/dst-0/SUCCEEDED", "a/dst-1/SUCCEEDED", "b/dst-0/EXCEPTION", "b/dst-1/SUCCEEDED"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v\n%s", got, want, log.String())
	}
}
