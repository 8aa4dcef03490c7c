package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netdoctor/netdoctor/internal/load"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/reach"
)

// Reach metrics: one series set per (source node, path kind, family), never
// per address or target pod, so the count is nodes x 6 kinds x 2 families.
var reachLabels = []string{"source_node", "path", "family"}

// reachBounds are the exported histogram's upper bounds in seconds, from a
// loopback answer to a request at kdoctor's default 5 s timeout.
var reachBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// reachKinds and reachFamilies are the only label values a report may set:
// the server rejects anything else, keeping the label sets bounded.
var (
	reachKinds    = []string{"pod", "clusterip", "nodeport", "loadbalancer", "ingress", "gateway"}
	reachFamilies = []string{string(probe.IPv4), string(probe.IPv6)}
)

type reachKey struct{ node, kind, family string }

// reachSeries is a key's state: counts and latencies summed since the
// server started (Prometheus counters), and the latest round's figures.
type reachSeries struct {
	requests, succeeded int64
	latency             *load.Histogram // merged, bounded size
	lastRatio           float64
	lastP99             float64 // seconds
}

// reachStore holds the reach series and exports them at scrape time.
type reachStore struct {
	now         func() time.Time
	expectRatio float64
	expectP99   float64 // seconds; 0 = no p99 expectation exported

	mu       sync.Mutex
	series   map[reachKey]*reachSeries
	rounds   map[string]int64 // rounds received per source node
	roundErr map[string]int64 // rounds with errors outside the load per source node
	latest   map[string]*reachLatest

	duration, requests, succeeded, ratio, p99, expRatio, expP99, roundsD, errorsD, reached, expected *prometheus.Desc
}

func newReachStore(now func() time.Time, expectRatio, expectP99 float64) *reachStore {
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	node := []string{"source_node"}
	return &reachStore{
		now: now, expectRatio: expectRatio, expectP99: expectP99,
		series: map[reachKey]*reachSeries{}, rounds: map[string]int64{}, roundErr: map[string]int64{}, latest: map[string]*reachLatest{},
		duration:  d("netdoctor_reach_duration_seconds", "Latency of the succeeded reach requests (from the intended send time), summed over the path's targets.", reachLabels),
		requests:  d("netdoctor_reach_requests_total", "Reach requests due (sent or not).", reachLabels),
		succeeded: d("netdoctor_reach_succeeded_total", "Reach requests answered with an expected status.", reachLabels),
		ratio:     d("netdoctor_reach_success_ratio", "Succeeded / requests of the latest reach round.", reachLabels),
		p99:       d("netdoctor_reach_p99_seconds", "p99 latency of the latest reach round (engine histogram, within 1%).", reachLabels),
		expRatio:  d("netdoctor_reach_expect_success_ratio", "Expected success ratio of every reach path (--reach-expect-success-rate).", nil),
		expP99:    d("netdoctor_reach_expect_p99_seconds", "Expected p99 latency of every reach path (--reach-expect-p99).", nil),
		roundsD:   d("netdoctor_reach_rounds_total", "Reach rounds received from the source node's agent.", node),
		errorsD:   d("netdoctor_reach_round_errors_total", "Reach rounds that reported an error outside the load (e.g. the Service name did not resolve).", node),
		reached:   d("netdoctor_reach_backends_reached", "Backends that answered in the latest reach round, summed over the path's judged targets (netctl reach's verdict; absent while every target is inconclusive).", reachLabels),
		expected:  d("netdoctor_reach_backends_expected", "Backends that should have answered in the latest reach round, summed over the path's judged targets: the agent behind each pod address, the reach Service's ready endpoints of the family behind each ClusterIP, NodePort, LoadBalancer, Ingress and Gateway address.", reachLabels),
	}
}

// check rejects unknown path kinds and families and impossible counts.
func (st *reachStore) check(rep api.ReachReport) error {
	for _, p := range rep.Paths {
		if !slices.Contains(reachKinds, p.Kind) || !slices.Contains(reachFamilies, string(p.Family)) {
			return fmt.Errorf("%w: reach path kind %q family %q: kind must be one of %v, family one of %v", ErrBadReport, p.Kind, p.Family, reachKinds, reachFamilies)
		}
		if p.Requests < 0 || p.Succeeded < 0 || p.Succeeded > p.Requests {
			return fmt.Errorf("%w: reach path %s/%s: succeeded %d of %d requests", ErrBadReport, p.Kind, p.Family, p.Succeeded, p.Requests)
		}
		for _, r := range p.Rows {
			if r.Requests < 0 || r.Succeeded < 0 || r.Succeeded > r.Requests {
				return fmt.Errorf("%w: reach target %s: succeeded %d of %d requests", ErrBadReport, r.Address, r.Succeeded, r.Requests)
			}
		}
	}
	return nil
}

// record adds one checked round of node's agent, received at now, and its
// judged rows.
func (st *reachStore) record(node string, rep api.ReachReport, rows []reach.Row, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.rounds[node]++
	if len(rep.Errors) > 0 {
		st.roundErr[node]++
	}
	for _, p := range rep.Paths {
		k := reachKey{node, p.Kind, string(p.Family)}
		s := st.series[k]
		if s == nil {
			s = &reachSeries{latency: load.NewHistogram()}
			st.series[k] = s
		}
		s.requests += p.Requests
		s.succeeded += p.Succeeded
		s.latency.Merge(p.Latency)
		s.lastRatio = 0
		if p.Requests > 0 {
			s.lastRatio = float64(p.Succeeded) / float64(p.Requests)
		}
		s.lastP99 = float64(p.Latency.Quantile(0.99)) / 1e6
	}
	l := &reachLatest{round: rep.Round, started: rep.Started, rows: rows}
	if period := rep.Next.Sub(rep.Started); !rep.Next.IsZero() && period > 0 {
		l.staleAt = now.Add(2 * period)
	}
	st.latest[node] = l
}

// dropNode forgets a node whose pod-network agent went away.
func (st *reachStore) dropNode(node string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k := range st.series {
		if k.node == node {
			delete(st.series, k)
		}
	}
	delete(st.rounds, node)
	delete(st.roundErr, node)
	delete(st.latest, node)
}

func (st *reachStore) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{st.duration, st.requests, st.succeeded, st.ratio, st.p99, st.expRatio, st.expP99, st.roundsD, st.errorsD, st.reached, st.expected} {
		ch <- d
	}
}

func (st *reachStore) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(st.expRatio, prometheus.GaugeValue, st.expectRatio)
	if st.expectP99 > 0 {
		ch <- prometheus.MustNewConstMetric(st.expP99, prometheus.GaugeValue, st.expectP99)
	}
	boundsUs := make([]int64, len(reachBounds))
	for i, b := range reachBounds {
		boundsUs[i] = int64(b * 1e6)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.series {
		l := []string{k.node, k.kind, k.family}
		counts := s.latency.CountsAtMost(boundsUs)
		buckets := make(map[float64]uint64, len(reachBounds))
		for i, b := range reachBounds {
			buckets[b] = uint64(counts[i])
		}
		sum := s.latency.Mean() * float64(s.latency.Count()) / 1e6
		ch <- prometheus.MustNewConstHistogram(st.duration, uint64(s.latency.Count()), sum, buckets, l...)
		ch <- prometheus.MustNewConstMetric(st.requests, prometheus.CounterValue, float64(s.requests), l...)
		ch <- prometheus.MustNewConstMetric(st.succeeded, prometheus.CounterValue, float64(s.succeeded), l...)
		ch <- prometheus.MustNewConstMetric(st.ratio, prometheus.GaugeValue, s.lastRatio, l...)
		ch <- prometheus.MustNewConstMetric(st.p99, prometheus.GaugeValue, s.lastP99, l...)
	}
	for node, n := range st.rounds {
		ch <- prometheus.MustNewConstMetric(st.roundsD, prometheus.CounterValue, float64(n), node)
		ch <- prometheus.MustNewConstMetric(st.errorsD, prometheus.CounterValue, float64(st.roundErr[node]), node)
	}
	now := st.now()
	for node, l := range st.latest {
		if l.stale(now) {
			continue // an overdue round is no current verdict
		}
		for _, p := range pathStatus(node, l) {
			if p.BackendsExpected == 0 {
				continue // nothing judged: no verdict to alert on
			}
			lv := []string{node, p.Path, string(p.Family)}
			ch <- prometheus.MustNewConstMetric(st.reached, prometheus.GaugeValue, float64(p.BackendsReached), lv...)
			ch <- prometheus.MustNewConstMetric(st.expected, prometheus.GaugeValue, float64(p.BackendsExpected), lv...)
		}
	}
}

// RecordReach stores a reach round from the pod-network agent name and
// judges its rows against the reach Service's ready endpoints, read now.
func (s *Server) RecordReach(ctx context.Context, name string, rep api.ReachReport) error {
	node, network, ok := api.ParseAgentName(name)
	if !ok || network != api.NetworkPod {
		return fmt.Errorf("%w: reach reports come from pod-network agents (<node>-private_network), not %q", ErrBadReport, name)
	}
	if rep.NodeName != node {
		return fmt.Errorf("%w: reach report of node %q posted as %q", ErrBadReport, rep.NodeName, name)
	}
	if err := s.reach.check(rep); err != nil {
		return err
	}
	var eps []reach.Endpoint
	known := s.cfg.ReachEndpoints != nil
	if known {
		var err error
		if eps, err = s.cfg.ReachEndpoints.ReachEndpoints(ctx); err != nil {
			known = false
			s.log.Warn("reach backends not judged this round", "node", node, "err", err)
		}
	}
	s.reach.record(node, rep, judgeReach(node, rep, eps, known, s.reach.expectRatio), s.now())
	return nil
}
