package probe

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// loopback is one address family's loopback address.
type loopback struct {
	name string
	addr string
}

// loopbacks lists 127.0.0.1 and ::1; each subtest calls need() which skips
// the IPv6 case (with the reason) when ::1 is not usable here.
var loopbacks = []loopback{{"IPv4", "127.0.0.1"}, {"IPv6", "::1"}}

func (l loopback) need(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(l.addr, "0"))
	if err != nil {
		t.Skipf("%s loopback %s not usable here: %v", l.name, l.addr, err)
	}
	ln.Close()
}

// runProbe runs a target through the registry with a per-probe timeout.
func runProbe(t *testing.T, tg Target, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r := Run(ctx, tg)
	t.Logf("%s %s:%d -> ok=%v class=%q reason=%q timings=%+v", tg.Kind, tg.Address, tg.Port, r.OK, r.Class, r.Reason, r.Timings)
	return r
}

// wantResult checks the outcome: ok, class, and that the reason holds each
// fragment and is one line.
func wantResult(t *testing.T, r Result, ok bool, class FailureClass, fragments ...string) {
	t.Helper()
	if r.OK != ok || r.Class != class {
		t.Fatalf("got ok=%v class=%q (%s), want ok=%v class=%q", r.OK, r.Class, r.Reason, ok, class)
	}
	if strings.Contains(r.Reason, "\n") {
		t.Errorf("reason is not one line: %q", r.Reason)
	}
	for _, f := range fragments {
		if !strings.Contains(r.Reason, f) {
			t.Errorf("reason %q does not contain %q", r.Reason, f)
		}
	}
	if r.Timings.Total <= 0 {
		t.Errorf("total time not measured: %+v", r.Timings)
	}
}

// freePort returns a port on addr that nothing listens on (for refused tests).
func freePort(t *testing.T, network, addr string) int {
	t.Helper()
	if strings.HasPrefix(network, "udp") {
		pc, err := net.ListenPacket(network, net.JoinHostPort(addr, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		return port
	}
	ln, err := net.Listen(network, net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestRunUnknownKind(t *testing.T) {
	r := Run(context.Background(), Target{ID: "x", Kind: "smoke-signal"})
	if r.OK || r.Class != ClassAgentError || r.ID != "x" || !strings.Contains(r.Reason, "smoke-signal") {
		t.Fatalf("unknown kind: got %+v", r)
	}
}

func TestBadTargetsAreAgentErrors(t *testing.T) {
	tests := map[string]Target{
		"name instead of IP": {Kind: KindTCP, Address: "example.invalid", Port: 80},
		"no port":            {Kind: KindConn, Address: "127.0.0.1"},
		"port out of range":  {Kind: KindUDP, Address: "127.0.0.1", Port: 70000},
		"dns without name":   {Kind: KindDNS, Address: "127.0.0.1"},
	}
	for name, tg := range tests {
		t.Run(name, func(t *testing.T) {
			r := runProbe(t, tg, time.Second)
			if r.OK || r.Class != ClassAgentError {
				t.Fatalf("got %+v, want agent-error", r)
			}
		})
	}
}
