package reporter

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNextDelayWithinJitterBounds(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const iv = 15 * time.Second
	lo, hi := iv, iv
	for range 10000 {
		d := NextDelay(iv, 0.2, rnd)
		if d < 12*time.Second || d > 18*time.Second {
			t.Fatalf("delay %s outside [12s, 18s]", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	// The jitter must actually spread: agents must not stay in step.
	if lo > 12500*time.Millisecond || hi < 17500*time.Millisecond {
		t.Errorf("delays span only [%s, %s]", lo, hi)
	}
	if d := NextDelay(iv, 0, rnd); d != iv {
		t.Errorf("no jitter: %s", d)
	}
}

func TestLoopNeverOverlaps(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var running, maxRunning, rounds atomic.Int32
	var mu sync.Mutex
	var starts []time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Rounds take 30ms with a 10ms interval: a ticker would pile them up.
		Loop(ctx, 10*time.Millisecond, 0.2, rand.New(rand.NewPCG(3, 4)), func(rctx context.Context) {
			n := running.Add(1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			<-time.After(30 * time.Millisecond)
			if _, ok := rctx.Deadline(); !ok {
				t.Error("round context has no deadline")
			}
			running.Add(-1)
			rounds.Add(1)
		})
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	if maxRunning.Load() != 1 {
		t.Errorf("max concurrent rounds = %d, want 1", maxRunning.Load())
	}
	if r := rounds.Load(); r < 3 {
		t.Errorf("only %d rounds ran", r)
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 30*time.Millisecond {
			t.Errorf("round %d started %s after the previous one, which takes 30ms", i, gap)
		}
	}
}

func TestLoopFirstRoundWithinOneInterval(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	first := make(chan time.Duration, 1)
	go Loop(ctx, 100*time.Millisecond, 0.2, rand.New(rand.NewPCG(5, 6)), func(context.Context) {
		select {
		case first <- time.Since(start):
			cancel()
		default:
		}
	})
	select {
	case d := <-first:
		if d > 150*time.Millisecond {
			t.Errorf("first round after %s, want < interval (+scheduling slack)", d)
		}
	case <-ctx.Done():
		t.Fatal("no round ran")
	}
}
