package analysis

import (
	"fmt"
	"slices"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// pair is a source node and a destination node (a "self" pair when equal).
type pair struct{ src, dst string }

// tally counts a pair's rows (one per family and target IP) by outcome.
type tally struct{ ok, fail int }

// view is the outcome of every checked pair of one scope (and family).
// EXCEPTION rows are left out: they say nothing about the network.
type view struct {
	pairs map[pair]tally
	nodes []string
}

func (a analyzer) view(rows []report.Row, keep func(report.Row) bool) view {
	v := view{pairs: map[pair]tally{}}
	for _, r := range rows {
		if !keep(r) {
			continue
		}
		p := pair{a.src(r), a.dst(r)}
		t := v.pairs[p]
		if r.Result == report.Succeeded {
			t.ok++
		} else {
			t.fail++
		}
		v.pairs[p] = t
		v.nodes = append(v.nodes, p.src, p.dst)
	}
	v.nodes = sortNames(v.nodes)
	return v
}

// count sums the rows of the pairs for which pred holds.
func (v view) count(pred func(pair) bool) (fail, total int) {
	for p, t := range v.pairs {
		if pred(p) {
			fail += t.fail
			total += t.ok + t.fail
		}
	}
	return fail, total
}

// peers is how many distinct other nodes x was checked against in the
// given direction (out: x is the source).
func (v view) peers(x string, out bool) int {
	seen := map[string]bool{}
	for p := range v.pairs {
		switch {
		case p.src == p.dst:
		case out && p.src == x:
			seen[p.dst] = true
		case !out && p.dst == x:
			seen[p.src] = true
		}
	}
	return len(seen)
}

// elsewhere reports whether some pair between two nodes other than those
// in skip was checked: the "everything else works" half of a pattern.
func (v view) elsewhere(skip ...string) bool {
	for p := range v.pairs {
		if p.src != p.dst && !slices.Contains(skip, p.src) && !slices.Contains(skip, p.dst) {
			return true
		}
	}
	return false
}

// thirdParty reports whether x was checked (either way) against a node
// other than itself and y.
func (v view) thirdParty(x, y string) bool {
	for p := range v.pairs {
		if p.src == p.dst {
			continue
		}
		if (p.src == x && p.dst != y) || (p.dst == x && p.src != y) {
			return true
		}
	}
	return false
}

func (v view) failed() bool {
	for _, t := range v.pairs {
		if t.fail > 0 {
			return true
		}
	}
	return false
}

func (v view) allFailed() bool {
	for _, t := range v.pairs {
		if t.ok > 0 {
			return false
		}
	}
	return len(v.pairs) > 0
}

// hypothesis is one possible culprit: the exact set of pairs it breaks.
type hypothesis struct {
	kind  string
	nodes []string
	// fails says whether the culprit breaks a non-self pair.
	fails func(pair) bool
	// selfMayFail is the node whose self pair the culprit may break too
	// (a node-level culprit may break even a pod's path to itself).
	selfMayFail string
	// observed says whether the pairs that tell this culprit apart from
	// the other explanations were checked.
	observed func(view) bool
}

// holds reports whether the rows fit h exactly: every pair it breaks
// failed on every row, every other pair succeeded on every row.
func (h hypothesis) holds(v view) bool {
	for p, t := range v.pairs {
		if p.src == p.dst {
			if t.fail > 0 && p.src != h.selfMayFail {
				return false
			}
			continue
		}
		if h.fails(p) {
			if t.ok > 0 || t.fail == 0 {
				return false
			}
		} else if t.fail > 0 {
			return false
		}
	}
	return h.observed(v)
}

func hypotheses(v view) []hypothesis {
	var hs []hypothesis
	for _, x := range v.nodes {
		to := func(p pair) bool { return p.dst == x }
		from := func(p pair) bool { return p.src == x }
		hs = append(hs,
			hypothesis{KindNodeIsolated, []string{x}, func(p pair) bool { return to(p) || from(p) }, x,
				func(v view) bool { return v.peers(x, true) >= 2 && v.peers(x, false) >= 2 && v.elsewhere(x) }},
			hypothesis{KindInboundBlocked, []string{x}, to, x,
				func(v view) bool { return v.peers(x, true) > 0 && v.peers(x, false) >= 2 }},
			hypothesis{KindNodeUnreachable, []string{x}, to, x,
				func(v view) bool { return v.peers(x, true) == 0 && v.peers(x, false) >= 2 && v.elsewhere(x) }},
			hypothesis{KindOutboundBlocked, []string{x}, from, x,
				func(v view) bool { return v.peers(x, false) > 0 && v.peers(x, true) >= 2 }},
			hypothesis{KindNodeCannotReach, []string{x}, from, x,
				func(v view) bool { return v.peers(x, false) == 0 && v.peers(x, true) >= 2 && v.elsewhere(x) }},
		)
	}
	for p, t := range v.pairs {
		if p.src == p.dst || t.fail == 0 {
			continue
		}
		a, b := p.src, p.dst
		if back, ok := v.pairs[pair{b, a}]; ok && back.fail > 0 {
			if report.CompareNames(a, b) < 0 {
				hs = append(hs, hypothesis{KindLinkDown, []string{a, b},
					func(q pair) bool { return q == pair{a, b} || q == pair{b, a} }, "",
					func(v view) bool { return v.thirdParty(a, b) && v.thirdParty(b, a) }})
			}
			continue
		}
		hs = append(hs, hypothesis{KindOneWay, []string{a, b},
			func(q pair) bool { return q == pair{a, b} }, "",
			func(v view) bool {
				_, back := v.pairs[pair{b, a}]
				return back && v.thirdParty(a, b) && v.thirdParty(b, a)
			}})
	}
	return hs
}

// explain returns the one culprit the rows fit, or false when none or
// more than one does (then no culprit is named).
func explain(v view) (hypothesis, bool) {
	var found []hypothesis
	for _, h := range hypotheses(v) {
		if h.holds(v) {
			found = append(found, h)
		}
	}
	if len(found) != 1 {
		return hypothesis{}, false
	}
	return found[0], true
}

// mesh reads the node-to-node rows of one scope: first all families
// together, then, when only one family failed and another is clean, that
// family alone; else generic counts.
func (a analyzer) mesh(s scope, rows []report.Row) []report.Finding {
	all := a.view(rows, func(report.Row) bool { return true })
	if !all.failed() {
		return nil
	}
	if h, ok := explain(all); ok {
		return []report.Finding{a.culprit(h, all, s, "", "")}
	}
	var fams, failing []probe.Family
	for _, r := range rows {
		if !slices.Contains(fams, r.Family) {
			fams = append(fams, r.Family)
		}
		if r.Result != report.Succeeded && !slices.Contains(failing, r.Family) {
			failing = append(failing, r.Family)
		}
	}
	slices.Sort(fams)
	if len(failing) == 1 && len(fams) > 1 {
		fam := failing[0]
		v := a.view(rows, func(r report.Row) bool { return r.Family == fam })
		clean := countRows(rows, "") - countRows(rows, fam)
		cleanNote := fmt.Sprintf("every one of the %d rows of the other family succeeded", clean)
		if h, ok := explain(v); ok {
			return []report.Finding{a.culprit(h, v, s, fam, cleanNote)}
		}
		if v.allFailed() {
			n := countRows(rows, fam)
			return []report.Finding{{
				Kind: KindFamilyOnly, Mode: s.mode, Protocol: s.protocol, Family: fam,
				Summary:  fmt.Sprintf("%s is broken on %s only (%s): every %s pair failed, every other pair succeeded", s, fam, s, fam),
				Evidence: fmt.Sprintf("%d of %d %s rows failed; %s", n, n, fam, cleanNote),
				Failed:   n, Total: n,
			}}
		}
		return generic(v, s, fam)
	}
	if all.allFailed() {
		n := len(rows)
		return []report.Finding{{
			Kind: KindAllFailing, Mode: s.mode, Protocol: s.protocol,
			Summary:  fmt.Sprintf("every %s pair failed: no single node or link is to blame (the whole network path, a policy, or the probe itself)", s),
			Evidence: fmt.Sprintf("%d of %d rows failed among %s", n, n, plural(len(all.nodes), "node", "nodes")),
			Failed:   n, Total: n,
		}}
	}
	return generic(all, s, "")
}

// countRows counts the rows of family fam ("" = all).
func countRows(rows []report.Row, fam probe.Family) int {
	n := 0
	for _, r := range rows {
		if fam == "" || r.Family == fam {
			n++
		}
	}
	return n
}
