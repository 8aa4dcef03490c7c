// Package reporter is the monitor agent (`netctl monitor agent`): every
// interval it probes the monitor server, its peers (pod- and host-network
// agents on other nodes), the cluster DNS and the API server, then POSTs
// the round's report to the server with the shared token. It also answers
// peers' probes through the check agent's identity/echo server.
package reporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Config configures an Agent.
type Config struct {
	ServerURL string // e.g. http://netdoctor-monitor.NS.svc:8081
	Token     string
	Node      string
	Pod       string
	Network   api.Network
	IPs       []string
	Version   string

	Interval time.Duration
	Jitter   float64 // fraction of the interval, e.g. 0.2
	// ProbeTimeout bounds every single probe.
	ProbeTimeout time.Duration
	// PeersPerNode is k: each node is probed by k others (all others on
	// clusters of at most 2k+1 nodes). See Assign.
	PeersPerNode int
	Concurrency  int

	// Kinds are what to probe: peer kinds (PeerKinds: tcp, udp, icmp) and
	// dns, the lookup at DNSServer.
	Kinds []probe.Kind

	// DNSServer (IP) and DNSName: the cluster DNS check; empty server = skip.
	DNSServer string
	DNSPort   int
	DNSName   string
	// APIServer is host:port of the kubernetes service; empty = skip.
	APIServer string

	Logger *slog.Logger
}

// Validate reports every problem at once, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if c.ServerURL == "" {
		errs = append(errs, errors.New("--server: must be set (URL of the monitor server)"))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("--token-file: the token is empty (the server rejects reports without it)"))
	}
	if c.Node == "" {
		errs = append(errs, errors.New("--node (or NODE_NAME): must be set"))
	}
	if c.Network != api.NetworkPod && c.Network != api.NetworkHost {
		errs = append(errs, fmt.Errorf("--network: must be pod or host, got %q", c.Network))
	}
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("--interval: must be >= 1s, got %s", c.Interval))
	}
	if c.Jitter < 0 || c.Jitter > 0.5 {
		errs = append(errs, fmt.Errorf("--jitter: must be within [0, 0.5], got %v", c.Jitter))
	}
	if c.ProbeTimeout <= 0 || c.ProbeTimeout > c.Interval {
		errs = append(errs, fmt.Errorf("--probe-timeout: must be > 0 and <= --interval (%s), got %s", c.Interval, c.ProbeTimeout))
	}
	if c.PeersPerNode < 1 {
		errs = append(errs, fmt.Errorf("--peers-per-node: must be >= 1, got %d", c.PeersPerNode))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency: must be >= 1, got %d", c.Concurrency))
	}
	for _, k := range c.Kinds {
		if k != probe.KindDNS && !slices.Contains(PeerKinds, k) {
			errs = append(errs, fmt.Errorf("--kinds: %q is not one of tcp, udp, icmp, dns", k))
		}
	}
	if c.DNSServer != "" && net.ParseIP(c.DNSServer) == nil {
		errs = append(errs, fmt.Errorf("--dns-server: %q is not an IP address", c.DNSServer))
	}
	return errors.Join(errs...)
}

// Agent runs rounds. Create it with New.
type Agent struct {
	cfg     Config
	name    string
	log     *slog.Logger
	client  *http.Client
	started time.Time
	rounds  int64

	mu        sync.Mutex
	lastPeers []api.Peer // the latest peer list the server gave
}

// New returns an agent for a valid cfg.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = DefaultKinds
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{
		cfg:     cfg,
		name:    api.AgentName(cfg.Node, cfg.Network),
		log:     log,
		client:  &http.Client{Transport: &http.Transport{Proxy: nil}},
		started: time.Now(),
	}, nil
}

// Name is the agent's name (`<node>-private_network` / `<node>-host_network`).
func (a *Agent) Name() string { return a.name }

// Run runs rounds until ctx ends.
func (a *Agent) Run(ctx context.Context) {
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), hashString(a.name)))
	Loop(ctx, a.cfg.Interval, a.cfg.Jitter, rnd, func(rctx context.Context) {
		rep := a.Round(rctx)
		if err := a.Send(rctx, rep); err != nil {
			a.log.Warn("sending report", "err", err)
			return
		}
		a.log.Debug("report sent", "round", rep.Round, "peers", len(rep.Peers), "skipped", len(rep.SkippedPeers))
	})
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Round runs every probe once and returns the report.
func (a *Agent) Round(ctx context.Context) api.Report {
	start := time.Now()
	a.rounds++
	rep := api.Report{
		ReportInterval: int(a.cfg.Interval / time.Second),
		NodeName:       a.cfg.Node,
		PodName:        a.cfg.Pod,
		Network:        a.cfg.Network,
		IPs:            a.cfg.IPs,
		Version:        a.cfg.Version,
		Round:          a.rounds,
	}
	peers, err := a.FetchPeers(ctx)
	if err != nil {
		a.log.Warn("getting the peer list (using the previous one)", "err", err)
	}
	targets, skipped := a.plan(peers)
	rep.SkippedPeers = skipped

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.cfg.Concurrency)
	g.Go(func() error {
		pctx, cancel := context.WithTimeout(gctx, a.cfg.ProbeTimeout)
		defer cancel()
		hp := ProbeHTTP(pctx, strings.TrimSuffix(a.cfg.ServerURL, "/")+api.PathPing)
		mu.Lock()
		rep.HTTPProbe = &hp
		mu.Unlock()
		return nil
	})
	if a.cfg.DNSServer != "" && slices.Contains(a.cfg.Kinds, probe.KindDNS) {
		g.Go(func() error {
			o := a.run(gctx, probe.Target{Kind: probe.KindDNS, Address: a.cfg.DNSServer, Port: a.cfg.DNSPort, Name: a.cfg.DNSName},
				a.cfg.DNSServer+" "+a.cfg.DNSName)
			mu.Lock()
			rep.DNS = &o
			mu.Unlock()
			return nil
		})
	}
	if host, port, err := net.SplitHostPort(a.cfg.APIServer); err == nil {
		p, _ := strconv.Atoi(port)
		g.Go(func() error {
			o := a.run(gctx, probe.Target{Kind: probe.KindConn, Address: host, Port: p}, a.cfg.APIServer)
			mu.Lock()
			rep.APIServer = &o
			mu.Unlock()
			return nil
		})
	}
	results := make([]api.PeerResult, len(targets))
	for i, t := range targets {
		g.Go(func() error {
			pctx, cancel := context.WithTimeout(gctx, a.cfg.ProbeTimeout)
			defer cancel()
			r := probe.Run(pctx, t.target)
			pr := t.result
			pr.OK, pr.Class, pr.Reason = r.OK, r.Class, r.Reason
			if r.OK {
				pr.LatencyMs = float64(r.Timings.Total) / float64(time.Millisecond)
			}
			results[i] = pr
			return nil
		})
	}
	_ = g.Wait() // the goroutines never fail: failures are results
	rep.Peers = results
	rep.HostDate = time.Now()
	rep.Uptime = time.Since(a.started).Round(time.Second).String()
	rep.RoundDuration = float64(time.Since(start)) / float64(time.Millisecond)
	return rep
}

func (a *Agent) run(ctx context.Context, t probe.Target, label string) api.Outcome {
	pctx, cancel := context.WithTimeout(ctx, a.cfg.ProbeTimeout)
	defer cancel()
	r := probe.Run(pctx, t)
	o := api.Outcome{Target: label, OK: r.OK, Class: r.Class, Reason: r.Reason}
	if r.OK {
		o.LatencyMs = float64(r.Timings.Total) / float64(time.Millisecond)
	}
	return o
}

type plannedProbe struct {
	target probe.Target
	result api.PeerResult
}

// PeerKinds are the kinds a monitor agent can probe its peers with (the
// planner's); dns is the lookup at the cluster DNS server instead.
var PeerKinds = plan.MeshKinds

// DefaultKinds are what an agent probes when Config.Kinds is empty: tcp to
// its peers and the cluster DNS lookup (what the monitor always did).
var DefaultKinds = []probe.Kind{probe.KindTCP, probe.KindDNS}

// plan picks this round's peer probes with the planner every front-end
// uses: for each configured peer kind and each network, the checks from
// this agent to the nodes rendezvous hashing assigns it (Spec.PeersPerNode).
// Agents with a skip reason are listed as skipped instead. Skipped agents
// still count as nodes for the assignment so that a node going NotReady
// does not reshuffle everyone.
func (a *Agent) plan(peers []api.Peer) ([]plannedProbe, []api.SkippedPeer) {
	inv, skipped := a.inventory(peers)
	srcNet := a.cfg.Network.Deploy()
	var out []plannedProbe
	seen := map[string]bool{}
	for _, kind := range a.cfg.Kinds {
		if !slices.Contains(PeerKinds, kind) {
			continue
		}
		for _, dstNet := range []deploy.Network{deploy.PodNetwork, deploy.HostNetwork} {
			spec := plan.Spec{Mode: plan.ModeFor(srcNet, dstNet), Protocol: kind, Families: []probe.Family{probe.IPv4, probe.IPv6},
				Source: a.cfg.Node, PeersPerNode: a.cfg.PeersPerNode}
			for _, c := range plan.Plan(spec, inv, nil) {
				name := api.AgentName(c.Pair.DstNode, api.NetworkOf(dstNet))
				if c.Skip != "" {
					// Only agents the server listed: a node without an agent
					// on a network is not a skipped peer.
					if ag := inv.Agents[dstNet][c.Pair.DstNode]; ag != nil && c.SkipAgent != nil && c.SkipAgent.Side == report.AgentTarget && !seen[name] {
						seen[name] = true
						skipped = append(skipped, api.SkippedPeer{Name: name, Reason: ag.Problem})
					}
					continue
				}
				t := c.Target
				t.ID = name + "/" + t.Address + "/" + string(kind)
				out = append(out, plannedProbe{
					target: t,
					result: api.PeerResult{Target: name, TargetNode: c.Pair.DstNode, TargetNetwork: api.NetworkOf(dstNet),
						Address: t.Address, Family: t.Family, Kind: kind},
				})
			}
		}
	}
	return out, skipped
}

// inventory turns the server's peer list into the planner's inventory:
// this agent (always usable) and every peer, a peer with a skip reason or
// without an address as a not-ready agent. Addresses that are not IPs are
// skipped at once.
func (a *Agent) inventory(peers []api.Peer) (*inventory.Inventory, []api.SkippedPeer) {
	inv := &inventory.Inventory{Agents: map[deploy.Network]map[string]*inventory.Agent{
		deploy.PodNetwork: {}, deploy.HostNetwork: {}}}
	nodes := map[string]*kube.Node{}
	node := func(name string) *kube.Node {
		if nodes[name] == nil {
			nodes[name] = &kube.Node{Name: name}
		}
		return nodes[name]
	}
	node(a.cfg.Node)
	self := &inventory.Agent{Node: a.cfg.Node, Network: a.cfg.Network.Deploy(), Pod: a.cfg.Pod, IPs: a.cfg.IPs, Ready: true}
	inv.Agents[self.Network][self.Node] = self
	if self.Network == deploy.HostNetwork {
		node(a.cfg.Node).InternalIPs = a.cfg.IPs
	}
	var skipped []api.SkippedPeer
	for _, p := range peers {
		if p.Node == a.cfg.Node {
			continue
		}
		n := node(p.Node)
		ag := &inventory.Agent{Node: p.Node, Network: p.Network.Deploy(), Pod: p.Pod, Port: p.Port, Ready: p.Skip == "", Problem: p.Skip}
		for _, ip := range p.IPs {
			if probe.FamilyOf(ip) == "" {
				skipped = append(skipped, api.SkippedPeer{Name: p.Name, Reason: fmt.Sprintf("address %q is not an IP", ip)})
				continue
			}
			ag.IPs = append(ag.IPs, ip)
		}
		if len(ag.IPs) == 0 && ag.Ready {
			ag.Ready, ag.Problem = false, "no IP"
		}
		if ag.Network == deploy.HostNetwork {
			n.InternalIPs = ag.IPs
		}
		inv.Agents[ag.Network][p.Node] = ag
	}
	for _, n := range nodes {
		inv.Nodes = append(inv.Nodes, *n)
	}
	sort.Slice(inv.Nodes, func(i, j int) bool { return inv.Nodes[i].Name < inv.Nodes[j].Name })
	return inv, skipped
}

// FetchPeers GETs the peer list; on failure it returns the previous list.
func (a *Agent) FetchPeers(ctx context.Context) ([]api.Peer, error) {
	var pl api.PeerList
	err := a.do(ctx, http.MethodGet, api.PathPeers, nil, &pl)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		return a.lastPeers, err
	}
	a.lastPeers = pl.Peers
	return pl.Peers, nil
}

// FetchReachTargets GETs the loadbalancer, ingress and gateway addresses
// of the reach rounds.
func (a *Agent) FetchReachTargets(ctx context.Context) (api.ReachTargets, error) {
	var t api.ReachTargets
	err := a.do(ctx, http.MethodGet, api.PathReachTargets, nil, &t)
	return t, err
}

// maxBody bounds what the agent reads of a server answer it discards.
const maxBody = 1 << 20

// Send POSTs a report to the server.
func (a *Agent) Send(ctx context.Context, rep api.Report) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	return a.do(ctx, http.MethodPost, api.PathAgents+a.name, body, nil)
}

// SendReach POSTs a reach round's report to the server.
func (a *Agent) SendReach(ctx context.Context, rep api.ReachReport) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encoding reach report: %w", err)
	}
	return a.do(ctx, http.MethodPost, api.PathReach+a.name, body, nil)
}

func (a *Agent) do(ctx context.Context, method, path string, body []byte, out any) error {
	url := strings.TrimSuffix(a.cfg.ServerURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	req.Header.Set(api.TokenHeader, a.cfg.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	// Read the body to the end before closing it: only then does the
	// transport keep the connection for the next request. Reports then go
	// over one long-lived connection instead of a new one (with a cluster
	// DNS lookup) per request, which an unreachable DNS replica would stall.
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: decoding answer: %w", method, url, err)
		}
	}
	return nil
}
