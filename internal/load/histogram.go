package load

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
)

// Histogram counts values (microseconds) in log-linear buckets, the layout
// of HdrHistogram: values below 256 each have their own bucket; above, every
// power of two is split into 128 equal buckets, so a bucket is at most 1/128
// of its values wide and the bucket's midpoint is within 0.4% of any value
// in it (between 2 and 3 significant digits). Count, sum, min and max are
// exact. The size is bounded and only the buckets near recorded values are
// allocated, in chunks of 16 (128 B): a run's histograms are most of an
// agent's live heap (three per target, up to MaxTargets), and a target's
// latencies, a few hundred to a few thousand per run, fill a fraction of
// each power of two's buckets (tails: one or two chunks of it), so a
// target costs a few KiB, not the whole range.
// Two histograms merge by adding counts: merging equals recording
// everything into one.
//
// Not safe for concurrent use.
//
// JSON (sparse): {"count":N,"sum":S,"min":A,"max":B,"buckets":[[low,n],...]}
// where low is the lowest value of a non-empty bucket, in increasing order.
type Histogram struct {
	count, sum, min, max int64
	blocks               [maxBlocks]*block
}

// A block holds one power of two's buckets, in chunks allocated on first use.
type block [subBuckets / chunkBuckets]*[chunkBuckets]int64

const chunkBuckets = 16

const (
	subBits    = 7
	subBuckets = 1 << subBits // buckets per power of two above linearMax
	linearMax  = 2 * subBuckets
	// MaxValue is the largest value kept exactly in the buckets (about 12.7
	// days in microseconds); larger values count in the last bucket. The
	// engine's latencies are bounded far below by MaxDuration and
	// MaxPerRequestTimeout.
	MaxValue  = 1<<40 - 1
	maxBucket = linearMax + (40-subBits-2)*subBuckets + subBuckets - 1
	maxBlocks = maxBucket/subBuckets + 1
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{} }

// bucketOf is the bucket index of v (0 <= v <= MaxValue).
func bucketOf(v int64) int {
	if v < linearMax {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // v in [2^e, 2^(e+1)), e >= subBits+1
	shift := e - subBits
	return linearMax + (e-subBits-1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketRange is the lowest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < linearMax {
		return int64(i), 1
	}
	octave := (i - linearMax) / subBuckets // 0 for [256, 512)
	shift := octave + 1
	sub := int64((i-linearMax)%subBuckets) + subBuckets
	return sub << shift, 1 << shift
}

// Record adds one value. Negative values count as 0, values above MaxValue
// as MaxValue.
func (h *Histogram) Record(us int64) {
	h.recordN(us, 1)
}

func (h *Histogram) recordN(us, n int64) {
	us = min(max(us, 0), MaxValue)
	if h.count == 0 || us < h.min {
		h.min = us
	}
	if h.count == 0 || us > h.max {
		h.max = us
	}
	h.count += n
	h.sum += us * n
	h.add(bucketOf(us), n)
}

// add counts n more in bucket i, allocating its chunk when needed.
func (h *Histogram) add(i int, n int64) {
	b := h.blocks[i/subBuckets]
	if b == nil {
		b = new(block)
		h.blocks[i/subBuckets] = b
	}
	j := i % subBuckets
	c := b[j/chunkBuckets]
	if c == nil {
		c = new([chunkBuckets]int64)
		b[j/chunkBuckets] = c
	}
	c[j%chunkBuckets] += n
}

// buckets yields the index and count of every bucket of the allocated
// chunks (some counts may be 0), in increasing order.
func (h *Histogram) buckets(yield func(i int, n int64) bool) {
	for bi, b := range h.blocks {
		if b == nil {
			continue
		}
		for ci, c := range b {
			if c == nil {
				continue
			}
			for j, n := range c {
				if !yield(bi*subBuckets+ci*chunkBuckets+j, n) {
					return
				}
			}
		}
	}
}

// Merge adds every value recorded in o (nil: nothing).
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.count == 0 {
		return
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	if h.count == 0 || o.max > h.max {
		h.max = o.max
	}
	h.count += o.count
	h.sum += o.sum
	for i, n := range o.buckets {
		h.add(i, n)
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() int64 {
	if h == nil {
		return 0
	}
	return h.count
}

// Mean is the exact mean of the values (0 when empty).
func (h *Histogram) Mean() float64 {
	if h == nil || h.count == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.count)
}

// Max is the exact largest value (0 when empty).
func (h *Histogram) Max() int64 {
	if h == nil {
		return 0
	}
	return h.max
}

// Min is the exact smallest value (0 when empty).
func (h *Histogram) Min() int64 {
	if h == nil {
		return 0
	}
	return h.min
}

// Quantile is the value at quantile q (0..1): the midpoint of the bucket
// holding the ceil(q*count)-th smallest value, kept within [Min, Max].
// q <= 0 gives Min, q >= 1 gives Max, an empty histogram 0.
func (h *Histogram) Quantile(q float64) int64 {
	if h == nil || h.count == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := int64(math.Ceil(q * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen int64
	for i, n := range h.buckets {
		if seen += n; seen >= rank {
			low, width := bucketRange(i)
			return min(max(low+(width-1)/2, h.min), h.max)
		}
	}
	return h.max
}

type histogramJSON struct {
	Count   int64      `json:"count"`
	Sum     int64      `json:"sum"`
	Min     int64      `json:"min"`
	Max     int64      `json:"max"`
	Buckets [][2]int64 `json:"buckets"`
}

// MarshalJSON writes the sparse form (non-empty buckets only).
func (h *Histogram) MarshalJSON() ([]byte, error) {
	out := histogramJSON{Count: h.count, Sum: h.sum, Min: h.min, Max: h.max, Buckets: [][2]int64{}}
	for i, n := range h.buckets {
		if n != 0 {
			low, _ := bucketRange(i)
			out.Buckets = append(out.Buckets, [2]int64{low, n})
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the sparse form, checking that the buckets add up to
// count and lie within [min, max]'s buckets.
func (h *Histogram) UnmarshalJSON(data []byte) error {
	var in histogramJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*h = Histogram{}
	var total int64
	for _, b := range in.Buckets {
		if b[0] < 0 || b[0] > MaxValue || b[1] < 0 {
			return fmt.Errorf("histogram bucket [%d, %d] out of range", b[0], b[1])
		}
		h.add(bucketOf(b[0]), b[1])
		total += b[1]
	}
	if total != in.Count {
		return fmt.Errorf("histogram buckets hold %d values, count says %d", total, in.Count)
	}
	h.count, h.sum, h.min, h.max = in.Count, in.Sum, in.Min, in.Max
	return nil
}

// CountsAtMost returns, for each bound (microseconds, increasing), how many
// values lie in buckets whose lowest value is at most the bound: the
// cumulative counts of a Prometheus histogram at the engine's resolution
// (a value up to one bucket width, 0.8%, above a bound may count under it).
func (h *Histogram) CountsAtMost(bounds []int64) []int64 {
	out := make([]int64, len(bounds))
	if h == nil || h.count == 0 {
		return out
	}
	var seen int64
	k := 0
	for i, n := range h.buckets {
		if n == 0 {
			continue
		}
		low, _ := bucketRange(i)
		for k < len(bounds) && bounds[k] < low {
			out[k] = seen
			k++
		}
		seen += n
	}
	for ; k < len(bounds); k++ {
		out[k] = seen
	}
	return out
}
