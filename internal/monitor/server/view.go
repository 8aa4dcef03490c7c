package server

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/analysis"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	ndreport "github.com/netdoctor/netdoctor/internal/report"
)

// KindAgentOutdated is the finding for an agent that stopped reporting:
// its pairs are stale (unknown), not failed.
const KindAgentOutdated = "agent-outdated"

// appendRound adds r to old's kept rounds, keeping the last HistoryRounds.
func appendRound(old *api.MatrixPair, r api.Round) []api.Round {
	var h []api.Round
	if old != nil {
		h = old.History
	}
	if len(h) >= api.HistoryRounds {
		h = h[len(h)-api.HistoryRounds+1:]
	}
	return append(append(make([]api.Round, 0, len(h)+1), h...), r)
}

// summarize returns the strip of recent results ('+' ok, '-' failed,
// oldest first) and the p50/p99 latency of the successful rounds.
func summarize(h []api.Round) (string, float64, float64) {
	var b strings.Builder
	var lat []float64
	for _, r := range h {
		if r.OK {
			b.WriteByte('+')
			lat = append(lat, r.LatencyMs)
		} else {
			b.WriteByte('-')
		}
	}
	if len(lat) == 0 {
		return b.String(), 0, 0
	}
	slices.Sort(lat)
	return b.String(), quantile(lat, 0.5), quantile(lat, 0.99)
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// staleLocked: the pair's source has not reported for two of its
// intervals (or is gone), so its latest result says nothing about now.
func (s *Server) staleLocked(p *api.MatrixPair, now time.Time) bool {
	rec := s.agents[p.Source]
	if rec == nil {
		return true
	}
	return now.Sub(p.LastChecked) > s.outdatedAfter(rec)
}

// nodesLocked lists every node known from the roster or from reports,
// with its zone and its agents' status.
func (s *Server) nodesLocked(now time.Time) []api.MatrixNode {
	byName := map[string]*api.MatrixNode{}
	node := func(name string) *api.MatrixNode {
		n := byName[name]
		if n == nil {
			n = &api.MatrixNode{Name: name, Agents: []api.MatrixNodeAgent{}}
			byName[name] = n
		}
		return n
	}
	for name, rec := range s.agents {
		n := node(rec.Entry.NodeName)
		a := api.MatrixNodeAgent{Name: name, Network: rec.Entry.Network, Status: api.AgentReporting}
		t := rec.Entry.LastUpdated
		a.LastReport = &t
		if now.Sub(t) > s.outdatedAfter(rec) {
			a.Status = api.AgentOutdated
		}
		if e, ok := s.expected[name]; ok {
			a.Skip = e.Skip
		}
		n.Agents = append(n.Agents, a)
	}
	for name, e := range s.expected {
		n := node(e.Node)
		if e.Zone != "" {
			n.Zone = e.Zone
		}
		if _, ok := s.agents[name]; ok {
			continue
		}
		n.Agents = append(n.Agents, api.MatrixNodeAgent{Name: name, Network: e.Network, Status: api.AgentAbsent, Skip: e.Skip})
	}
	out := make([]api.MatrixNode, 0, len(byName))
	for _, n := range byName {
		sort.Slice(n.Agents, func(i, j int) bool { return n.Agents[i].Name < n.Agents[j].Name })
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return ndreport.CompareNames(out[i].Name, out[j].Name) < 0 })
	return out
}

// Findings reads the matrix's current results with the same culprit
// analysis as netctl check (package diagnose), plus the reach findings. Stale pairs are left out:
// an agent that stopped reporting gets an agent-outdated finding instead,
// never a failure of its pairs.
func (s *Server) Findings() api.Findings {
	m := s.MatrixView(MatrixOptions{})
	var rows []ndreport.Row
	for _, p := range m.Pairs {
		if p.Stale {
			continue
		}
		rows = append(rows, p.Row())
	}
	out := api.Findings{Generated: m.Generated, Findings: []ndreport.Finding{}}
	for _, n := range m.Nodes {
		for _, a := range n.Agents {
			if a.Status != api.AgentOutdated {
				continue
			}
			stale := 0
			for _, p := range m.Pairs {
				if p.Source == a.Name && p.Stale {
					stale++
				}
			}
			f := ndreport.Finding{Kind: KindAgentOutdated, Nodes: []string{n.Name}, Failed: stale, Total: stale,
				Summary: fmt.Sprintf("agent %s has not reported since %s: its %d pairs are stale (unknown), not failed",
					a.Name, a.LastReport.UTC().Format(time.RFC3339), stale),
				Evidence: fmt.Sprintf("latest report %s ago, more than two intervals; the agent or its path to the server is down",
					m.Generated.Sub(*a.LastReport).Round(time.Second)),
			}
			out.Findings = append(out.Findings, f)
		}
	}
	out.Findings = append(out.Findings, analysis.Analyze(rows)...)
	// Reach rounds (when scheduled) add netctl reach's findings, read from
	// each source node's latest round.
	out.Findings = append(out.Findings, s.reach.findings(m.Generated)...)
	return out
}
