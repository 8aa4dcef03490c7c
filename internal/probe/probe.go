// Package probe runs single network probes (tcp, udp, icmp, dns) and returns
// a Result value. It knows nothing of Kubernetes, tables or Prometheus: the
// agent runs probes, callers turn results into rows or metrics.
package probe

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Kind names a probe kind. The values are the config's `protocol` values.
type Kind string

const (
	KindTCP     Kind = "tcp"      // HTTP GET to a netctl agent; the answer must carry the expected identity
	KindUDP     Kind = "udp"      // UDP echo of a random nonce to a netctl agent
	KindICMP    Kind = "icmp"     // ICMP echo request/reply ("ping" is accepted as an alias in config)
	KindDNS     Kind = "dns"      // DNS query for a name at a DNS server
	KindConn    Kind = "conn"     // plain TCP connect to any ip:port (customized targets)
	KindUDPSend Kind = "udp-send" // plain UDP datagram to any ip:port; passes only when something answers
)

// Family is the IP family of a target address.
type Family string

const (
	IPv4 Family = "IPv4"
	IPv6 Family = "IPv6"
)

// FamilyOf returns the family of an IP literal ("" when it does not parse;
// an IPv4-mapped IPv6 address is IPv4). Every package asks this one.
func FamilyOf(ip string) Family {
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil:
		return ""
	case a.Is4() || a.Is4In6():
		return IPv4
	}
	return IPv6
}

// ParseKind maps a config protocol to its probe kind: "ping" is the
// earlier tool's name for icmp. The one place that alias is read.
func ParseKind(protocol string) Kind {
	if protocol == "ping" {
		return KindICMP
	}
	return Kind(protocol)
}

// FailureClass says why a probe failed, as a stable machine-readable name.
// The empty class means success.
type FailureClass string

const (
	ClassNone           FailureClass = ""
	ClassTimeout        FailureClass = "timeout"
	ClassRefused        FailureClass = "refused"
	ClassUnreachable    FailureClass = "unreachable" // no route / host or net unreachable (ICMP or local)
	ClassReset          FailureClass = "reset"
	ClassWrongResponder FailureClass = "wrong-responder" // something answered, but not the expected agent
	ClassHTTPStatus     FailureClass = "http-status"
	ClassMessageTooLong FailureClass = "message-too-long" // packet larger than the path MTU (EMSGSIZE)
	ClassDNSNXDomain    FailureClass = "dns-nxdomain"
	ClassDNSServFail    FailureClass = "dns-servfail"
	ClassDNSRefused     FailureClass = "dns-refused"
	ClassDNSNoAnswer    FailureClass = "dns-no-answer" // NOERROR but no record of the asked type
	ClassSkipped        FailureClass = "skipped"       // the probe could not run here (e.g. no ICMP permission)
	ClassAgentError     FailureClass = "agent-error"   // the check machinery failed, not the network
	ClassUnconfirmed    FailureClass = "unconfirmed"   // sent, but nothing came back to prove it arrived (udp-send)
	ClassOther          FailureClass = "error"         // the target answered with an error (e.g. an unexpected DNS answer code)
)

// IsNetworkFailure reports whether the class means "the network answered no"
// (a FAILED row) as opposed to "the check could not run" (EXCEPTION / skipped).
func (c FailureClass) IsNetworkFailure() bool {
	switch c {
	case ClassNone, ClassSkipped, ClassAgentError, ClassUnconfirmed:
		return false
	}
	return true
}

// Target is one probe to run. It is a value: it travels from the CLI to the
// agent as JSON inside a batch.
type Target struct {
	// ID is chosen by the caller and echoed in the Result so results streamed
	// back in completion order can be matched to their pairs.
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Address is an IP literal (no brackets). For dns it is the DNS server.
	Address string `json:"address"`
	Port    int    `json:"port,omitempty"`
	// ExpectNode / ExpectPod: for tcp and udp, the identity the answering agent
	// must report; a different answer is ClassWrongResponder. Empty = any agent.
	ExpectNode string `json:"expectNode,omitempty"`
	ExpectPod  string `json:"expectPod,omitempty"`
	// Name is the host name to look up (dns only); Family picks A (IPv4) or AAAA (IPv6).
	Name   string `json:"name,omitempty"`
	Family Family `json:"family,omitempty"`
	// PayloadSize asks tcp, udp and icmp probes to carry a packet of about this
	// many bytes (IP packet size) so that an MTU black hole is found.
	// 0 means the probe's default (see DefaultPayloadSize).
	PayloadSize int `json:"payloadSize,omitempty"`
}

// DefaultPayloadSize is the IP packet size probes use by default: a full
// Ethernet-size packet, so that a link with a lowered MTU loses it.
const DefaultPayloadSize = 1500

// Timings are phase durations in the probe. Zero means "phase not reached or
// not applicable".
type Timings struct {
	Connect   time.Duration `json:"connect,omitempty"`
	FirstByte time.Duration `json:"firstByte,omitempty"`
	Total     time.Duration `json:"total"`
}

// Result is the outcome of one Target.
type Result struct {
	ID    string       `json:"id"`
	OK    bool         `json:"ok"`
	Class FailureClass `json:"class,omitempty"`
	// Reason is one human line, e.g. "connection refused by 10.0.1.5:8889".
	// Never raw tool output.
	Reason  string  `json:"reason,omitempty"`
	Timings Timings `json:"timings"`
	// Responder is what answered (node/pod of the agent), when known.
	Responder string `json:"responder,omitempty"`
	// Size is the IP packet size probed (tcp, udp, icmp): packetSize, or
	// the route's smaller MTU; Note says so when it was lowered.
	Size int    `json:"size,omitempty"`
	Note string `json:"note,omitempty"`
}

// Prober runs one kind of probe. ctx carries the per-probe deadline
// (cmdTimeout); a prober must return when it is done.
type Prober interface {
	Probe(ctx context.Context, t Target) Result
}

// registry maps a kind to its prober: adding a kind is its file plus its
// Kind and one line here.
var registry = map[Kind]Prober{
	KindTCP:     tcpProber{},
	KindUDP:     udpProber{},
	KindICMP:    icmpProber{},
	KindDNS:     dnsProber{},
	KindConn:    connProber{},
	KindUDPSend: udpSendProber{},
}

// Known reports whether k is a registered probe kind (for validating batches).
func Known(k Kind) bool {
	_, ok := registry[k]
	return ok
}

// Run runs t with the prober registered for t.Kind. ctx carries the per-probe
// deadline. An unknown kind is an agent-error result, not a panic.
func Run(ctx context.Context, t Target) Result {
	p, ok := registry[t.Kind]
	if !ok {
		return Result{ID: t.ID, Class: ClassAgentError, Reason: fmt.Sprintf("unknown probe kind %q", t.Kind)}
	}
	start := time.Now()
	size, note := 0, ""
	switch t.Kind {
	case KindTCP, KindUDP, KindICMP:
		size, note = packetSize(t)
		t.PayloadSize = size
	}
	r := p.Probe(ctx, t)
	r.ID, r.Size, r.Note = t.ID, size, note
	if r.Timings.Total == 0 {
		r.Timings.Total = time.Since(start)
	}
	return r
}
