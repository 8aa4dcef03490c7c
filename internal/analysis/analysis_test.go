package analysis

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

var (
	dual  = []probe.Family{probe.IPv4, probe.IPv6}
	only4 = []probe.Family{probe.IPv4}
)

// outcome says how one src->dst row on family f ended.
type outcome func(src, dst string, f probe.Family) report.Result

// mesh builds every src x dst x family pod tcp row among n nodes.
func mesh(n int, fams []probe.Family, o outcome) []report.Row {
	var rows []report.Row
	for i := 1; i <= n; i++ {
		for j := 1; j <= n; j++ {
			for _, f := range fams {
				src, dst := fmt.Sprintf("node-%d", i), fmt.Sprintf("node-%d", j)
				rows = append(rows, row(src, dst, f, o(src, dst, f)))
			}
		}
	}
	return rows
}

func row(src, dst string, f probe.Family, res report.Result) report.Row {
	r := report.Row{Pair: report.Pair{Mode: "pod", Protocol: probe.KindTCP, Family: f, SrcNode: src, DstNode: dst,
		TargetIP: "10.0.0.1", Port: 8889}, Result: res}
	if res == report.Failed {
		r.Class, r.Log = probe.ClassTimeout, "no answer"
	}
	return r
}

func failIf(pred func(src, dst string, f probe.Family) bool) outcome {
	return func(src, dst string, f probe.Family) report.Result {
		if pred(src, dst, f) {
			return report.Failed
		}
		return report.Succeeded
	}
}

func between(a, b string) func(s, d string, _ probe.Family) bool {
	return func(s, d string, _ probe.Family) bool { return (s == a && d == b) || (s == b && d == a) }
}

func touches(x string) func(s, d string, _ probe.Family) bool {
	return func(s, d string, _ probe.Family) bool { return s != d && (s == x || d == x) }
}

func towards(x string) func(s, d string, _ probe.Family) bool {
	return func(s, d string, _ probe.Family) bool { return s != d && d == x }
}

func from(x string) func(s, d string, _ probe.Family) bool {
	return func(s, d string, _ probe.Family) bool { return s != d && s == x }
}

func onFamily(fam probe.Family, p func(s, d string, f probe.Family) bool) func(s, d string, f probe.Family) bool {
	return func(s, d string, f probe.Family) bool { return f == fam && p(s, d, f) }
}

// except turns the rows matching pred into EXCEPTION rows carrying the
// agent problem the check engine attaches (and a log line like its own).
func except(rows []report.Row, pred func(r report.Row) bool, problem func(r report.Row) *report.AgentProblem) []report.Row {
	for i, r := range rows {
		if pred(r) {
			p := problem(r)
			rows[i].Result, rows[i].Class, rows[i].Agent = report.Exception, probe.ClassAgentError, p
			rows[i].Log = p.Side + " agent pod on " + p.Node + " " + p.Kind + ": " + p.Reason
		}
	}
	return rows
}

// brief is what a test asserts of a finding: kind, nodes, family, counts.
type brief struct {
	Kind          string
	Nodes         []string
	Target        string
	Family        probe.Family
	Failed, Total int
}

func briefs(fs []report.Finding) []brief {
	var out []brief
	for _, f := range fs {
		out = append(out, brief{f.Kind, f.Nodes, f.Target, f.Family, f.Failed, f.Total})
	}
	return out
}

func TestAnalyze(t *testing.T) {
	const n1, n2, n3, n4 = "node-1", "node-2", "node-3", "node-4"
	tests := []struct {
		name string
		rows []report.Row
		want []brief
	}{
		{"all succeeded", mesh(4, dual, failIf(func(string, string, probe.Family) bool { return false })), nil},
		{"no rows", nil, nil},
		{"link down", mesh(4, dual, failIf(between(n1, n2))),
			[]brief{{KindLinkDown, []string{n1, n2}, "", "", 4, 4}}},
		{"link down, named in natural order", mesh(10, only4, failIf(between("node-10", "node-9"))),
			[]brief{{KindLinkDown, []string{"node-9", "node-10"}, "", "", 2, 2}}},
		{"one way", mesh(4, dual, failIf(func(s, d string, _ probe.Family) bool { return s == n1 && d == n2 })),
			[]brief{{KindOneWay, []string{n1, n2}, "", "", 2, 2}}},
		{"inbound blocked", mesh(4, dual, failIf(towards(n2))),
			[]brief{{KindInboundBlocked, []string{n2}, "", "", 6, 6}}},
		{"inbound blocked, self pair failing too", mesh(4, dual, failIf(func(s, d string, _ probe.Family) bool { return d == n2 })),
			[]brief{{KindInboundBlocked, []string{n2}, "", "", 6, 6}}},
		{"outbound blocked", mesh(4, dual, failIf(from(n3))),
			[]brief{{KindOutboundBlocked, []string{n3}, "", "", 6, 6}}},
		{"isolated", mesh(4, dual, failIf(touches(n2))),
			[]brief{{KindNodeIsolated, []string{n2}, "", "", 12, 12}}},
		{"isolated with 3 nodes", mesh(3, only4, failIf(touches(n3))),
			[]brief{{KindNodeIsolated, []string{n3}, "", "", 4, 4}}},
		// Its own probes could not run (agent cut off from the CLI): only
		// "cannot be reached" is known, not the direction.
		{"unreachable, own probes not run", except(mesh(4, dual, failIf(towards(n3))),
			func(r report.Row) bool { return r.SrcNode == n3 },
			func(report.Row) *report.AgentProblem {
				return &report.AgentProblem{Side: report.AgentSource, Kind: report.AgentUnreachable, Node: n3, Reason: "no answer within 13s"}
			}),
			[]brief{{KindAgentUnreachable, []string{n3}, "", "", 8, 8}, {KindNodeUnreachable, []string{n3}, "", "", 6, 6}}},
		{"IPv6 only: link", mesh(4, dual, failIf(onFamily(probe.IPv6, between(n1, n4)))),
			[]brief{{KindLinkDown, []string{n1, n4}, "", probe.IPv6, 2, 2}}},
		{"IPv6 only: isolated", mesh(4, dual, failIf(onFamily(probe.IPv6, touches(n4)))),
			[]brief{{KindNodeIsolated, []string{n4}, "", probe.IPv6, 6, 6}}},
		{"IPv6 only: whole family", mesh(4, dual, failIf(func(_, _ string, f probe.Family) bool { return f == probe.IPv6 })),
			[]brief{{KindFamilyOnly, nil, "", probe.IPv6, 16, 16}}},
		{"everything failed", mesh(3, dual, failIf(func(string, string, probe.Family) bool { return true })),
			[]brief{{KindAllFailing, nil, "", "", 18, 18}}},

		// Ambiguous patterns: no culprit may be named.
		// Two nodes cut from each other: link, or either node isolated?
		{"two nodes, both directions", mesh(2, dual, failIf(between(n1, n2))),
			[]brief{{KindScattered, nil, "", "", 4, 8}}},
		// Two nodes, one way: n1's outbound or n2's inbound?
		{"two nodes, one direction", mesh(2, only4, failIf(func(s, d string, _ probe.Family) bool { return s == n1 && d == n2 })),
			[]brief{{KindTargetFailures, []string{n2}, "", "", 1, 2}, {KindSourceFailures, []string{n1}, "", "", 1, 2}}},
		// A link down on IPv4 only one way: mixed pair (IPv4 fails, IPv6 ok) on
		// the link, plus another failure elsewhere on IPv6: no single pattern.
		{"two unrelated faults", mesh(4, dual, failIf(func(s, d string, f probe.Family) bool {
			return (f == probe.IPv4 && between(n1, n2)(s, d, f)) || (f == probe.IPv6 && s == n3 && d == n4)
		})), []brief{{KindTargetFailures, []string{n1, n2, n4}, "", "", 3, 24}, {KindSourceFailures, []string{n1, n2, n3}, "", "", 3, 24}}},
		// All towards n2 fail but n2's own probes fail to one node as well:
		// every source has one failure, so no source is named.
		{"inbound plus one outbound", mesh(4, only4, failIf(func(s, d string, f probe.Family) bool { return towards(n2)(s, d, f) || (s == n2 && d == n3) })),
			[]brief{{KindTargetFailures, []string{n2}, "", "", 3, 4}}},
		// n1->n2 fails on IPv4 only and n2->n1 on IPv6 only: neither a link
		// (each pair half works) nor a family-only pattern.
		{"each direction failing on another family", mesh(3, dual, failIf(func(s, d string, f probe.Family) bool {
			return (f == probe.IPv4 && s == n1 && d == n2) || (f == probe.IPv6 && s == n2 && d == n1)
		})), []brief{{KindTargetFailures, []string{n1, n2}, "", "", 2, 12}, {KindSourceFailures, []string{n1, n2}, "", "", 2, 12}}},
		// Every node fails to reach exactly one other (a ring): all tie.
		{"failures spread evenly", mesh(3, only4, failIf(func(s, d string, _ probe.Family) bool {
			return (s == n1 && d == n2) || (s == n2 && d == n3) || (s == n3 && d == n1)
		})), []brief{{KindScattered, nil, "", "", 3, 9}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Analyze(tc.rows)
			if !reflect.DeepEqual(briefs(got), tc.want) {
				t.Errorf("findings\n got %+v\nwant %+v\n%s", briefs(got), tc.want, dump(got))
			}
			for _, f := range got {
				if f.Summary == "" || f.Evidence == "" {
					t.Errorf("%s: empty summary or evidence: %+v", f.Kind, f)
				}
			}
			// Pure: the same rows in reverse order give the same findings.
			rev := slices.Clone(tc.rows)
			slices.Reverse(rev)
			if again := Analyze(rev); !reflect.DeepEqual(again, got) {
				t.Errorf("findings depend on row order:\n%s\nvs\n%s", dump(got), dump(again))
			}
		})
	}
}

func dump(fs []report.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %v: %s | %s\n", f.Kind, f.Nodes, f.Summary, f.Evidence)
	}
	return b.String()
}
