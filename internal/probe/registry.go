package probe

import (
	"context"
	"fmt"
	"time"
)

// registry maps a kind to its prober: one name -> prober table, so adding a
// kind is one file plus one line here.
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
