package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// classify maps an error from a dial, read or write to a failure class and a
// short human phrase ("connection refused", "no answer within 2s"). The
// phrase never contains Go's layered "dial tcp ...: connect: ..." text, so
// callers can prefix it with what they were doing and keep one clean line.
// Only errors that mean "the network (or the target) said no" are network
// failures; anything else (EMFILE, ENOMEM, EAFNOSUPPORT, ...) happened in
// the agent and is an agent error, never a FAILED row.
func classify(ctx context.Context, err error, start time.Time) (FailureClass, string) {
	switch {
	case err == nil:
		return ClassNone, ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused, "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ClassReset, "connection reset"
	case errors.Is(err, syscall.ECONNABORTED):
		return ClassReset, "connection aborted"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return ClassUnreachable, "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ENETDOWN):
		return ClassUnreachable, "network unreachable"
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return ClassUnreachable, "not permitted (a firewall rule on the source rejected it)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return ClassUnreachable, "address not available on this host"
	case errors.Is(err, syscall.EMSGSIZE):
		return ClassMessageTooLong, "message too long for the path MTU"
	case isTimeout(ctx, err):
		return ClassTimeout, fmt.Sprintf("no answer within %s", roundDuration(time.Since(start)))
	case errors.Is(err, context.Canceled):
		return ClassAgentError, "probe cancelled"
	}
	return ClassAgentError, oneLine(innermost(err).Error()) + " (an error in the agent, not an answer from the network)"
}

// isTimeout reports whether err is the probe running out of time: the
// context deadline, or a socket deadline derived from it.
func isTimeout(ctx context.Context, err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return ctx.Err() == context.DeadlineExceeded
}

// innermost unwraps single-error chains to the root cause, which is the part
// of Go's layered network errors a human wants to read.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// oneLine collapses whitespace so a reason is always a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// roundDuration keeps reasons readable: 2s, 1.5s, 12ms, 150µs.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// failed builds a failure result whose reason is "<doing>: <phrase>".
func failed(ctx context.Context, err error, start time.Time, doing string) Result {
	class, phrase := classify(ctx, err, start)
	return Result{Class: class, Reason: doing + ": " + phrase, Timings: Timings{Total: time.Since(start)}}
}

// hostPort joins an address and port, bracketing IPv6 literals.
func hostPort(addr string, port int) string {
	return net.JoinHostPort(addr, fmt.Sprint(port))
}

// ipHeaderLen is the size of the IP header for the family of addr, used to
// turn a Target's IP packet size into a payload size.
func ipHeaderLen(addr string) int {
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		return 40
	}
	return 20
}

// payloadSize is the packet size a Target asks for, with the default applied.
func payloadSize(t Target) int {
	if t.PayloadSize > 0 {
		return t.PayloadSize
	}
	return DefaultPayloadSize
}

// packetSize is the IP packet size to probe t with: what t asks for (or
// the default), but never more than the MTU of the interface the route
// toward t leaves by, found now, so an overlay's 1450 or WireGuard's 1420
// is healthy. note says when the size was lowered (a setup note, not a
// failure). A path smaller than that interface claims is still a black hole
// the probe finds.
func packetSize(t Target) (size int, note string) {
	size = payloadSize(t)
	ip := net.ParseIP(t.Address)
	if ip == nil {
		return size, ""
	}
	if mtu, dev, err := routeMTU(ip); err == nil && mtu > 0 && mtu < size {
		return mtu, fmt.Sprintf("packetSize %d is larger than the MTU %d of %s (the route toward the target): probed with %d-byte packets", size, mtu, dev, mtu)
	}
	return size, ""
}

// checkIdentity compares the answering agent with what the Target expects.
// It returns "" when they match, or a description of the mismatch.
func checkIdentity(t Target, node, pod string) string {
	if (t.ExpectNode != "" && t.ExpectNode != node) || (t.ExpectPod != "" && t.ExpectPod != pod) {
		return fmt.Sprintf("got agent %s", responder(node, pod))
	}
	return ""
}

// expected names the agent a Target expects, for reasons.
func expected(t Target) string {
	switch {
	case t.ExpectNode != "" && t.ExpectPod != "":
		return "netctl agent " + t.ExpectNode + "/" + t.ExpectPod
	case t.ExpectNode != "":
		return "netctl agent on " + t.ExpectNode
	case t.ExpectPod != "":
		return "netctl agent " + t.ExpectPod
	}
	return "a netctl agent"
}

// responder formats an agent identity as node/pod.
func responder(node, pod string) string {
	if pod == "" {
		return node
	}
	return node + "/" + pod
}

// validAddress rejects targets that are not IP literals: probes never
// resolve names (that would contact a resolver the user did not choose).
func validAddress(t Target) (net.IP, *Result) {
	ip := net.ParseIP(t.Address)
	if ip == nil {
		return nil, &Result{Class: ClassAgentError, Reason: fmt.Sprintf("target address %q is not an IP address", t.Address)}
	}
	return ip, nil
}

// validPort rejects a missing or out-of-range port.
func validPort(t Target) *Result {
	if t.Port < 1 || t.Port > 65535 {
		return &Result{Class: ClassAgentError, Reason: fmt.Sprintf("target port %d is not in 1-65535", t.Port)}
	}
	return nil
}

// validHostPort checks a target that needs an address and a port and
// returns "host:port" to dial, or the agent-error result for a bad target.
func validHostPort(t Target) (string, *Result) {
	if _, bad := validAddress(t); bad != nil {
		return "", bad
	}
	if bad := validPort(t); bad != nil {
		return "", bad
	}
	return hostPort(t.Address, t.Port), nil
}

// soonest returns t or the context deadline, whichever comes first, so a
// socket deadline never outlives the probe.
func soonest(ctx context.Context, t time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok && d.Before(t) {
		return d
	}
	return t
}

// pastDeadline reports whether the context deadline has been reached, even
// if the context's own timer has not fired yet (a socket deadline set to the
// same instant can expire first).
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
