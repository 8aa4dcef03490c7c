package server

import (
	"context"
	"math"
	"net"
	"sort"
	"time"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/reach"
	ndreport "github.com/netdoctor/netdoctor/internal/report"
)

// ReachEndpoints reads the ready endpoints of the reach Service (its
// EndpointSlices): the backends every clusterip and nodeport row must
// reach. KubeRoster implements it.
type ReachEndpoints interface {
	ReachEndpoints(ctx context.Context) ([]reach.Endpoint, error)
}

// ReachEndpoints implements ReachEndpoints for the roster's namespace.
func (k KubeRoster) ReachEndpoints(ctx context.Context) ([]reach.Endpoint, error) {
	return reach.ReadyEndpoints(ctx, k.Client, k.Namespace, api.ReachServiceName)
}

// reachLatest is a source node's latest reach round, judged row by row
// with netctl reach's verdict code (reach.Judge).
type reachLatest struct {
	round   int64
	started time.Time
	rows    []reach.Row
	// staleAt is when the round goes stale: received + 2 periods (the
	// agent's clock only gives the period, never an instant); zero: never.
	staleAt time.Time
}

func (l *reachLatest) stale(now time.Time) bool { return !l.staleAt.IsZero() && now.After(l.staleAt) }

// judgeReach turns a round's target rows into judged reach rows. eps are
// the reach Service's ready endpoints; known false (endpoints unreadable
// or no roster) leaves the clusterip and nodeport backends unjudged.
func judgeReach(node string, rep api.ReachReport, eps []reach.Endpoint, known bool, expectRatio float64) []reach.Row {
	// Latency has its own gauges and alert: the rows judge reach (success
	// and backends) only.
	e := reach.Expect{SuccessRate: expectRatio, MeanAccessDelayInMs: math.Inf(1), AllBackends: true}
	var rows []reach.Row
	for _, p := range rep.Paths {
		fam := string(p.Family)
		for _, t := range p.Rows {
			pl := reach.Planned{Source: reach.Source{Node: node, Vantage: reach.VantagePod}, Path: reach.PathKind(p.Kind),
				Family: fam, Address: t.Address, TargetNode: t.TargetNode}
			switch {
			case pl.Path == reach.PathPod && t.TargetPod != "":
				host, _, _ := net.SplitHostPort(t.Address)
				pl.Judged, pl.Expected = true, []reach.BackendRef{{Node: t.TargetNode, Pod: t.TargetPod, IP: host}}
			case pl.Path.IsVIP() && known:
				pl.Judged, pl.Expected = true, reach.BackendsOf(eps, fam, "")
			}
			m := reach.Measured{Requests: t.Requests, Succeeded: t.Succeeded, StatusCodes: t.StatusCodes, Errors: t.Errors}
			for _, b := range t.Backends {
				m.Backends = append(m.Backends, reach.Reached{Node: b.Node, Pod: b.Pod, PodIP: b.PodIP, Count: b.Count})
			}
			rows = append(rows, reach.Judge(pl, m, e))
		}
	}
	return rows
}

// pathStatus sums a node's latest rows per (path, family): the backends
// verdict exported as netdoctor_reach_backends_* and served by GET
// /api/v1/reach. A judged row counts its expected backends and those it
// reached (none when nothing answered); an inconclusive row (too few
// answers to expect every backend) counts apart.
func pathStatus(node string, l *reachLatest) []api.ReachPathStatus {
	by := map[[2]string]*api.ReachPathStatus{}
	var keys [][2]string
	for _, r := range l.rows {
		k := [2]string{string(r.Path), r.Family}
		s := by[k]
		if s == nil {
			s = &api.ReachPathStatus{SourceNode: node, Path: k[0], Family: probe.Family(r.Family), Round: l.round,
				Started: l.started, Result: string(reach.Succeeded)}
			by[k] = s
			keys = append(keys, k)
		}
		s.Targets++
		s.Requests += r.Requests
		s.Succeeded += r.Succeeded
		switch {
		case r.Result == reach.Failed:
			s.Result = string(reach.Failed)
		case r.Result == reach.Exception && s.Result == string(reach.Succeeded):
			s.Result = string(reach.Exception)
		}
		switch {
		case !r.Judged || r.Result == reach.Exception:
		case r.Inconclusive != "":
			s.Inconclusive++
		default:
			s.BackendsExpected += len(r.Expected)
			if r.Succeeded > 0 {
				s.BackendsReached += len(r.Expected) - len(r.Missing)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	out := make([]api.ReachPathStatus, 0, len(keys))
	for _, k := range keys {
		out = append(out, *by[k])
	}
	return out
}

// ReachStatus is the backends verdict and the failed rows of every source
// node's latest reach round.
func (s *Server) ReachStatus() api.ReachStatus {
	out := api.ReachStatus{Generated: s.now(), Paths: []api.ReachPathStatus{}, Failed: []api.ReachRowStatus{}, Notes: s.reachNotes()}
	st := s.reach
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, node := range sortedNodes(st.latest) {
		l := st.latest[node]
		stale := l.stale(out.Generated)
		for _, p := range pathStatus(node, l) {
			p.Stale = stale
			out.Paths = append(out.Paths, p)
		}
		if stale {
			continue
		}
		for _, r := range l.rows {
			if r.Result != reach.Succeeded {
				out.Failed = append(out.Failed, api.ReachRowStatus{SourceNode: node, Path: string(r.Path), Family: probe.Family(r.Family),
					Address: r.Address, Result: string(r.Result), Reasons: r.Reasons})
			}
		}
	}
	return out
}

// findings are netctl reach's findings (reach.Findings) read from every
// source node's latest round that is not stale.
func (st *reachStore) findings(now time.Time) []ndreport.Finding {
	st.mu.Lock()
	defer st.mu.Unlock()
	var rows []reach.Row
	for _, node := range sortedNodes(st.latest) {
		if l := st.latest[node]; !l.stale(now) {
			rows = append(rows, l.rows...)
		}
	}
	return reach.Findings(rows)
}

func sortedNodes(m map[string]*reachLatest) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return ndreport.CompareNames(out[i], out[j]) < 0 })
	return out
}
