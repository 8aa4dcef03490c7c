package plan

import (
	"fmt"
	"slices"
	"testing"
)

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%03d", i)
	}
	return out
}

func TestAssignProperties(t *testing.T) {
	for _, tc := range []struct{ nodes, k int }{{2, 3}, {7, 3}, {8, 3}, {50, 3}, {300, 5}, {1000, 5}} {
		t.Run(fmt.Sprintf("%d nodes k=%d", tc.nodes, tc.k), func(t *testing.T) {
			nodes := nodeNames(tc.nodes)
			a := Assign(nodes, tc.k)
			in := map[string]int{}
			// The bound: all others on a small cluster, else at most 2k.
			bound := 2 * tc.k
			if tc.nodes-1 <= 2*tc.k {
				bound = tc.nodes - 1
			}
			for s, targets := range a {
				if len(targets) > bound {
					t.Errorf("%s probes %d nodes, bound is %d", s, len(targets), bound)
				}
				for _, tg := range targets {
					if tg == s {
						t.Errorf("%s probes itself", s)
					}
					in[tg]++
				}
			}
			want := min(tc.k, tc.nodes-1)
			if tc.nodes-1 <= 2*tc.k {
				want = tc.nodes - 1 // small cluster: everyone probes everyone
			}
			for _, n := range nodes {
				if in[n] != want {
					t.Errorf("%s is probed by %d nodes, want exactly %d", n, in[n], want)
				}
			}
		})
	}
}

func edges(a map[string][]string) map[[2]string]bool {
	out := map[[2]string]bool{}
	for s, ts := range a {
		for _, t := range ts {
			out[[2]string{s, t}] = true
		}
	}
	return out
}

func TestAssignStableWhenOneNodeAdded(t *testing.T) {
	const k = 5
	nodes := nodeNames(200)
	before := edges(Assign(nodes, k))
	after := edges(Assign(append(nodes, "node-new"), k))
	changed := 0
	for e := range before {
		if !after[e] {
			changed++
		}
	}
	// The new node takes about k probing slots and k probed slots from the
	// others; everything else must stay where it was.
	if changed > 3*k {
		t.Errorf("adding one node to 200 moved %d of %d pairs, want <= %d", changed, len(before), 3*k)
	}
	t.Logf("adding one node moved %d of %d pairs", changed, len(before))
}

func TestSelectTargetsMatchesAssign(t *testing.T) {
	nodes := nodeNames(40)
	a := Assign(nodes, 4)
	for _, self := range []string{"node-000", "node-017", "node-039"} {
		others := slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == self })
		if got := SelectTargets(self, others, 4); !slices.Equal(got, a[self]) {
			t.Errorf("%s: SelectTargets = %v, Assign = %v", self, got, a[self])
		}
	}
}
