package analysis

import (
	"fmt"
	"slices"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

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
	_, out := v.count(func(p pair) bool { return p.src == x && p.dst != x })
	_, in := v.count(func(p pair) bool { return p.dst == x && p.src != x })
	switch h.kind {
	case KindNodeIsolated:
		f.Summary = fmt.Sprintf("node %s is isolated (%s): no other node reaches it and it reaches none", x, label)
		f.Evidence = fmt.Sprintf("%d of %d rows from and to %s failed; %s", f.Failed, f.Total, x, among)
	case KindInboundBlocked:
		f.Summary = fmt.Sprintf("traffic into %s is blocked (%s): no other node reaches it, while it reaches every node", x, label)
		f.Evidence = fmt.Sprintf("%d of %d rows towards %s failed; all %d rows from %s succeeded; %s", f.Failed, f.Total, x, out, x, among)
	case KindNodeUnreachable:
		f.Summary = fmt.Sprintf("node %s cannot be reached (%s); its own probes were not checked, so the direction is unknown", x, label)
		f.Evidence = fmt.Sprintf("%d of %d rows towards %s failed; %s", f.Failed, f.Total, x, among)
	case KindOutboundBlocked:
		f.Summary = fmt.Sprintf("traffic out of %s is blocked (%s): it reaches no other node, while every node reaches it", x, label)
		f.Evidence = fmt.Sprintf("%d of %d rows from %s failed; all %d rows towards %s succeeded; %s", f.Failed, f.Total, x, in, x, among)
	case KindNodeCannotReach:
		f.Summary = fmt.Sprintf("node %s reaches no other node (%s); whether it can be reached was not checked", x, label)
		f.Evidence = fmt.Sprintf("%d of %d rows from %s failed; %s", f.Failed, f.Total, x, among)
	case KindLinkDown:
		_, third := v.count(func(p pair) bool {
			return p.src != p.dst && !h.fails(p) && (slices.Contains(h.nodes, p.src) || slices.Contains(h.nodes, p.dst))
		})
		f.Summary = fmt.Sprintf("the link between %s and %s is down (%s): they reach each other in neither direction, and both reach every other node", x, y, label)
		f.Evidence = fmt.Sprintf("%d of %d rows between %s and %s failed; all %d rows between them and the other nodes succeeded; %s", f.Failed, f.Total, x, y, third, among)
	case KindOneWay:
		_, back := v.count(func(p pair) bool { return p == pair{y, x} })
		f.Summary = fmt.Sprintf("traffic from %s to %s is blocked one way (%s): %s reaches %s, and both reach every other node", x, y, label, y, x)
		f.Evidence = fmt.Sprintf("%d of %d rows from %s to %s failed; all %d rows from %s to %s succeeded; all other rows succeeded", f.Failed, f.Total, x, y, back, y, x)
	}
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
