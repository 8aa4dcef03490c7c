package probe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"
)

// Wire format of the UDP echo between the udp probe and the agent:
//
//	request: "NDPING <nonce> <pad>"
//	answer:  "NDPONG <nonce> <node> <pod> <pad>"
//
// The agent pads its answer to the request's size, so a full-size datagram
// must cross the path in both directions. Empty node/pod travel as "-".
const (
	echoPing = "NDPING"
	echoPong = "NDPONG"
)

// udpHeaderLen is the UDP header between the IP header and the payload.
const udpHeaderLen = 8

// udpResendEvery re-sends the ping while waiting: one lost datagram is not
// a broken path, but a path that loses every try within the timeout is.
const udpResendEvery = time.Second

// EchoAnswer is the agent's side of the udp probe: given a received datagram
// it returns the answer to send back, or nil when the datagram is not a ping.
func EchoAnswer(req []byte, node, pod string) []byte {
	f := strings.Fields(string(req))
	if len(f) < 2 || f[0] != echoPing {
		return nil
	}
	ans := fmt.Sprintf("%s %s %s %s", echoPong, f[1], dashIfEmpty(node), dashIfEmpty(pod))
	if pad := len(req) - len(ans) - 1; pad > 0 {
		ans += " " + strings.Repeat("x", pad)
	}
	return []byte(ans)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func emptyIfDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// dialUDP validates t and returns a connected UDP socket with the options
// both UDP probes need (Don't Fragment, ICMP errors reported), the
// "host:port" it targets, or the result that ends the probe.
func dialUDP(ctx context.Context, t Target, start time.Time) (net.Conn, string, *Result) {
	target, bad := validHostPort(t)
	if bad != nil {
		return nil, "", bad
	}
	d := net.Dialer{Control: udpControl}
	conn, err := d.DialContext(ctx, "udp", target)
	if err != nil {
		r := failed(ctx, err, start, "udp to "+target)
		return nil, target, &r
	}
	return conn, target, nil
}

// udpProber sends a nonce to a netctl agent's UDP echo and waits for the
// agent to send it back with its identity.
//
// The earlier NetDoctor tool's "udp" protocol actually ran `ping -c 1`; here
// `udp` is a real UDP exchange, and `icmp` (config alias `ping`) selects the
// ICMP echo probe that matches the old behaviour.
type udpProber struct{}

func (udpProber) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	conn, target, bad := dialUDP(ctx, t, start)
	if bad != nil {
		return *bad
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	nonce := fmt.Sprintf("%016x", rand.Uint64())
	ping := fmt.Sprintf("%s %s ", echoPing, nonce)
	if pad := payloadSize(t) - ipHeaderLen(t.Address) - udpHeaderLen - len(ping); pad > 0 {
		ping += strings.Repeat("x", pad)
	}

	buf := make([]byte, 65536)
	for {
		if ctx.Err() != nil {
			return failed(ctx, ctx.Err(), start, "udp echo from "+target)
		}
		// ENOBUFS: a local device dropped it (RECVERR reports that); that is loss.
		if _, err := conn.Write([]byte(ping)); err != nil && !errors.Is(err, syscall.ENOBUFS) {
			return failed(ctx, err, start, fmt.Sprintf("udp echo of %d bytes to %s", len(ping), target))
		}
		conn.SetReadDeadline(soonest(ctx, time.Now().Add(udpResendEvery)))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil || !isTimeout(ctx, err) || pastDeadline(ctx) {
					return failed(ctx, err, start, "udp echo from "+target)
				}
				break // read window over: send again
			}
			f := strings.Fields(string(buf[:n]))
			if len(f) >= 4 && f[0] == echoPong {
				if f[1] != nonce {
					continue // a late answer to an earlier probe
				}
				node, pod := emptyIfDash(f[2]), emptyIfDash(f[3])
				tm := Timings{Total: time.Since(start)}
				if mismatch := checkIdentity(t, node, pod); mismatch != "" {
					return Result{
						Class:     ClassWrongResponder,
						Reason:    fmt.Sprintf("port %d on %s answered, but not as %s: %s", t.Port, t.Address, expected(t), mismatch),
						Timings:   tm,
						Responder: responder(node, pod),
					}
				}
				return Result{
					OK:        true,
					Reason:    fmt.Sprintf("agent %s echoed %d bytes in %s", responder(node, pod), n, roundDuration(tm.Total)),
					Timings:   tm,
					Responder: responder(node, pod),
				}
			}
			return Result{
				Class:   ClassWrongResponder,
				Reason:  fmt.Sprintf("port %d on %s answered, but not as %s: got %d bytes %s", t.Port, t.Address, expected(t), n, quoteSnippet(buf[:n])),
				Timings: Timings{Total: time.Since(start)},
			}
		}
	}
}
