package probe

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// defaultDNSPort is used when a dns Target has no port.
const defaultDNSPort = 53

// dnsProber asks Target.Address for Target.Name: A first for IPv4, AAAA
// first for IPv6, A then AAAA when the family is empty. The family says which
// record the check wants first; when the name has none of that type it asks
// the other, because a name with only an A record (kubernetes.default in a
// dual-stack cluster whose primary family is IPv4) answered over IPv6 is a
// working DNS path, not a failure. Only a name with neither is dns-no-answer. It queries
// over UDP and retries over TCP when the answer is truncated. The name is
// asked as given (fully qualified): no search paths, no system resolver.
type dnsProber struct{}

func (dnsProber) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	if _, bad := validAddress(t); bad != nil {
		return *bad
	}
	if t.Name == "" {
		return Result{Class: ClassAgentError, Reason: "dns target has no name to look up"}
	}
	port := t.Port
	if port == 0 {
		port = defaultDNSPort
	}
	server := hostPort(t.Address, port)
	var types []uint16
	switch t.Family {
	case IPv6:
		types = []uint16{dns.TypeAAAA, dns.TypeA}
	default:
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	}
	var first Result
	for i, qtype := range types {
		r := dnsQuery(ctx, server, t.Address, dns.Fqdn(t.Name), qtype, start)
		if r.OK {
			return r
		}
		if i == 0 {
			first = r
		}
		// Only "this type has no record" is worth asking the other type about.
		if r.Class != ClassDNSNoAnswer {
			return r
		}
	}
	return first
}

// dnsQuery runs one query and classifies the answer.
func dnsQuery(ctx context.Context, server, serverIP, name string, qtype uint16, start time.Time) Result {
	msg := new(dns.Msg)
	msg.SetQuestion(name, qtype)
	client := &dns.Client{Net: "udp", Timeout: timeLeft(ctx)}
	qname := fmt.Sprintf("%s %s", strings.TrimSuffix(name, "."), dns.TypeToString[qtype])
	doing := fmt.Sprintf("dns %s at %s", qname, server)

	resp, _, err := client.ExchangeContext(ctx, msg, server)
	if err == nil && resp.Truncated {
		client.Net = "tcp"
		resp, _, err = client.ExchangeContext(ctx, msg, server)
	}
	if err != nil {
		return failed(ctx, err, start, doing)
	}
	total := time.Since(start)
	tm := Timings{Total: total}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return Result{Class: ClassDNSNXDomain, Reason: fmt.Sprintf("%s: no such name (NXDOMAIN) from %s", qname, serverIP), Timings: tm}
	case dns.RcodeServerFailure:
		return Result{Class: ClassDNSServFail, Reason: fmt.Sprintf("%s: server failure (SERVFAIL) from %s", qname, serverIP), Timings: tm}
	case dns.RcodeRefused:
		return Result{Class: ClassDNSRefused, Reason: fmt.Sprintf("%s: query refused (REFUSED) by %s", qname, serverIP), Timings: tm}
	default:
		return Result{Class: ClassOther, Reason: fmt.Sprintf("%s: answer code %s from %s", qname, dns.RcodeToString[resp.Rcode], serverIP), Timings: tm}
	}
	var addrs []string
	for _, rr := range resp.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			if qtype == dns.TypeA {
				addrs = append(addrs, rr.A.String())
			}
		case *dns.AAAA:
			if qtype == dns.TypeAAAA {
				addrs = append(addrs, rr.AAAA.String())
			}
		}
	}
	if len(addrs) == 0 {
		return Result{Class: ClassDNSNoAnswer, Reason: fmt.Sprintf("%s: no record of that type (NOERROR, empty answer) from %s", qname, serverIP), Timings: tm}
	}
	shown := strings.Join(addrs, ",")
	if len(addrs) > 3 {
		shown = fmt.Sprintf("%s (+%d more)", strings.Join(addrs[:3], ","), len(addrs)-3)
	}
	return Result{
		OK:      true,
		Reason:  fmt.Sprintf("%s %s from %s in %s", qname, shown, serverIP, roundDuration(total)),
		Timings: tm,
	}
}

// timeLeft is the time until the context deadline; miekg/dns otherwise
// applies its own 2s default, which would cut a longer per-probe timeout.
func timeLeft(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); left > 0 {
			return left
		}
		return time.Nanosecond
	}
	return 10 * time.Second
}
