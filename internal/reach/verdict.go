package reach

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
)

// Vantage is where a row's client ran.
type Vantage string

const (
	VantagePod  Vantage = "pod"  // the pod-network agent on the node
	VantageHost Vantage = "host" // the host-network agent on the node (outside the pod network)
	VantageHere Vantage = "here" // netctl itself (--from-here)
)

// Source is the client of a row.
type Source struct {
	Node    string  `json:"node"`
	Vantage Vantage `json:"vantage"`
	Pod     string  `json:"pod,omitempty"`
}

// BackendRef is one backend: an agent pod.
type BackendRef struct {
	Node string `json:"node"`
	Pod  string `json:"pod"`
	IP   string `json:"ip,omitempty"`
}

// Planned is one row before it runs: a client, a path and one address.
type Planned struct {
	ID      string   `json:"id"`
	Source  Source   `json:"source"`
	Path    PathKind `json:"path"`
	Family  string   `json:"family"`
	Address string   `json:"address"` // IP:port (or the DNS server)
	URL     string   `json:"url,omitempty"`
	Host    string   `json:"host,omitempty"`
	// TargetNode is the node the address belongs to (pod, nodeport,
	// hairpin, multus rows) or the node of the DNS endpoint.
	TargetNode string `json:"targetNode,omitempty"`
	// Expected are the ready endpoints that should answer; Judged says
	// whether the set is compared (VIP paths, pod, multus, hairpin).
	Expected []BackendRef `json:"-"`
	Judged   bool         `json:"-"`
	// LocalNode (ETP=Local): only backends on this node may answer, and
	// ClientIP is the address they must see (the client's, unmasqueraded).
	LocalNode string `json:"-"`
	ClientIP  string `json:"-"`
	// Single (sessionAffinity: ClientIP): exactly one backend may answer.
	Single bool `json:"-"`
	// Skip is why the row cannot run (an EXCEPTION without load).
	Skip string `json:"-"`
}

// Reached is one backend that answered, as the echo replies named it.
type Reached struct {
	Node  string `json:"node"`
	Pod   string `json:"pod"`
	PodIP string `json:"podIP"`
	Count int64  `json:"count"`
	// ClientAddrs are the client IPs the backend saw (without port).
	ClientAddrs []string `json:"clientAddrs,omitempty"`
}

// Measured is what came back for one row, merged over rounds. Latencies
// are microseconds, measured from the intended send time.
type Measured struct {
	Requests  int64 `json:"requests"`
	Succeeded int64 `json:"succeeded"`
	// Queued requests were sent late for want of an in-flight slot (their
	// latency includes the wait): the target or the agent was too slow.
	Queued       int64            `json:"queued,omitempty"`
	StatusCodes  map[int]int64    `json:"statusCodes,omitempty"`
	Errors       map[string]int64 `json:"errors,omitempty"`
	ErrorSamples []string         `json:"errorSamples,omitempty"`
	MeanUs       float64          `json:"meanUs"`
	P50Us        int64            `json:"p50Us"`
	P90Us        int64            `json:"p90Us"`
	P95Us        int64            `json:"p95Us"`
	P99Us        int64            `json:"p99Us"`
	MaxUs        int64            `json:"maxUs"`
	Backends     []Reached        `json:"backends,omitempty"`
	// Failure is why no result came back (the agent's batch failed).
	Failure string `json:"failure,omitempty"`
}

// Result of a row.
type Result string

const (
	Succeeded Result = "SUCCEEDED"
	Failed    Result = "FAILED"
	Exception Result = "EXCEPTION"
)

// Row is one judged (source, path, family, address).
type Row struct {
	Planned
	Measured
	Result  Result   `json:"result"`
	Reasons []string `json:"reasons,omitempty"`
	// Missing are expected backends that never answered; Unexpected are
	// backends that answered but should not have.
	Missing    []BackendRef `json:"missing,omitempty"`
	Unexpected []BackendRef `json:"unexpected,omitempty"`
	// Inconclusive says why Missing is not judged: too few requests for
	// a balanced VIP to have shown every backend by chance.
	Inconclusive string `json:"inconclusive,omitempty"`
}

// missChance is the probability below which a backend never seen through
// a VIP counts as never reached rather than bad luck.
const missChance = 1e-3

// NeededRequests is how many answers a VIP balancing evenly over k
// backends needs so that the chance of some backend getting none is
// below missChance: k * (1-1/k)^n < missChance.
func NeededRequests(k int) int64 {
	if k <= 1 {
		return 1
	}
	n := math.Log(missChance/float64(k)) / math.Log(1-1/float64(k))
	return int64(math.Ceil(n))
}

// SuccessRate is Succeeded/Requests (0 without requests).
func (m Measured) SuccessRate() float64 {
	if m.Requests == 0 {
		return 0
	}
	return float64(m.Succeeded) / float64(m.Requests)
}

// Judge compares what was measured with what the row and the
// expectations ask. FAILED: the network said no (or answered wrongly);
// EXCEPTION: the row could not be measured.
func Judge(p Planned, m Measured, e Expect) Row {
	r := Row{Planned: p, Measured: m, Result: Succeeded}
	switch {
	case p.Skip != "":
		r.Result, r.Reasons = Exception, []string{p.Skip}
		return r
	case m.Failure != "":
		r.Result, r.Reasons = Exception, []string{m.Failure}
		return r
	case m.Requests == 0:
		r.Result, r.Reasons = Exception, []string{"no request was sent to this target (raise qps or durationInSecond: the agent's budget is split over its targets)"}
		return r
	}
	fail := func(format string, a ...any) {
		r.Result = Failed
		r.Reasons = append(r.Reasons, fmt.Sprintf(format, a...))
	}
	if rate := m.SuccessRate(); rate < e.SuccessRate {
		fail("success rate %.4f < %.4g (%d of %d)%s", rate, e.SuccessRate, m.Succeeded, m.Requests, errorSummary(m))
	}
	if m.Succeeded > 0 {
		if mean := m.MeanUs / 1000; mean > e.MeanAccessDelayInMs {
			fail("mean latency %.2fms > %gms", mean, e.MeanAccessDelayInMs)
		}
		if p99 := float64(m.P99Us) / 1000; e.P99AccessDelayInMs > 0 && p99 > e.P99AccessDelayInMs {
			fail("p99 latency %.2fms > %gms", p99, e.P99AccessDelayInMs)
		}
	}
	if !p.Judged || m.Succeeded == 0 {
		return r
	}
	reached := map[string]bool{}
	for _, b := range m.Backends {
		reached[b.Pod] = true
	}
	expected := map[string]bool{}
	for _, b := range p.Expected {
		expected[b.Pod] = true
		if !reached[b.Pod] {
			r.Missing = append(r.Missing, b)
		}
	}
	for _, b := range m.Backends {
		if !expected[b.Pod] {
			r.Unexpected = append(r.Unexpected, BackendRef{Node: b.Node, Pod: b.Pod, IP: b.PodIP})
		}
	}
	switch {
	case p.Single:
		if len(m.Backends) != 1 {
			fail("sessionAffinity ClientIP: %d backends answered one client, want 1 (%s)", len(m.Backends), reachedNames(m.Backends))
		}
	case p.LocalNode != "":
		var remote []string
		for _, b := range m.Backends {
			if b.Node != p.LocalNode {
				remote = append(remote, b.Pod+" on "+b.Node)
			}
		}
		if len(remote) > 0 {
			fail("externalTrafficPolicy Local: backends on other nodes than %s answered: %s", p.LocalNode, strings.Join(remote, ", "))
		}
	}
	if p.ClientIP != "" {
		for _, b := range m.Backends {
			for _, c := range b.ClientAddrs {
				if !sameIP(c, p.ClientIP) {
					fail("client IP not preserved: backend %s saw %s, the client is %s", b.Pod, c, p.ClientIP)
				}
			}
		}
	}
	if len(r.Unexpected) > 0 && !p.Single && p.LocalNode == "" {
		fail("unexpected backends answered: %s", refNames(r.Unexpected))
	}
	// allBackends compares sets on VIP paths; on the others (pod,
	// hairpin, multus, ETP=Local) the one expected backend must answer
	// in any case: anyone else answering an address is wrong.
	if len(r.Missing) > 0 && (!p.Path.IsVIP() || e.AllBackends) && !p.Single {
		if need := NeededRequests(len(p.Expected)); p.Path.IsVIP() && m.Succeeded < need {
			r.Inconclusive = fmt.Sprintf("%d answers are too few to expect all %d backends (%d needed); raise qps or durationInSecond", m.Succeeded, len(p.Expected), need)
		} else {
			fail("backends %d/%d: never reached %s", len(p.Expected)-len(r.Missing), len(p.Expected), refNames(r.Missing))
		}
	}
	return r
}

// BackendsCell is REACHED/EXPECTED ("-" when not judged).
func (r Row) BackendsCell() string {
	if !r.Judged || r.Result == Exception {
		return "-"
	}
	cell := fmt.Sprintf("%d/%d", len(r.Backends)-len(r.Unexpected), len(r.Expected))
	if r.Inconclusive != "" {
		cell += "?"
	}
	return cell
}

func errorSummary(m Measured) string {
	var parts []string
	for _, k := range sortedKeys(m.Errors) {
		parts = append(parts, fmt.Sprintf("%s x%d", k, m.Errors[k]))
	}
	var codes []int
	for c := range m.StatusCodes {
		if c < 200 || c > 299 {
			codes = append(codes, c)
		}
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("HTTP %d x%d", c, m.StatusCodes[c]))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func reachedNames(bs []Reached) string {
	var s []string
	for _, b := range bs {
		s = append(s, fmt.Sprintf("%s x%d", b.Pod, b.Count))
	}
	return strings.Join(s, ", ")
}

func refNames(bs []BackendRef) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.Pod+" on "+b.Node)
	}
	return strings.Join(s, ", ")
}

// sameIP compares an address ("IP", "IP:port" or "[IPv6]:port") with an IP.
func sameIP(addr, ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap() == a.Unmap()
	}
	if b, err := netip.ParseAddr(addr); err == nil {
		return b.Unmap() == a.Unmap()
	}
	return false
}
