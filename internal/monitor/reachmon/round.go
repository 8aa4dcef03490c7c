package reachmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/load"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// Path kinds a monitor reach round puts under load.
const (
	KindPod       = "pod"       // every pod-network agent's pod IPs
	KindClusterIP = "clusterip" // every ClusterIP of the reach Service
	KindNodePort  = "nodeport"  // the reach Service's NodePort on every node's every InternalIP
	// The loadbalancer, ingress and gateway addresses come from the
	// server (api.ReachTargets): only it may read the objects' status.
)

// Defaults of the agent's reach flags (kdoctor's request defaults: 10 s,
// 5 s per request; the QPS is the agent's total, split across its targets).
const (
	DefaultQPS      = 20
	DefaultDuration = 10 * time.Second
	DefaultTimeout  = 5 * time.Second
)

// Config configures an agent's reach rounds.
type Config struct {
	Schedule Schedule
	Node     string
	// Service is the reach Service's DNS name (its ClusterIPs are looked up
	// each round, A and AAAA); ServicePort its port.
	Service     string
	ServicePort int
	// NodePort is the reach Service's NodePort (0: no nodeport path).
	NodePort int
	QPS      int
	Duration time.Duration
	Timeout  time.Duration
	Logger   *slog.Logger
}

// Validate reports every problem at once, naming the flag.
func (c Config) Validate() error {
	var errs []error
	req := load.Request{QPS: c.QPS, Duration: c.Duration, PerRequestTimeout: c.Timeout,
		Targets: []load.Target{{URL: "http://127.0.0.1/"}}}
	if err := req.Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			field, rest, _ := strings.Cut(e, " ")
			errs = append(errs, fmt.Errorf("--reach-%s: %s", map[string]string{"qps": "qps", "duration": "duration", "perRequestTimeout": "timeout"}[field], rest))
		}
	}
	if c.Service == "" {
		errs = append(errs, errors.New("--reach-service: must be set (DNS name of the reach Service)"))
	}
	if c.ServicePort < 1 || c.ServicePort > 65535 {
		errs = append(errs, fmt.Errorf("--reach-service-port: must be within 1-65535, got %d", c.ServicePort))
	}
	if c.NodePort < 0 || c.NodePort > 65535 {
		errs = append(errs, fmt.Errorf("--reach-node-port: must be within 0-65535 (0 = no nodeport path), got %d", c.NodePort))
	}
	return errors.Join(errs...)
}

// Client is the agent's side of the server: the peer list, the addresses
// only the server can read, and the report.
type Client interface {
	FetchPeers(ctx context.Context) ([]api.Peer, error)
	FetchReachTargets(ctx context.Context) (api.ReachTargets, error)
	SendReach(ctx context.Context, rep api.ReachReport) error
}

// Run runs reach rounds on cfg.Schedule until ctx ends.
func Run(ctx context.Context, cfg Config, c Client) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var round int64
	Loop(ctx, cfg.Schedule, func(ctx context.Context) {
		round++
		rep := Round(ctx, cfg, c, net.DefaultResolver)
		rep.Round = round
		rep.Next = cfg.Schedule.following(rep.Started, time.Now())
		if err := c.SendReach(ctx, rep); err != nil {
			log.Warn("sending the reach report", "err", err)
			return
		}
		log.Debug("reach round sent", "round", round, "paths", len(rep.Paths), "errors", rep.Errors)
	})
}

// Resolver looks up the Service's ClusterIPs (net.Resolver).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Round runs one round: it plans the targets, puts them under load for
// cfg.Duration and sums the results per (path kind, family).
func Round(ctx context.Context, cfg Config, c Client, res Resolver) api.ReachReport {
	rep := api.ReachReport{NodeName: cfg.Node, Started: time.Now(), Paths: []api.ReachPath{}}
	// An agent's first round can start before the server answers: retry
	// a few times before running without the pod and nodeport paths.
	peers, err := c.FetchPeers(ctx)
	for try := 0; err != nil && try < 5 && ctx.Err() == nil; try++ {
		time.Sleep(2 * time.Second)
		peers, err = c.FetchPeers(ctx)
	}
	if err != nil {
		rep.Errors = append(rep.Errors, "getting the peer list: "+err.Error())
	}
	targets := Targets(cfg, peers)
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ips, err := res.LookupNetIP(lctx, "ip", cfg.Service)
	cancel()
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("looking up the reach Service %s (clusterip path skipped): %v", cfg.Service, err))
	}
	for _, ip := range ips {
		targets = append(targets, target(KindClusterIP, ip.Unmap().String(), cfg.ServicePort, "", ""))
	}
	if vips, err := c.FetchReachTargets(ctx); err != nil {
		rep.Errors = append(rep.Errors, "getting the loadbalancer, ingress and gateway addresses (those paths skipped): "+err.Error())
	} else {
		targets = append(targets, VIPTargets(vips)...)
	}
	if len(targets) == 0 {
		return rep
	}
	results := load.Run(ctx, load.Request{QPS: cfg.QPS, Duration: cfg.Duration, PerRequestTimeout: cfg.Timeout, Targets: targets})
	rep.Paths = Summarize(results)
	return rep
}

// Targets are the pod and nodeport targets from the server's peer list:
// every usable pod-network agent's IPs on its port, and the NodePort on
// every usable host-network agent's IPs (the node's InternalIPs).
func Targets(cfg Config, peers []api.Peer) []load.Target {
	var out []load.Target
	seen := map[string]bool{}
	for _, p := range peers {
		if p.Skip != "" {
			continue
		}
		for _, ip := range p.IPs {
			var t load.Target
			switch {
			case p.Network == api.NetworkPod:
				t = target(KindPod, ip, p.Port, p.Node, p.Pod)
			case p.Network == api.NetworkHost && cfg.NodePort != 0:
				t = target(KindNodePort, ip, cfg.NodePort, p.Node, "")
			default:
				continue
			}
			if probe.FamilyOf(ip) == "" || seen[t.ID] {
				continue
			}
			seen[t.ID] = true
			out = append(out, t)
		}
	}
	return out
}

// VIPTargets are the server's loadbalancer, ingress and gateway addresses
// as load targets (with the Host header the Ingress and HTTPRoute route).
func VIPTargets(vips api.ReachTargets) []load.Target {
	var out []load.Target
	for _, v := range vips.Targets {
		if probe.FamilyOf(v.IP) == "" {
			continue
		}
		t := target(v.Kind, v.IP, v.Port, "", "")
		t.Host = v.Host
		out = append(out, t)
	}
	return out
}

// target IDs are "kind|family|IP:port|node|pod", read back by Summarize
// (node and pod name the agent behind a pod address, the node of a
// NodePort address; empty for a ClusterIP).
func target(kind, ip string, port int, node, pod string) load.Target {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	return load.Target{
		ID:  strings.Join([]string{kind, string(probe.FamilyOf(ip)), addr, node, pod}, "|"),
		URL: "http://" + addr + agent.EchoPath,
	}
}

// Summarize sums the targets' results per (path kind, family), sorted,
// keeping each target's own figures and backends as a row.
func Summarize(results []load.TargetResult) []api.ReachPath {
	byKey := map[[2]string]*api.ReachPath{}
	for _, r := range results {
		id := append(strings.SplitN(r.ID, "|", 5), "", "", "", "")
		kind, fam := id[0], id[1]
		k := [2]string{kind, fam}
		p := byKey[k]
		if p == nil {
			p = &api.ReachPath{Kind: kind, Family: probe.Family(fam), Latency: load.NewHistogram()}
			byKey[k] = p
		}
		p.Targets++
		p.Requests += r.Requests
		p.Succeeded += r.Succeeded
		p.Latency.Merge(r.Latency)
		for class, n := range r.Errors {
			if p.Errors == nil {
				p.Errors = map[string]int64{}
			}
			p.Errors[class] += n
		}
		row := api.ReachTarget{Address: id[2], TargetNode: id[3], TargetPod: id[4], Requests: r.Requests,
			Succeeded: r.Succeeded, StatusCodes: r.StatusCodes, Errors: r.Errors}
		for _, b := range r.Backends {
			row.Backends = mergeBackend(row.Backends, api.ReachBackend{Node: b.Node, Pod: b.Pod, PodIP: b.PodIP, Count: b.Count})
		}
		p.Rows = append(p.Rows, row)
	}
	out := make([]api.ReachPath, 0, len(byKey))
	for _, p := range byKey {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Family < out[j].Family
	})
	for _, p := range out {
		sort.Slice(p.Rows, func(i, j int) bool { return p.Rows[i].Address < p.Rows[j].Address })
	}
	return out
}

// mergeBackend adds b to bs: the engine keeps one entry per (pod, client
// address seen), the report one per pod.
func mergeBackend(bs []api.ReachBackend, b api.ReachBackend) []api.ReachBackend {
	for i := range bs {
		if bs[i].Pod == b.Pod {
			bs[i].Count += b.Count
			return bs
		}
	}
	return append(bs, b)
}
