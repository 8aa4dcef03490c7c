package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// udpSendWait is how long udp-send waits for an answer or an ICMP
// port-unreachable before calling delivery unconfirmed. Both come back in
// one round trip, so this is short on purpose.
const udpSendWait = 500 * time.Millisecond

// connProber is a plain TCP connect to any ip:port: for customized targets
// that are not netctl agents, so there is no identity to check.
type connProber struct{}

func (connProber) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	target, bad := validHostPort(t)
	if bad != nil {
		return *bad
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return failed(ctx, err, start, "tcp connect to "+target)
	}
	conn.Close()
	total := time.Since(start)
	return Result{
		OK:      true,
		Reason:  fmt.Sprintf("connected to %s in %s", target, roundDuration(total)),
		Timings: Timings{Connect: total, Total: total},
	}
}

// udpSendProber sends one datagram to any ip:port. UDP has no handshake, so
// the only "no" the network can give is an ICMP port or host unreachable,
// which Linux reports on the connected socket's next read, and the only
// "yes" is an answer. Silence proves neither: it is ClassUnconfirmed.
type udpSendProber struct{}

func (udpSendProber) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	conn, target, bad := dialUDP(ctx, t, start)
	if bad != nil {
		return *bad
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("netdoctor udp-send\n")); err != nil && !errors.Is(err, syscall.ENOBUFS) {
		return failed(ctx, err, start, "udp send to "+target)
	}
	conn.SetReadDeadline(soonest(ctx, time.Now().Add(udpSendWait)))
	buf := make([]byte, 1500)
	_, err := conn.Read(buf)
	total := time.Since(start)
	switch {
	case err == nil:
		return Result{OK: true, Reason: fmt.Sprintf("sent to %s, and it answered", target), Timings: Timings{Total: total}}
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return failed(ctx, err, start, "udp to "+target)
	case ctx.Err() == context.Canceled:
		return failed(ctx, ctx.Err(), start, "udp to "+target)
	}
	// Silence is what a working path to a non-answering service looks like,
	// and also what a black hole looks like: no evidence either way.
	return Result{Class: ClassUnconfirmed, Timings: Timings{Total: total},
		Reason: fmt.Sprintf("sent to %s, no reply within %s and no ICMP error: delivery unconfirmed (UDP has no handshake; a service that answers the datagram confirms it)", target, roundDuration(total))}
}
