package analysis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

type agentKey struct{ kind, node string }

type agentGroup struct {
	rows    int
	reasons []string
}

// exceptions groups EXCEPTION rows by node and cause: agent-not-ready and
// agent-unreachable per node (agents-unreachable when no agent at all was
// reached), everything else by class as not-checked.
func (a analyzer) exceptions(exc, all []report.Row) []report.Finding {
	groups := map[agentKey]*agentGroup{}
	var order []agentKey
	other := map[probe.FailureClass][]report.Row{}
	var classes []probe.FailureClass
	add := func(k agentKey, reason string) {
		g := groups[k]
		if g == nil {
			g = &agentGroup{}
			groups[k] = g
			order = append(order, k)
		}
		g.rows++
		if reason != "" && !slices.Contains(g.reasons, reason) {
			g.reasons = append(g.reasons, reason)
		}
	}
	for _, r := range exc {
		node := func(target bool, name string) string {
			if target {
				return a.node(r.DstCluster, name)
			}
			return a.node(r.SrcCluster, name)
		}
		if p := r.Agent; p != nil {
			kind := KindAgentUnreachable
			if p.Kind == report.AgentNotReady {
				kind = KindAgentNotReady
			}
			add(agentKey{kind, node(p.Side == report.AgentTarget, p.Node)}, p.Reason)
		} else {
			if _, ok := other[r.Class]; !ok {
				classes = append(classes, r.Class)
			}
			other[r.Class] = append(other[r.Class], r)
		}
	}
	slices.SortFunc(order, func(x, y agentKey) int {
		if x.kind != y.kind {
			return strings.Compare(x.kind, y.kind)
		}
		return report.CompareNames(x.node, y.node)
	})

	var out []report.Finding
	// Every source unreachable: say it once, the CLI's path is to blame.
	var unreachable []string
	for _, k := range order {
		if k.kind == KindAgentUnreachable {
			unreachable = append(unreachable, k.node)
		}
	}
	sources := map[string]bool{}
	for _, r := range all {
		sources[a.src(r)] = true
	}
	whole := len(unreachable) > 1 && len(unreachable) == len(sources)
	if whole {
		n := 0
		for _, k := range order {
			if k.kind == KindAgentUnreachable {
				n += groups[k].rows
			}
		}
		out = append(out, report.Finding{
			Kind: KindAgentsUnreachable, Nodes: unreachable, Failed: n, Total: len(all),
			Summary:  "the CLI reached no agent through the API server's pod proxy: the API server's path to the pods (or pods/proxy rights) is broken, not necessarily the checked network",
			Evidence: fmt.Sprintf("%d of %d rows could not run: the agents on all %d source nodes were unreachable", n, len(all), len(unreachable)),
		})
	}
	for _, k := range order {
		g := groups[k]
		reason := strings.Join(g.reasons, "; ")
		switch {
		case k.kind == KindAgentUnreachable && whole:
			continue
		case k.kind == KindAgentNotReady:
			out = append(out, report.Finding{
				Kind: k.kind, Nodes: []string{k.node}, Reason: reason, Failed: g.rows, Total: g.rows,
				Summary:  fmt.Sprintf("the agent on %s is not ready (%s): its pairs could not be checked", k.node, reason),
				Evidence: fmt.Sprintf("%d rows from or to %s are EXCEPTION", g.rows, k.node),
			})
		default:
			out = append(out, report.Finding{
				Kind: k.kind, Nodes: []string{k.node}, Reason: reason, Failed: g.rows, Total: g.rows,
				Summary:  fmt.Sprintf("the CLI could not reach the agent on %s through the API server: its probes did not run", k.node),
				Evidence: fmt.Sprintf("%d rows from %s are EXCEPTION (%s)", g.rows, k.node, reason),
			})
		}
	}
	slices.Sort(classes)
	for _, c := range classes {
		rows := other[c]
		f := report.Finding{
			Kind: KindNotChecked, Reason: rows[0].Log, Failed: len(rows), Total: len(rows),
			Summary:  fmt.Sprintf("%s could not be checked (class %s)", plural(len(rows), "row", "rows"), c),
			Evidence: fmt.Sprintf("for example: %s", rows[0].Log),
		}
		var nodes []string
		for _, r := range rows {
			nodes = append(nodes, a.src(r))
		}
		f.Nodes = sortNames(nodes)
		out = append(out, f)
	}
	return out
}
