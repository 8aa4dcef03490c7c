// Package load puts HTTP targets (and DNS servers, Target.DNS) under a
// steady request rate and measures what happens: the engine behind `netctl
// reach`, run inside the agent on POST /v1/load.
//
// Pacing is open loop: request k of the run is due at start + k/QPS,
// whatever happened to the requests before it, and its latency counts from
// that intended time, so a stalled path shows up as latency instead of as
// fewer requests (no coordinated omission). QPS is the total for the run,
// split evenly across the targets in turn. At most MaxInFlight requests are
// outstanding, split evenly across the targets (at least one each) so that a
// target that stops answering cannot hold the others' slots; a request that
// cannot get one of its target's slots before its own timeout (counted from
// its intended time) is not sent and counts under the error class
// "not-sent". Every request opens a new connection unless KeepAlive
// is set, because kube-proxy balances per connection: only new connections
// show every backend of a Service.
package load

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Limits of one Request (documented in docs/reach.md).
const (
	// MaxQPS is the largest total rate one agent is asked for.
	MaxQPS = 20000
	// MaxDuration bounds a run; the answer comes when the run ends.
	MaxDuration = 10 * time.Minute
	// MaxPerRequestTimeout bounds one request.
	MaxPerRequestTimeout = 60 * time.Second
	// DefaultMaxInFlight is the bound on outstanding requests when the
	// request leaves MaxInFlight at 0; MaxMaxInFlight is the largest allowed.
	// 256 carry 1,000 QPS at 250 ms per request before requests queue, and
	// bound what an agent short of CPU (its answers wait to be read) holds
	// in memory: kdoctor's agents were OOM-killed for want of such a bound.
	DefaultMaxInFlight = 256
	MaxMaxInFlight     = 10000
	// MaxTargets bounds the targets of one request.
	MaxTargets = 2000
	// MaxBackends bounds the distinct backends kept per target; more are
	// counted in TargetResult.BackendsDropped.
	MaxBackends = 512
	// maxErrorSamples is how many distinct error messages a target keeps.
	maxErrorSamples = 5
)

// Error classes of TargetResult.Errors.
const (
	ErrTimeout = "timeout"  // no answer within the per-request timeout
	ErrRefused = "refused"  // connection refused (RST to the SYN)
	ErrReset   = "reset"    // connection reset or closed before a full answer
	ErrNoRoute = "no-route" // host or network unreachable
	ErrDNS     = "dns"      // the URL's host name did not resolve
	ErrStatus  = "status"   // an HTTP status that is not expected
	ErrNotSent = "not-sent" // the target's in-flight slots stayed taken until the request's timeout
	ErrOther   = "other"
)

// Target is one URL (or, with DNS set, one DNS server) under load.
type Target struct {
	ID           string `json:"id"`                     // opaque, chosen by the caller
	URL          string `json:"url,omitempty"`          // http://IP:PORT/echo or http://[IPv6]:PORT/path
	Host         string `json:"host,omitempty"`         // Host header (ingress, gateway)
	ExpectStatus []int  `json:"expectStatus,omitempty"` // HTTP only
	DNS          *DNS   `json:"dns,omitempty"`          // instead of URL: a DNS server
}

// DNS makes a target a DNS server: each request is one query for Name, sent
// and classified by the dns prober of package probe (over UDP, TCP when the
// answer is truncated; A first for IPv4, AAAA first for IPv6, the other
// type when the name has none of the first). Its failures count under the
// probe's classes (timeout, refused, unreachable, dns-nxdomain,
// dns-servfail, dns-refused, dns-no-answer, ...); it reaches no backends
// and has no connect or first-byte phases.
type DNS struct {
	Server string `json:"server"` // IP, or IP:port (port 53 when absent)
	Name   string `json:"name"`   // asked as given (fully qualified), no search paths
	Family string `json:"family,omitempty"`
}

// Request is one load run of one agent.
type Request struct {
	// QPS is the TOTAL rate of this run, split across the targets.
	QPS               int           `json:"qps"`
	Duration          time.Duration `json:"duration"`
	PerRequestTimeout time.Duration `json:"perRequestTimeout"`
	MaxInFlight       int           `json:"maxInFlight"` // 0: DefaultMaxInFlight; split across the targets
	KeepAlive         bool          `json:"keepAlive"`   // false: a new connection per request
	Targets           []Target      `json:"targets"`
}

// Backend is one answerer seen through a target, from its echo reply.
type Backend struct {
	Node  string `json:"node"`
	Pod   string `json:"pod"`
	PodIP string `json:"podIP"`
	// ClientAddr is the source IP the backend saw (without the port, which
	// changes with every connection): the agent's own IP when the client IP
	// is preserved (externalTrafficPolicy: Local), a node's IP after SNAT.
	ClientAddr string `json:"clientAddr"`
	Count      int64  `json:"count"`
}

// TargetResult is what one target's share of the run measured.
type TargetResult struct {
	ID string `json:"id"`
	// Requests counts every request due in the run, sent or not.
	Requests  int64 `json:"requests"`
	Succeeded int64 `json:"succeeded"`
	// Queued counts requests sent late because all of the target's
	// in-flight slots were taken when they were due (their latency includes
	// the wait); not-sent errors count those that waited their whole timeout.
	Queued      int64            `json:"queued,omitempty"`
	StatusCodes map[int]int64    `json:"statusCodes,omitempty"`
	Errors      map[string]int64 `json:"errors,omitempty"` // error class -> count
	// ErrorSamples holds up to 5 distinct error messages.
	ErrorSamples []string `json:"errorSamples,omitempty"`
	// Latency of the succeeded requests in microseconds, from the intended
	// send time to the end of the answer's body.
	Latency *Histogram `json:"latency"`
	// Connect is TCP connect time (new connections only), FirstByte the
	// time from sending to the answer's first byte; both microseconds.
	Connect   *Histogram `json:"connect,omitempty"`
	FirstByte *Histogram `json:"firstByte,omitempty"`
	Backends  []Backend  `json:"backends,omitempty"`
	// BackendsDropped counts answers from backends beyond MaxBackends.
	BackendsDropped int64 `json:"backendsDropped,omitempty"`
}

// Response is the agent's answer to POST /v1/load.
type Response struct {
	Results []TargetResult `json:"results"`
}

// EchoReply is what the agent's GET /echo answers: who answered and what it
// saw of the request.
type EchoReply struct {
	Node       string `json:"node"`
	Pod        string `json:"pod"`
	PodIP      string `json:"podIP"`      // the local address the connection arrived at
	ClientAddr string `json:"clientAddr"` // IP:port the connection came from
	Host       string `json:"host"`       // Host header
	Path       string `json:"path"`
}

// Validate reports every problem at once, each naming its field.
func (r Request) Validate() error {
	var errs []error
	if r.QPS < 1 || r.QPS > MaxQPS {
		errs = append(errs, fmt.Errorf("qps must be between 1 and %d (the total for one agent, split across its targets), got %d", MaxQPS, r.QPS))
	}
	if r.Duration <= 0 || r.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration must be greater than 0 and at most %s, got %s", MaxDuration, r.Duration))
	}
	if r.PerRequestTimeout <= 0 || r.PerRequestTimeout > MaxPerRequestTimeout {
		errs = append(errs, fmt.Errorf("perRequestTimeout must be greater than 0 and at most %s, got %s", MaxPerRequestTimeout, r.PerRequestTimeout))
	}
	if r.MaxInFlight < 0 || r.MaxInFlight > MaxMaxInFlight {
		errs = append(errs, fmt.Errorf("maxInFlight must be between 0 (default %d) and %d, got %d", DefaultMaxInFlight, MaxMaxInFlight, r.MaxInFlight))
	}
	switch {
	case len(r.Targets) == 0:
		errs = append(errs, errors.New("targets: at least one target is needed"))
	case len(r.Targets) > MaxTargets:
		errs = append(errs, fmt.Errorf("targets: %d targets in one request, the limit is %d: split them across runs", len(r.Targets), MaxTargets))
	}
	for i, t := range r.Targets {
		if t.DNS != nil {
			if err := t.DNS.validate(); err != nil || t.URL != "" {
				if err == nil {
					err = errors.New("has both url and dns: one target is either")
				}
				errs = append(errs, fmt.Errorf("targets[%d] (id %q): dns: %w", i, t.ID, err))
			}
			continue
		}
		u, err := url.Parse(t.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("targets[%d] (id %q): url: %w", i, t.ID, err))
		case u.Scheme != "http" || u.Host == "":
			errs = append(errs, fmt.Errorf("targets[%d] (id %q): url %q must be http://HOST:PORT/path", i, t.ID, t.URL))
		}
		for _, s := range t.ExpectStatus {
			if s < 100 || s > 599 {
				errs = append(errs, fmt.Errorf("targets[%d] (id %q): expectStatus %d is not an HTTP status (100-599)", i, t.ID, s))
			}
		}
	}
	return errors.Join(errs...)
}

func (d *DNS) validate() error {
	if _, err := d.probeTarget(); err != nil {
		return err
	}
	if d.Name == "" {
		return errors.New("name: the name to look up is empty")
	}
	switch d.Family {
	case "", "IPv4", "IPv6":
	default:
		return fmt.Errorf("family %q: must be IPv4, IPv6 or empty", d.Family)
	}
	return nil
}

// probeTarget is the dns probe of the target.
func (d *DNS) probeTarget() (probe.Target, error) {
	t := probe.Target{Kind: probe.KindDNS, Address: d.Server, Name: d.Name, Family: probe.Family(d.Family)}
	if ap, err := netip.ParseAddrPort(d.Server); err == nil {
		t.Address, t.Port = ap.Addr().String(), int(ap.Port())
	} else if _, err := netip.ParseAddr(d.Server); err != nil {
		return t, fmt.Errorf("server %q: must be IP or IP:port", d.Server)
	}
	return t, nil
}
