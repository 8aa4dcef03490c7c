package load

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

// exactQuantile is the ceil(q*n)-th smallest value of sorted.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// latencyLike draws microseconds from a long-tailed (log-normal) spread
// around 1 ms with a few very slow values, like network latencies.
func latencyLike(r *rand.Rand) int64 {
	v := math.Exp(r.NormFloat64()*1.2 + math.Log(1000))
	if r.IntN(1000) == 0 {
		v += 2e6 // a retransmission-like stall
	}
	return int64(v)
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	dists := map[string]func(*rand.Rand) int64{
		"latency-like":  latencyLike,
		"uniform 0-10s": func(r *rand.Rand) int64 { return r.Int64N(10_000_000) },
		"small values":  func(r *rand.Rand) int64 { return r.Int64N(400) },
	}
	for name, draw := range dists {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			h := NewHistogram()
			vals := make([]int64, 1_000_000)
			var sum int64
			for i := range vals {
				vals[i] = draw(r)
				h.Record(vals[i])
				sum += vals[i]
			}
			slices.Sort(vals)
			for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999} {
				got, want := h.Quantile(q), exactQuantile(vals, q)
				if diff := math.Abs(float64(got - want)); diff > 0.01*float64(want) && diff > 1 {
					t.Errorf("q%v: histogram %d, exact %d (%.2f%% off)", q, got, want, 100*diff/float64(want))
				}
			}
			if h.Count() != int64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Errorf("count/min/max %d/%d/%d, want %d/%d/%d", h.Count(), h.Min(), h.Max(), len(vals), vals[0], vals[len(vals)-1])
			}
			if want := float64(sum) / float64(len(vals)); h.Mean() != want {
				t.Errorf("mean %v, want %v", h.Mean(), want)
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	prev := -1
	for v := int64(0); v < 100_000; v++ { // every bucket index is taken in order
		i := bucketOf(v)
		if i != prev && i != prev+1 {
			t.Fatalf("bucketOf(%d) = %d after %d", v, i, prev)
		}
		prev = i
	}
	for range 100_000 {
		v := r.Int64N(MaxValue + 1)
		low, width := bucketRange(bucketOf(v))
		if v < low || v >= low+width {
			t.Fatalf("value %d outside its bucket [%d, %d)", v, low, low+width)
		}
		if width > 1 && float64(width)/float64(low) > 1.0/128 {
			t.Fatalf("bucket of %d is %d wide at %d: more than 1/128", v, width, low)
		}
	}
	if i := bucketOf(MaxValue); i != maxBucket || i/subBuckets >= maxBlocks {
		t.Fatalf("bucketOf(MaxValue) = %d, maxBucket %d, blocks %d", i, maxBucket, maxBlocks)
	}
	h := NewHistogram()
	h.Record(-5)
	h.Record(MaxValue + 10)
	if h.Min() != 0 || h.Max() != MaxValue {
		t.Errorf("clamping: min %d max %d", h.Min(), h.Max())
	}
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	all, a, b := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range 200_000 {
		v := latencyLike(r)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(b)
	a.Merge(nil)
	a.Merge(NewHistogram())
	if !reflect.DeepEqual(a, all) {
		t.Fatal("merged histogram differs from the one that recorded everything")
	}
	empty := NewHistogram()
	empty.Merge(all)
	if !reflect.DeepEqual(empty, all) {
		t.Fatal("merging into an empty histogram differs from the source")
	}
}

func TestHistogramJSON(t *testing.T) {
	h := NewHistogram()
	for _, v := range []int64{3, 3, 250, 1000, 1001, 5_000_000} {
		h.Record(v)
	}
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Count, Sum, Min, Max int64
		Buckets              [][2]int64
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		t.Fatal(err)
	}
	// 1000 and 1001 share a bucket (width 4 at 1000): 4 non-empty buckets.
	if wire.Count != 6 || wire.Min != 3 || wire.Max != 5_000_000 || len(wire.Buckets) != 4 ||
		wire.Buckets[0] != [2]int64{3, 2} || wire.Buckets[2] != [2]int64{1000, 2} {
		t.Fatalf("wire form %s", data)
	}
	var back Histogram
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, h) {
		t.Fatalf("round trip differs: %s", data)
	}
	if err := json.Unmarshal([]byte(`{"count":3,"buckets":[[10,1]]}`), &back); err == nil {
		t.Fatal("a count that does not match the buckets was accepted")
	}
	empty, _ := json.Marshal(NewHistogram())
	if string(empty) != `{"count":0,"sum":0,"min":0,"max":0,"buckets":[]}` {
		t.Fatalf("empty histogram: %s", empty)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	for i := range b.N {
		h.Record(int64(i % 100_000))
	}
}

// A run over many targets holds three histograms per target, each with a
// few dozen values: they must cost chunks near the values, not whole powers
// of two (8 KiB for these 30 values when blocks were allocated whole).
func TestHistogramOfFewValuesIsSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h := NewHistogram()
	for range 30 {
		h.Record(latencyLike(r))
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<10 {
		t.Errorf("30 values took %d bytes, want at most 4 KiB", n)
	}
	if h.Count() != 30 {
		t.Errorf("count %d", h.Count())
	}
}
