// Package reach is `netctl reach`: it puts every service path of a cluster
// (pod IPs, ClusterIP, NodePort, LoadBalancer, Ingress, Gateway, Multus,
// hairpin, cluster DNS) under HTTP load from every node's agent, in rounds,
// and judges each (source, path, family, address) against expectations:
// success rate, latency, status codes and which backends answered.
//
// The load itself runs in the agents (package load, POST /v1/load); this
// package plans the targets, creates the Services it needs, reads who
// should answer (EndpointSlices), and turns the agents' results into
// verdicts, findings and output.
package reach

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/load"
)

// PathKind names one kind of service path.
type PathKind string

const (
	PathPod          PathKind = "pod"            // every agent pod IP (kdoctor: endpoint)
	PathClusterIP    PathKind = "clusterip"      // the Service's ClusterIPs
	PathNodePort     PathKind = "nodeport"       // every node's every InternalIP at the NodePort
	PathLocal        PathKind = "nodeport-local" // externalTrafficPolicy: Local, from outside the pod network
	PathAffinity     PathKind = "affinity"       // sessionAffinity: ClientIP: one backend per client
	PathHairpin      PathKind = "hairpin"        // a pod through its own single-backend Service
	PathLoadBalancer PathKind = "loadbalancer"   // every LB address
	PathIngress      PathKind = "ingress"        // every Ingress address, Host header routed
	PathGateway      PathKind = "gateway"        // every Gateway address, HTTPRoute routed
	PathMultus       PathKind = "multus"         // secondary interfaces' IPs (network-status)
	PathDNS          PathKind = "dns"            // cluster DNS: the Service and each CoreDNS endpoint
)

// AllPaths lists every path kind in output order.
var AllPaths = []PathKind{PathPod, PathClusterIP, PathNodePort, PathLocal, PathAffinity, PathHairpin,
	PathLoadBalancer, PathIngress, PathGateway, PathMultus, PathDNS}

// IsVIP says whether the path reaches a set of backends through a virtual
// address (the backends reached must then equal the ready endpoints).
func (k PathKind) IsVIP() bool {
	switch k {
	case PathClusterIP, PathNodePort, PathLoadBalancer, PathIngress, PathGateway:
		return true
	}
	return false
}

// IsService says whether the path goes through kube-proxy's Service rules
// on the source node (what a broken kube-proxy there breaks).
func (k PathKind) IsService() bool {
	switch k {
	case PathClusterIP, PathAffinity, PathHairpin:
		return true
	}
	return false
}

// Limits of the request block (also what validation reports).
const (
	// MaxQPS is the most requests per second one agent may be asked for
	// (the total over all its targets): the load engine's limit.
	MaxQPS = load.MaxQPS
	// MaxDuration bounds one round's load on an agent.
	MaxDuration = load.MaxDuration
	// MaxTimeout bounds one request.
	MaxTimeout = load.MaxPerRequestTimeout
)

// Request is how much load each agent sends per round (kdoctor's names).
type Request struct {
	// QPS is the total requests per second of one agent, split over its
	// targets (never QPS x targets).
	QPS                   int `json:"qps" yaml:"qps"`
	DurationInSecond      int `json:"durationInSecond" yaml:"durationInSecond"`
	PerRequestTimeoutInMS int `json:"perRequestTimeoutInMS" yaml:"perRequestTimeoutInMS"`
}

// Expect is what counts as success for one row (kdoctor's names, plus
// p99AccessDelayInMs and allBackends).
type Expect struct {
	// SuccessRate is the least share of requests that must succeed (0-1).
	SuccessRate float64 `json:"successRate" yaml:"successRate"`
	// MeanAccessDelayInMs is the highest mean latency allowed.
	MeanAccessDelayInMs float64 `json:"meanAccessDelayInMs" yaml:"meanAccessDelayInMs"`
	// P99AccessDelayInMs is the highest p99 latency allowed; 0 = not judged.
	P99AccessDelayInMs float64 `json:"p99AccessDelayInMs,omitempty" yaml:"p99AccessDelayInMs"`
	// AllBackends: on VIP paths every ready endpoint must have answered.
	AllBackends bool `json:"allBackends" yaml:"allBackends"`
}

// Spec is one reach run.
type Spec struct {
	// Paths are the path kinds to run; Asked names the field that asked
	// for a path explicitly ("--paths", "spec.target.loadBalancer"): such a
	// path the cluster cannot serve is bad input, while an optional path
	// not asked for is left out with a note.
	Paths []PathKind
	Asked map[PathKind]string
	// IPv4, IPv6: the families to test (each only where the cluster has it).
	IPv4, IPv6 bool
	Request    Request
	Expect     Expect
	Rounds     int
	Interval   time.Duration
	// FromHere adds netctl itself as a client of the LoadBalancer (and
	// ETP=Local) paths: the outside vantage point.
	FromHere bool
	// MultusNetworks is the k8s.v1.cni.cncf.io/networks annotation the
	// pod-network agents get (their secondary interfaces for the multus
	// path); "" leaves the agents as they are.
	MultusNetworks string
	// Notes are said once before the run (NetReach fields not used, ...).
	Notes []string
}

// DefaultSpec is `netctl reach` without flags: every path the cluster can
// serve, both families, kdoctor's expectations, enough load that every
// backend of a 4-node VIP is met many times.
func DefaultSpec() Spec {
	return Spec{
		Paths: slices.Clone(AllPaths), Asked: map[PathKind]string{},
		IPv4: true, IPv6: true,
		Request: Request{QPS: 150, DurationInSecond: 10, PerRequestTimeoutInMS: 1000},
		Expect:  Expect{SuccessRate: 1, MeanAccessDelayInMs: 5000, AllBackends: true},
		Rounds:  1,
	}
}

// FieldError is bad input in one named field (exit 2).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// ParsePaths reads a comma-separated list of path kinds.
func ParsePaths(field string, list []string) ([]PathKind, error) {
	var out []PathKind
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			if s == "" {
				continue
			}
			k := PathKind(s)
			if !slices.Contains(AllPaths, k) {
				return nil, fieldErr(field, "unknown path kind %q; known: %s", s, joinPaths(AllPaths))
			}
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

func joinPaths(ps []PathKind) string {
	var s []string
	for _, p := range ps {
		s = append(s, string(p))
	}
	return strings.Join(s, ", ")
}

// Validate reports every bad field at once, each naming the field
// (prefix is "spec." for a NetReach object, "" for flags).
func (s Spec) Validate(prefix string) error {
	var errs []error
	r := s.Request
	if r.QPS <= 0 || r.QPS > MaxQPS {
		errs = append(errs, fieldErr(prefix+"request.qps", "must be 1-%d requests per second per agent, got %d", MaxQPS, r.QPS))
	}
	if r.DurationInSecond <= 0 || time.Duration(r.DurationInSecond)*time.Second > MaxDuration {
		errs = append(errs, fieldErr(prefix+"request.durationInSecond", "must be 1-%d seconds, got %d", int(MaxDuration.Seconds()), r.DurationInSecond))
	}
	if r.PerRequestTimeoutInMS <= 0 || r.Timeout() > MaxTimeout {
		errs = append(errs, fieldErr(prefix+"request.perRequestTimeoutInMS", "must be 1-%d milliseconds, got %d", MaxTimeout.Milliseconds(), r.PerRequestTimeoutInMS))
	} else if r.DurationInSecond > 0 && r.PerRequestTimeoutInMS > r.DurationInSecond*1000 {
		errs = append(errs, fieldErr(prefix+"request.perRequestTimeoutInMS", "%d ms is longer than the round (durationInSecond %d)", r.PerRequestTimeoutInMS, r.DurationInSecond))
	}
	e := s.Expect
	if e.SuccessRate < 0 || e.SuccessRate > 1 {
		errs = append(errs, fieldErr(prefix+"expect.successRate", "must be between 0 and 1, got %g", e.SuccessRate))
	}
	if e.MeanAccessDelayInMs <= 0 {
		errs = append(errs, fieldErr(prefix+"expect.meanAccessDelayInMs", "must be a positive number of milliseconds, got %g", e.MeanAccessDelayInMs))
	}
	if e.P99AccessDelayInMs < 0 {
		errs = append(errs, fieldErr(prefix+"expect.p99AccessDelayInMs", "must be positive (0 = not judged), got %g", e.P99AccessDelayInMs))
	}
	if !s.IPv4 && !s.IPv6 {
		errs = append(errs, fieldErr(prefix+"target.ipv4/ipv6", "at least one family must be on"))
	}
	if len(s.Paths) == 0 {
		errs = append(errs, fieldErr(prefix+"target", "no path kind is on; turn on at least one (known: %s)", joinPaths(AllPaths)))
	}
	if s.Rounds < 1 {
		errs = append(errs, fieldErr("rounds", "must be at least 1 (one-shot runs; `netctl monitor` runs forever), got %d", s.Rounds))
	}
	if s.Interval < 0 {
		errs = append(errs, fieldErr("interval", "must not be negative, got %s", s.Interval))
	}
	return errors.Join(errs...)
}

// Timeout is the per-request timeout.
func (r Request) Timeout() time.Duration {
	return time.Duration(r.PerRequestTimeoutInMS) * time.Millisecond
}

// Duration is one round's load duration.
func (r Request) Duration() time.Duration { return time.Duration(r.DurationInSecond) * time.Second }
