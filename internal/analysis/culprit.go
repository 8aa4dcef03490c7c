package analysis

import (
	"fmt"
	"slices"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// culpritWords are each kind's claim and the rows that failed, with the
// hypothesis' nodes x and y and the scope's label as %[1]s, %[2]s, %[3]s.
var culpritWords = map[string]struct{ claim, failed string }{
	KindNodeIsolated:    {"node %[1]s is isolated (%[3]s): no other node reaches it and it reaches none", "from and to %[1]s"},
	KindInboundBlocked:  {"traffic into %[1]s is blocked (%[3]s): no other node reaches it, while it reaches every node", "towards %[1]s"},
	KindNodeUnreachable: {"node %[1]s cannot be reached (%[3]s); its own probes were not checked, so the direction is unknown", "towards %[1]s"},
	KindOutboundBlocked: {"traffic out of %[1]s is blocked (%[3]s): it reaches no other node, while every node reaches it", "from %[1]s"},
	KindNodeCannotReach: {"node %[1]s reaches no other node (%[3]s); whether it can be reached was not checked", "from %[1]s"},
	KindLinkDown:        {"the link between %[1]s and %[2]s is down (%[3]s): they reach each other in neither direction, and both reach every other node", "between %[1]s and %[2]s"},
	KindOneWay:          {"traffic from %[1]s to %[2]s is blocked one way (%[3]s): %[2]s reaches %[1]s, and both reach every other node", "from %[1]s to %[2]s"},
}

// culprit words the finding for a hypothesis that holds on v. fam and
// cleanNote are set when it holds on one family only.
func (a analyzer) culprit(h hypothesis, v view, s scope, fam probe.Family, cleanNote string) report.Finding {
	label := s.String()
	if fam != "" {
		label += ", " + string(fam) + " only"
	}
	f := report.Finding{Kind: h.kind, Nodes: h.nodes, Mode: s.mode, Protocol: s.protocol, Family: fam}
	f.Failed, f.Total = v.count(func(p pair) bool { return p.src != p.dst && h.fails(p) })
	// The rows that make the pattern unambiguous: everything else.
	_, others := v.count(func(p pair) bool {
		return p.src != p.dst && !h.fails(p) && !slices.Contains(h.nodes, p.src) && !slices.Contains(h.nodes, p.dst)
	})
	rest := len(v.nodes) - len(h.nodes)
	among := fmt.Sprintf("all %d rows among the other %s succeeded", others, plural(rest, "node", "nodes"))
	x := h.nodes[0]
	var y string
	if len(h.nodes) > 1 {
		y = h.nodes[1]
	}
	// The rows whose success rules out the other kinds.
	succeeded := func(rows func(pair) bool, what string) string {
		_, n := v.count(rows)
		return fmt.Sprintf("all %d rows %s succeeded; ", n, what)
	}
	var ruledOut string
	switch h.kind {
	case KindInboundBlocked:
		ruledOut = succeeded(func(p pair) bool { return p.src == x && p.dst != x }, "from "+x)
	case KindOutboundBlocked:
		ruledOut = succeeded(func(p pair) bool { return p.dst == x && p.src != x }, "towards "+x)
	case KindLinkDown:
		ruledOut = succeeded(func(p pair) bool {
			return p.src != p.dst && !h.fails(p) && (slices.Contains(h.nodes, p.src) || slices.Contains(h.nodes, p.dst))
		}, "between them and the other nodes")
	case KindOneWay:
		ruledOut = succeeded(func(p pair) bool { return p == pair{y, x} }, "from "+y+" to "+x)
		among = "all other rows succeeded"
	}
	words := culpritWords[h.kind]
	f.Summary = fmt.Sprintf(words.claim, x, y, label)
	f.Evidence = fmt.Sprintf("%d of %d rows %s failed; %s%s", f.Failed, f.Total, fmt.Sprintf(words.failed, x, y), ruledOut, among)
	if cleanNote != "" {
		f.Evidence += "; " + cleanNote
	}
	return f
}

// generic names the node(s) most failures go towards and come from, with
// counts, and claims nothing more. When every node is equally affected it
// says so instead of naming them all.
func generic(v view, s scope, fam probe.Family) []report.Finding {
	label := s.String()
	if fam != "" {
		label += ", " + string(fam)
	}
	failed, total := v.count(func(pair) bool { return true })
	in := fmt.Sprintf("%d of %d rows failed in all", failed, total)
	var out []report.Finding
	for _, towards := range []bool{true, false} {
		end := func(p pair) string {
			if towards {
				return p.dst
			}
			return p.src
		}
		fails, totals := map[string]int{}, map[string]int{}
		for p, t := range v.pairs {
			fails[end(p)] += t.fail
			totals[end(p)] += t.ok + t.fail
		}
		best := 0
		for _, n := range fails {
			best = max(best, n)
		}
		var worst []string
		for n, c := range fails {
			if c == best {
				worst = append(worst, n)
			}
		}
		worst = sortNames(worst)
		if best == 0 || (len(worst) > 1 && len(worst) == len(totals)) {
			continue // every node equally affected: naming them all says nothing
		}
		f := report.Finding{Nodes: worst, Mode: s.mode, Protocol: s.protocol, Family: fam, Failed: best * len(worst)}
		for _, n := range worst {
			f.Total += totals[n]
		}
		if towards {
			f.Kind = KindTargetFailures
			f.Summary = fmt.Sprintf("most failures are towards %s (%s); the rows fit no single culprit", report.JoinNames(worst), label)
			f.Evidence = fmt.Sprintf("%d of %d rows towards %s failed; %s", f.Failed, f.Total, report.JoinNames(worst), in)
		} else {
			f.Kind = KindSourceFailures
			f.Summary = fmt.Sprintf("most failures come from %s (%s); the rows fit no single culprit", report.JoinNames(worst), label)
			f.Evidence = fmt.Sprintf("%d of %d rows from %s failed; %s", f.Failed, f.Total, report.JoinNames(worst), in)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		out = append(out, report.Finding{
			Kind: KindScattered, Mode: s.mode, Protocol: s.protocol, Family: fam, Failed: failed, Total: total,
			Summary:  fmt.Sprintf("failures are spread evenly over every node (%s); the rows fit no single culprit", label),
			Evidence: in,
		})
	}
	return out
}
