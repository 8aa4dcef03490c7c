package plan

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
	"sort"
)

// Peer selection on large clusters: probing every node from every node is
// O(n^2) connections per round, so each node is probed by k others only.
// The choice is by rendezvous (highest random weight) hashing: for each
// target node, the sources ranked by score(target, source) are tried in
// order and the first k with spare capacity probe it. Every agent computes
// the same assignment from the same node list, so no coordination is
// needed; each node is probed by exactly k others; no source probes more
// than 2k nodes; and adding or removing one node moves only the pairs
// whose ranking it enters or leaves.

// Assign returns, for every node, the nodes it probes. With at most 2k
// other nodes every node probes all the others.
func Assign(nodes []string, k int) map[string][]string {
	nodes = uniqueSorted(nodes)
	out := make(map[string][]string, len(nodes))
	if k < 1 {
		k = 1
	}
	if len(nodes)-1 <= 2*k {
		for _, s := range nodes {
			for _, t := range nodes {
				if s != t {
					out[s] = append(out[s], t)
				}
			}
		}
		return out
	}
	capacity := 2 * k
	load := make(map[string]int, len(nodes))
	type ranked struct {
		node  string
		score uint64
	}
	ranking := make([]ranked, 0, len(nodes))
	for _, t := range nodes {
		ranking = ranking[:0]
		for _, s := range nodes {
			if s != t {
				ranking = append(ranking, ranked{s, score(t, s)})
			}
		}
		sort.Slice(ranking, func(i, j int) bool {
			if ranking[i].score != ranking[j].score {
				return ranking[i].score > ranking[j].score
			}
			return ranking[i].node < ranking[j].node
		})
		picked := 0
		for _, r := range ranking {
			if picked == k {
				break
			}
			if load[r.node] >= capacity {
				continue
			}
			load[r.node]++
			out[r.node] = append(out[r.node], t)
			picked++
		}
	}
	for s := range out {
		sort.Strings(out[s])
	}
	return out
}

// SelectTargets returns the nodes self probes (see Assign).
func SelectTargets(self string, nodes []string, k int) []string {
	return Assign(append(slices.Clone(nodes), self), k)[self]
}

// score is the rendezvous weight of source s for target t: FNV-1a of both
// names, finished with a 64-bit mixer so similar names spread evenly.
func score(t, s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(t))
	h.Write([]byte{0})
	h.Write([]byte(s))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], h.Sum64())
	x := binary.LittleEndian.Uint64(b[:])
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}
