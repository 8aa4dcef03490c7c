package reporter

import (
	"context"
	"math/rand/v2"
	"time"
)

// NextDelay is the pause between the starts of two rounds: the interval
// moved by a uniform random offset of up to ±jitter x interval, so that
// agents started together drift apart instead of probing in step
// (goldpinger's "calm the thundering herd").
func NextDelay(interval time.Duration, jitter float64, rnd *rand.Rand) time.Duration {
	if jitter <= 0 {
		return interval
	}
	span := float64(interval) * jitter
	return interval + time.Duration((rnd.Float64()*2-1)*span)
}

// Loop runs round until ctx ends. The first round starts after a random
// delay in [0, interval) (agents of a new DaemonSet start together); then
// one round per NextDelay, measured start to start. Rounds run one after
// the other in this goroutine, so a round never overlaps the previous one:
// a round that overruns delays the next, which starts as soon as it ends.
// Each round's context ends after one interval.
func Loop(ctx context.Context, interval time.Duration, jitter float64, rnd *rand.Rand, round func(ctx context.Context)) {
	timer := time.NewTimer(time.Duration(rnd.Int64N(int64(interval))))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, interval)
		round(rctx)
		cancel()
		wait := NextDelay(interval, jitter, rnd) - time.Since(start)
		if wait < 0 {
			wait = 0
		}
		timer.Reset(wait)
	}
}
