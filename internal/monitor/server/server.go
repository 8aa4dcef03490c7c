// Package server is the monitor server: it receives agents' reports, keeps
// the latest per agent and per probed pair (all behind one mutex), serves
// the k8s-netchecker endpoints plus a peer list and a reachability matrix,
// exports Prometheus metrics and persists its state to a file.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// ExpectedAgent is an agent the cluster says should exist (from the pod
// list), whether or not it has reported.
type ExpectedAgent struct {
	Name    string
	Node    string
	Network api.Network
	Pod     string
	// Zone is the node's topology.kubernetes.io/zone label.
	Zone string
	IPs  []string
	// Port is where the agent listens; 0 = Config.AgentPort.
	Port int
	// Since is when the agent's pod started; the agent is not "absent"
	// before one interval has passed since then.
	Since time.Time
	// Skip, when set, tells peers not to probe this agent and why
	// (terminating, node NotReady, cordoned, not ready, no IP).
	Skip string
	// Counted is false for agents that are going away (terminating pod,
	// NotReady or cordoned node): they are never reported absent.
	Counted bool
}

// Roster lists the agents that should exist. The in-cluster roster reads
// pods and nodes (see KubeRoster); without one the server knows only the
// agents that reported.
type Roster interface {
	Expected(ctx context.Context) ([]ExpectedAgent, error)
}

// Config configures a Server.
type Config struct {
	// Token is the shared secret agents send in api.TokenHeader. Required.
	Token string
	// Interval is the agents' reporting interval.
	Interval time.Duration
	// Grace: an agent silent for longer is dropped from state and metrics.
	Grace time.Duration
	// AgentPort is the port agents listen on (put into the peer list).
	AgentPort int
	// StateFile, if set, is where state is saved and loaded from.
	StateFile string
	Roster    Roster
	// ReachExpectSuccessRate (0..1) and ReachExpectP99 are the reach
	// expectations exported for the alert rules (0 p99: none).
	ReachExpectSuccessRate float64
	ReachExpectP99         time.Duration
	// ReachEndpoints, if set, reads the reach Service's ready endpoints
	// for the backends verdict of the clusterip and nodeport rows.
	ReachEndpoints ReachEndpoints
	// ReachVIPs, if set, reads the loadbalancer, ingress and gateway
	// addresses handed to the agents (GET api.PathReachTargets).
	ReachVIPs ReachVIPs
	Logger    *slog.Logger
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
}

type agentRecord struct {
	Entry       api.AgentEntry `json:"entry"`
	FirstSeen   time.Time      `json:"firstSeen"`
	ReportCount float64        `json:"reportCount"`
	ErrorCount  float64        `json:"errorCount"`
	// LastMiss is when a keepalive miss was last counted.
	LastMiss time.Time `json:"lastMiss,omitzero"`
}

type pairKey struct {
	Source  string
	Target  string
	Kind    probe.Kind
	Address string
}

func keyOf(p *api.MatrixPair) pairKey {
	return pairKey{p.Source, p.Target, p.Kind, p.Address}
}

// Server holds the monitor state. Create it with New.
type Server struct {
	cfg      Config
	now      func() time.Time
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *metrics
	reach    *reachStore
	vips     vipCache

	mu       sync.Mutex
	started  time.Time
	agents   map[string]*agentRecord
	pairs    map[pairKey]*api.MatrixPair
	expected map[string]ExpectedAgent // nil until a roster answered
	dirty    bool
}

// New validates cfg and returns a server with an empty state (call Load to
// restore a saved one).
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.Token == "" {
		errs = append(errs, errors.New("token: must not be empty (agents authenticate with it)"))
	}
	if cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval: must be > 0, got %s", cfg.Interval))
	}
	if cfg.Grace == 0 {
		cfg.Grace = 10 * cfg.Interval
	}
	if cfg.Grace < 2*cfg.Interval {
		errs = append(errs, fmt.Errorf("grace: must be at least 2 x interval (%s), got %s", 2*cfg.Interval, cfg.Grace))
	}
	if cfg.ReachExpectSuccessRate < 0 || cfg.ReachExpectSuccessRate > 1 {
		errs = append(errs, fmt.Errorf("reach-expect-success-rate: must be within [0, 1], got %v", cfg.ReachExpectSuccessRate))
	}
	if cfg.ReachExpectP99 < 0 {
		errs = append(errs, fmt.Errorf("reach-expect-p99: must be >= 0 (0 = none), got %s", cfg.ReachExpectP99))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	s := &Server{
		cfg:      cfg,
		now:      now,
		log:      log,
		registry: reg,
		metrics:  newMetrics(reg),
		started:  now(),
		agents:   map[string]*agentRecord{},
		pairs:    map[pairKey]*api.MatrixPair{},
	}
	s.reach = newReachStore(now, cfg.ReachExpectSuccessRate, cfg.ReachExpectP99.Seconds())
	reg.MustRegister(newStateCollector(s), s.reach)
	return s, nil
}

// Registry is the server's explicit Prometheus registry.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// ErrBadReport is wrapped by Record for reports that do not match their name.
var ErrBadReport = errors.New("bad report")

// Record stores a report from agent name.
func (s *Server) Record(name string, r api.Report) error {
	node, network, ok := api.ParseAgentName(name)
	if !ok {
		return fmt.Errorf("%w: agent name %q must be <node>-private_network or <node>-host_network", ErrBadReport, name)
	}
	if r.NodeName != node {
		return fmt.Errorf("%w: nodename %q does not match agent name %q", ErrBadReport, r.NodeName, name)
	}
	if r.Network == "" {
		r.Network = network
	}
	if r.Network != network {
		return fmt.Errorf("%w: network %q does not match agent name %q", ErrBadReport, r.Network, name)
	}
	now := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.agents[name]
	if rec == nil {
		rec = &agentRecord{FirstSeen: now}
		s.agents[name] = rec
		s.metrics.touchAgent(name, node)
	}
	rec.Entry = api.AgentEntry{Report: r, LastUpdated: now}
	rec.ReportCount++
	s.metrics.reportCount.WithLabelValues(name, node).Inc()
	if r.HTTPProbe != nil && !r.HTTPProbe.ConnectionResult {
		rec.ErrorCount++
		s.metrics.errorCount.WithLabelValues(name, node).Inc()
	}
	s.metrics.setReportGauges(name, &r)
	if r.DNS != nil && r.DNS.OK {
		s.metrics.dnsDuration.WithLabelValues(name, node).Observe(r.DNS.LatencyMs / 1000)
	}
	s.recordPairsLocked(name, &r, now)
	s.dirty = true
	return nil
}

// recordPairsLocked updates the matrix rows of one source and drops the
// rows (and series) of peers the source no longer probes.
func (s *Server) recordPairsLocked(source string, r *api.Report, now time.Time) {
	seen := map[pairKey]bool{}
	for _, pr := range r.Peers {
		p := &api.MatrixPair{
			Source: source, SourceNode: r.NodeName, SourceNetwork: r.Network,
			Target: pr.Target, TargetNode: pr.TargetNode, TargetNetwork: pr.TargetNetwork,
			Address: pr.Address, Family: pr.Family, Kind: pr.Kind,
			OK: pr.OK, Class: pr.Class, Reason: pr.Reason, LatencyMs: pr.LatencyMs,
			LastChecked: now,
		}
		k := keyOf(p)
		seen[k] = true
		old := s.pairs[k]
		if old != nil && !pr.OK {
			p.ConsecutiveFailures = old.ConsecutiveFailures
			p.FailingSince = old.FailingSince
		}
		p.History = appendRound(old, api.Round{At: now, OK: pr.OK, Class: pr.Class, LatencyMs: pr.LatencyMs})
		if !pr.OK {
			p.ConsecutiveFailures++
			if p.FailingSince == nil {
				t := now
				p.FailingSince = &t
			}
		}
		s.pairs[k] = p
		s.metrics.setPair(p)
		if pr.OK {
			s.metrics.probeDuration.WithLabelValues(pairLabelValues(p)...).Observe(pr.LatencyMs / 1000)
		}
	}
	for k, p := range s.pairs {
		if k.Source == source && !seen[k] {
			s.dropPairLocked(k, p)
		}
	}
}

func (s *Server) dropPairLocked(k pairKey, p *api.MatrixPair) {
	delete(s.pairs, k)
	// Two addresses can map to one label set only if a target changed
	// address; delete the series only when no other row still uses it.
	for _, other := range s.pairs {
		if equalLabels(other, p) {
			return
		}
	}
	s.metrics.deletePair(p)
}

func equalLabels(a, b *api.MatrixPair) bool {
	la, lb := pairLabelValues(a), pairLabelValues(b)
	for i := range la {
		if la[i] != lb[i] {
			return false
		}
	}
	return true
}

func (s *Server) dropAgentLocked(name string) {
	delete(s.agents, name)
	s.metrics.deleteAgent(name)
	if node, network, ok := api.ParseAgentName(name); ok && network == api.NetworkPod {
		s.reach.dropNode(node)
	}
	for k, p := range s.pairs {
		if k.Source == name || k.Target == name {
			s.dropPairLocked(k, p)
		}
	}
	s.dirty = true
}

// outdatedAfter is how old a report may get before the agent is outdated:
// two of the agent's own intervals (the server's when it did not say).
func (s *Server) outdatedAfter(rec *agentRecord) time.Duration {
	iv := s.cfg.Interval
	if ri := rec.Entry.ReportInterval; ri > 0 {
		iv = time.Duration(ri) * time.Second
	}
	return 2 * iv
}

// Sweep drops agents silent for longer than the grace period and counts
// keepalive misses (one per interval an agent stays outdated). The server's
// loop calls it every half interval; tests call it directly.
func (s *Server) Sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, rec := range s.agents {
		age := now.Sub(rec.Entry.LastUpdated)
		if age > s.cfg.Grace {
			s.log.Info("dropping silent agent", "agent", name, "silentFor", age.Round(time.Second))
			s.dropAgentLocked(name)
			continue
		}
		if age > s.outdatedAfter(rec) && now.Sub(rec.LastMiss) >= s.cfg.Interval {
			rec.LastMiss = now
			rec.ErrorCount++
			s.metrics.errorCount.WithLabelValues(name, rec.Entry.NodeName).Inc()
			s.dirty = true
		}
	}
}

// SetExpected replaces the roster's view (the loop calls it after each
// successful roster listing).
func (s *Server) SetExpected(list []ExpectedAgent) {
	m := make(map[string]ExpectedAgent, len(list))
	for _, e := range list {
		m[e.Name] = e
	}
	s.mu.Lock()
	s.expected = m
	s.mu.Unlock()
}

// Connectivity returns the agents that never reported (Absent), those
// whose latest report is older than two intervals (Outdated), and the
// expected agents that have not reported yet but are still within their
// first interval (Pending: their pod or this server started less than one
// interval ago), each sorted, and how many agents are known. Pending agents
// are kept apart so the absent gauge (and its alert) waits out a rollout or
// a server restart, while connectivity_check never says "all reported"
// before they have.
func (s *Server) Connectivity() (absent, outdated, pending []string, known int) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	absent, outdated, pending = []string{}, []string{}, []string{}
	for name, rec := range s.agents {
		if now.Sub(rec.Entry.LastUpdated) > s.outdatedAfter(rec) {
			outdated = append(outdated, name)
		}
	}
	known = len(s.agents)
	serverWarm := now.Sub(s.started) >= s.cfg.Interval
	for name, e := range s.expected {
		if _, ok := s.agents[name]; ok || !e.Counted {
			continue
		}
		known++
		if serverWarm && now.Sub(e.Since) >= s.cfg.Interval {
			absent = append(absent, name)
		} else {
			pending = append(pending, name)
		}
	}
	sort.Strings(absent)
	sort.Strings(outdated)
	sort.Strings(pending)
	return absent, outdated, pending, known
}

// Agents returns a copy of the latest report of every agent.
func (s *Server) Agents() map[string]api.AgentEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]api.AgentEntry, len(s.agents))
	for name, rec := range s.agents {
		out[name] = rec.Entry
	}
	return out
}

// Agent returns one agent's latest report.
func (s *Server) Agent(name string) (api.AgentEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.agents[name]
	if !ok {
		return api.AgentEntry{}, false
	}
	return rec.Entry, true
}

// Matrix returns every known pair, sorted; failingOnly keeps failing ones.
func (s *Server) Matrix(failingOnly bool) api.Matrix {
	return s.MatrixView(MatrixOptions{FailingOnly: failingOnly})
}

// MatrixOptions selects what MatrixView returns.
type MatrixOptions struct {
	// FailingOnly keeps only pairs whose latest result failed.
	FailingOnly bool
	// History includes each pair's kept rounds (large on big clusters).
	History bool
}

// MatrixView returns every known pair, sorted, with its staleness, recent
// rounds and latency quantiles, and the node roster with zones.
func (s *Server) MatrixView(o MatrixOptions) api.Matrix {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := api.Matrix{Generated: now, Interval: int(s.cfg.Interval / time.Second), Pairs: []api.MatrixPair{}}
	for _, p := range s.pairs {
		m.Total++
		if !p.OK {
			m.Failing++
		}
		stale := s.staleLocked(p, now)
		if stale {
			m.Stale++
		}
		if o.FailingOnly && p.OK {
			continue
		}
		c := *p
		c.Stale = stale
		c.Recent, c.LatencyP50Ms, c.LatencyP99Ms = summarize(p.History)
		if !o.History {
			c.History = nil
		} else {
			c.History = append([]api.Round(nil), p.History...)
		}
		m.Pairs = append(m.Pairs, c)
	}
	m.Nodes = s.nodesLocked(now)
	sort.Slice(m.Pairs, func(i, j int) bool {
		a, b := m.Pairs[i], m.Pairs[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Address < b.Address
	})
	return m
}

// Peers returns the peer list agents probe. With a roster it is the
// roster (with skip reasons); without one, the agents that reported within
// two intervals.
func (s *Server) Peers() api.PeerList {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pl := api.PeerList{Interval: int(s.cfg.Interval / time.Second), Peers: []api.Peer{}}
	if s.expected != nil {
		for _, e := range s.expected {
			port := e.Port
			if port == 0 {
				port = s.cfg.AgentPort
			}
			pl.Peers = append(pl.Peers, api.Peer{
				Name: e.Name, Node: e.Node, Network: e.Network, Pod: e.Pod,
				IPs: append([]string{}, e.IPs...), Port: port, Skip: e.Skip,
			})
		}
	} else {
		for name, rec := range s.agents {
			if now.Sub(rec.Entry.LastUpdated) > s.outdatedAfter(rec) {
				continue
			}
			r := rec.Entry.Report
			p := api.Peer{Name: name, Node: r.NodeName, Network: r.Network, Pod: r.PodName,
				IPs: append([]string{}, r.IPs...), Port: s.cfg.AgentPort}
			if len(p.IPs) == 0 {
				p.Skip = "no IP"
			}
			pl.Peers = append(pl.Peers, p)
		}
	}
	sort.Slice(pl.Peers, func(i, j int) bool { return pl.Peers[i].Name < pl.Peers[j].Name })
	return pl
}

type agentAge struct {
	name, node string
	age        float64
}

func (s *Server) scrapeState() ([]agentAge, map[string]int) {
	absent, outdated, pending, _ := s.Connectivity()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ages := make([]agentAge, 0, len(s.agents))
	for name, rec := range s.agents {
		ages = append(ages, agentAge{name, rec.Entry.NodeName, now.Sub(rec.Entry.LastUpdated).Seconds()})
	}
	return ages, map[string]int{
		"absent":    len(absent),
		"outdated":  len(outdated),
		"reporting": len(s.agents) - len(outdated),
		"pending":   len(pending),
	}
}

// Run refreshes the roster every interval, sweeps every half interval and
// saves the state when it changed, until ctx ends (then saves once more).
func (s *Server) Run(ctx context.Context) error {
	refresh := func() {
		if s.cfg.Roster == nil {
			return
		}
		list, err := s.cfg.Roster.Expected(ctx)
		if err != nil {
			s.log.Warn("listing agents from the cluster (keeping the previous list)", "err", err)
			return
		}
		s.SetExpected(list)
	}
	refresh()
	sweep := time.NewTicker(s.cfg.Interval / 2)
	defer sweep.Stop()
	roster := time.NewTicker(s.cfg.Interval)
	defer roster.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.Save()
		case <-roster.C:
			refresh()
		case <-sweep.C:
			s.Sweep()
			if err := s.Save(); err != nil {
				s.log.Warn("saving state", "err", err)
			}
		}
	}
}
