package analysis

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

func dnsRows(nodes int, fams []probe.Family, fail func(src string, f probe.Family) bool) []report.Row {
	var rows []report.Row
	for i := 1; i <= nodes; i++ {
		for _, f := range fams {
			src := fmt.Sprintf("node-%d", i)
			r := report.Row{Pair: report.Pair{Mode: "pod", Protocol: probe.KindDNS, Family: f, SrcNode: src, DstNode: "cluster-dns", TargetIP: "10.96.0.10", Port: 53}, Result: report.Succeeded}
			if fail(src, f) {
				r.Result, r.Class, r.Log = report.Failed, probe.ClassTimeout, "no answer"
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func TestAnalyzeTargetsAndAgents(t *testing.T) {
	notReady := func(r report.Row) *report.AgentProblem {
		side := report.AgentTarget
		if r.SrcNode == "node-4" {
			side = report.AgentSource
		}
		return &report.AgentProblem{Side: side, Kind: report.AgentNotReady, Node: "node-4", Pod: "netdoctor-agent-pod-abc",
			Reason: "not scheduled: Unschedulable (0/4 nodes are available: 1 Insufficient cpu.)"}
	}
	ok := failIf(func(string, string, probe.Family) bool { return false })
	custom := func(port int, fail func(src string) bool) []report.Row {
		var rows []report.Row
		for i := 1; i <= 3; i++ {
			src := fmt.Sprintf("node-%d", i)
			r := report.Row{Pair: report.Pair{Mode: "pod", Protocol: probe.KindConn, Family: probe.IPv4, SrcNode: src, DstNode: "customized", TargetIP: "10.96.0.10", Port: port}, Result: report.Succeeded}
			if fail(src) {
				r.Result, r.Class, r.Log = report.Failed, probe.ClassRefused, "refused"
			}
			rows = append(rows, r)
		}
		return rows
	}
	// Cross-cluster: sources in src, targets in dst; dst/node-2 unreachable.
	var cross []report.Row
	for i := 1; i <= 3; i++ {
		for j := 1; j <= 3; j++ {
			r := row(fmt.Sprintf("node-%d", i), fmt.Sprintf("node-%d", j), probe.IPv4, report.Succeeded)
			r.SrcCluster, r.DstCluster = "src", "dst"
			if j == 2 {
				r.Result, r.Class, r.Log = report.Failed, probe.ClassTimeout, "no answer"
			}
			cross = append(cross, r)
		}
	}
	tests := []struct {
		name string
		rows []report.Row
		want []brief
	}{
		{"agent not ready", except(mesh(4, only4, ok), func(r report.Row) bool { return r.SrcNode == "node-4" || r.DstNode == "node-4" }, notReady),
			[]brief{{KindAgentNotReady, []string{"node-4"}, "", "", 7, 7}}},
		{"one agent unreachable", except(mesh(3, only4, ok), func(r report.Row) bool { return r.SrcNode == "node-1" },
			func(report.Row) *report.AgentProblem {
				return &report.AgentProblem{Side: report.AgentSource, Kind: report.AgentUnreachable, Node: "node-1",
					Reason: "probe batch from agent pod netdoctor-agent-pod-x on node-1 failed: HTTP 503: error trying to reach service"}
			}),
			[]brief{{KindAgentUnreachable, []string{"node-1"}, "", "", 3, 3}}},
		{"no agent reachable", except(mesh(3, only4, ok), func(report.Row) bool { return true },
			func(r report.Row) *report.AgentProblem {
				return &report.AgentProblem{Side: report.AgentSource, Kind: report.AgentUnreachable, Node: r.SrcNode, Reason: "no answer within 13s"}
			}),
			[]brief{{KindAgentsUnreachable, []string{"node-1", "node-2", "node-3"}, "", "", 9, 9}}},
		{"skipped checks", func() []report.Row {
			rows := mesh(2, only4, ok)
			rows[0].Result, rows[0].Class, rows[0].Log = report.Exception, probe.ClassSkipped, "ICMP not permitted (no CAP_NET_RAW)"
			return rows
		}(), []brief{{KindNotChecked, []string{"node-1"}, "", "", 1, 1}}},
		{"dns down", dnsRows(4, dual, func(string, probe.Family) bool { return true }),
			[]brief{{KindDNSFailing, nil, "cluster-dns", "", 8, 8}}},
		{"dns over IPv6 only", dnsRows(4, dual, func(_ string, f probe.Family) bool { return f == probe.IPv6 }),
			[]brief{{KindDNSFailing, nil, "cluster-dns", probe.IPv6, 4, 8}}},
		{"dns from one node", dnsRows(4, dual, func(s string, _ probe.Family) bool { return s == "node-3" }),
			[]brief{{KindDNSFailing, []string{"node-3"}, "cluster-dns", "", 2, 8}}},
		{"dns scattered", dnsRows(4, dual, func(s string, f probe.Family) bool {
			return (s == "node-3" && f == probe.IPv4) || (s == "node-1" && f == probe.IPv6)
		}), []brief{{KindDNSFailing, nil, "cluster-dns", "", 2, 8}}},
		{"customized port closed", append(custom(53, func(string) bool { return false }), custom(1, func(string) bool { return true })...),
			[]brief{{KindCustomizedFailing, nil, "10.96.0.10:1", "", 3, 3}}},
		{"cross-cluster target unreachable", cross,
			[]brief{{KindNodeUnreachable, []string{"dst/node-2"}, "", "", 3, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Analyze(tc.rows)
			if !reflect.DeepEqual(briefs(got), tc.want) {
				t.Errorf("findings\n got %+v\nwant %+v\n%s", briefs(got), tc.want, dump(got))
			}
			for _, f := range got {
				if strings.Contains(f.Summary, "node cluster-dns") || containsName(f.Nodes, "cluster-dns") || containsName(f.Nodes, "customized") {
					t.Errorf("a pseudo target is called a node: %+v", f)
				}
			}
		})
	}
	// The reason Kubernetes gave is carried.
	got := Analyze(except(mesh(4, only4, ok), func(r report.Row) bool { return r.SrcNode == "node-4" || r.DstNode == "node-4" }, notReady))
	if len(got) != 1 || got[0].Reason != "not scheduled: Unschedulable (0/4 nodes are available: 1 Insufficient cpu.)" || !strings.Contains(got[0].Summary, "node-4") {
		t.Errorf("agent-not-ready finding %+v", got)
	}
}

func containsName(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRendered: the table output prints the findings after the failure
// table and before the summary line; -o json carries them; a clean run
// prints no section and an empty array.
func TestRendered(t *testing.T) {
	rows := mesh(3, only4, failIf(touches("node-3")))
	rep := &report.Report{Rows: rows, Duration: time.Second, Findings: Analyze(rows)}
	var buf bytes.Buffer
	if err := report.WriteTable(&buf, rep, report.TableOptions{FailuresOnly: true}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	want := "Findings:\n  node-isolated: node node-3 is isolated (pod tcp): no other node reaches it and it reaches none\n" +
		"      4 of 4 rows from and to node-3 failed; all 2 rows among the other 2 nodes succeeded\n" +
		"checked 9 pairs in 1s: 5 succeeded, 4 failed, 0 exceptions\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("table output ends\n%s\nwant suffix\n%s", out, want)
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"kind": "node-isolated"`) || !strings.Contains(js.String(), `"nodes": [`) {
		t.Errorf("json lacks the finding:\n%s", js.String())
	}

	clean := mesh(3, only4, failIf(func(string, string, probe.Family) bool { return false }))
	rep = &report.Report{Rows: clean, Duration: time.Second, Findings: Analyze(clean)}
	buf.Reset()
	js.Reset()
	report.WriteTable(&buf, rep, report.TableOptions{})
	report.WriteJSON(&js, rep)
	if strings.Contains(buf.String(), "Findings") || !strings.Contains(js.String(), `"findings": []`) {
		t.Errorf("clean run: table has a Findings section or json lacks \"findings\": []\n%s\n%s", buf.String(), js.String())
	}
}
