package reach

import (
	"net/netip"
	"sort"

	"github.com/netdoctor/netdoctor/internal/load"
)

// tally merges one row's results over rounds. Histograms are merged, never
// samples, so memory stays bounded whatever the rounds and rates.
type tally struct {
	m       Measured
	latency *load.Histogram
	// backends by pod; clients by pod, a set.
	backends map[string]*Reached
	clients  map[string]map[string]bool
}

func newTally() *tally {
	return &tally{latency: load.NewHistogram(), backends: map[string]*Reached{}, clients: map[string]map[string]bool{}}
}

// add folds in one round's result of the row.
func (t *tally) add(r load.TargetResult) {
	t.m.Requests += r.Requests
	t.m.Succeeded += r.Succeeded
	t.m.Queued += r.Queued
	for c, n := range r.StatusCodes {
		if t.m.StatusCodes == nil {
			t.m.StatusCodes = map[int]int64{}
		}
		t.m.StatusCodes[c] += n
	}
	t.addErrors(r.Errors, r.ErrorSamples)
	if r.Latency != nil {
		t.latency.Merge(r.Latency)
	}
	for _, b := range r.Backends {
		cur := t.backends[b.Pod]
		if cur == nil {
			cur = &Reached{Node: b.Node, Pod: b.Pod, PodIP: b.PodIP}
			t.backends[b.Pod] = cur
			t.clients[b.Pod] = map[string]bool{}
		}
		cur.Count += b.Count
		if b.ClientAddr != "" {
			t.clients[b.Pod][clientIP(b.ClientAddr)] = true
		}
	}
}

func (t *tally) addErrors(errs map[string]int64, samples []string) {
	for c, n := range errs {
		if t.m.Errors == nil {
			t.m.Errors = map[string]int64{}
		}
		t.m.Errors[c] += n
	}
	for _, s := range samples {
		if len(t.m.ErrorSamples) < 5 && !contains(t.m.ErrorSamples, s) {
			t.m.ErrorSamples = append(t.m.ErrorSamples, s)
		}
	}
}

// fail records a round in which the row got no result (the batch failed).
func (t *tally) fail(reason string) {
	if t.m.Failure == "" {
		t.m.Failure = reason
	}
}

// measured is the merged view.
func (t *tally) measured() Measured {
	m := t.m
	if m.Requests > 0 && m.Failure != "" {
		// Some rounds measured: judge those, keep the failure as a sample.
		m.ErrorSamples = append(m.ErrorSamples, "a round got no result: "+m.Failure)
		m.Failure = ""
	}
	if h := t.latency; h.Count() > 0 {
		m.MeanUs, m.MaxUs = h.Mean(), h.Max()
		m.P50Us, m.P90Us, m.P95Us, m.P99Us = h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.95), h.Quantile(0.99)
	}
	for pod, b := range t.backends {
		r := *b
		for c := range t.clients[pod] {
			r.ClientAddrs = append(r.ClientAddrs, c)
		}
		sort.Strings(r.ClientAddrs)
		m.Backends = append(m.Backends, r)
	}
	sort.Slice(m.Backends, func(i, j int) bool { return m.Backends[i].Pod < m.Backends[j].Pod })
	return m
}

// clientIP drops a port from "IP:port" / "[IPv6]:port".
func clientIP(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return addr
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
