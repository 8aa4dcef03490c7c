package load

import (
	"context"
	"net"
	"testing"
	"time"
)

// BenchmarkSend is one request of a run, client side: its allocations are
// the garbage that sizes the agent's heap under load (docs/PERFORMANCE.md,
// load engine). The echo server runs in the same process, so read the
// client's share with -memprofile and pprof -focus=load.
func BenchmarkSend(b *testing.B) {
	for _, keepAlive := range []bool{false, true} {
		name := "new-connection"
		if keepAlive {
			name = "keep-alive"
		}
		b.Run(name, func(b *testing.B) {
			e := newEchoServer(b, "b", 0)
			r := Request{QPS: 1, Duration: time.Second, PerRequestTimeout: 2 * time.Second, KeepAlive: keepAlive,
				Targets: []Target{{ID: "e", URL: e.URL + "/echo"}}}
			ru := &run{ctx: context.Background(), keepAlive: keepAlive, timeout: r.PerRequestTimeout, dialer: &net.Dialer{KeepAlive: -1}, start: time.Now()}
			if keepAlive {
				ru.client = newClient(r, 1)
			}
			tg := newTarget(r.Targets[0], 1)
			b.ReportAllocs()
			for b.Loop() {
				tg.send(ru, time.Now())
			}
			if tg.res.Succeeded != tg.res.Requests {
				b.Fatalf("%d of %d requests failed: %v", tg.res.Requests-tg.res.Succeeded, tg.res.Requests, tg.res.ErrorSamples)
			}
		})
	}
}
