package e2e

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/analysis"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// TestFindings: each sandbox fault is named by exactly one finding of the
// right kind on the right nodes (and protocol), a healthy cluster by none,
// and the table output prints the same finding under "Findings:".
func TestFindings(t *testing.T) {
	c := ownCluster(t, "e2ediag", 4, "dual")
	names := c.nodeNames()
	sort.Strings(names)
	a, b := names[0], names[1]
	dir := workdir(t)
	podTCP := []string{"--mode", "pod", "--protocol", "tcp"}

	t.Run("healthy", func(t *testing.T) {
		rep, r := check(t, c, dir, podTCP...)
		if r.Code != 0 {
			t.Fatalf("healthy cluster: exit %d\n%s", r.Code, r.Stderr)
		}
		if rep.Findings == nil || len(rep.Findings) != 0 {
			t.Errorf("healthy cluster: findings %+v, want an empty array", rep.Findings)
		}
		tr := netctl(t, dir, append([]string{"check", "--kubeconfig", c.Kubeconfig}, podTCP...)...)
		if tr.Code != 0 || strings.Contains(tr.Stdout, "Findings:") {
			t.Errorf("healthy cluster table output: exit %d, has a Findings section:\n%s", tr.Code, tr.Stdout)
		}
	})

	cases := []struct {
		name     string
		fault    []string
		kind     string
		nodes    []string
		protocol probe.Kind
		failed   int // rows the finding counts as failed (4 nodes, 2 families)
	}{
		{"link", []string{"link", a, b}, analysis.KindLinkDown, []string{a, b}, probe.KindTCP, 4},
		{"oneway", []string{"oneway", a, b}, analysis.KindOneWay, []string{a, b}, probe.KindTCP, 2},
		{"port", []string{"port", b, "8889", "tcp"}, analysis.KindInboundBlocked, []string{b}, probe.KindTCP, 6},
		// The node's pods lose their routes: nothing reaches them and they
		// reach nothing, while the pod still reaches itself.
		{"pod-routes", []string{"pod-routes", b}, analysis.KindNodeIsolated, []string{b}, probe.KindTCP, 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.fault(t, tc.fault...)
			rep, r := check(t, c, dir, podTCP...)
			if r.Code != 1 {
				t.Errorf("exit code %d, want 1", r.Code)
			}
			if len(rep.Findings) != 1 {
				t.Fatalf("%d findings, want exactly one %s %v:\n%s", len(rep.Findings), tc.kind, tc.nodes, findingLines(rep.Findings))
			}
			f := rep.Findings[0]
			t.Logf("finding: %s", findingLines(rep.Findings))
			if f.Kind != tc.kind || !reflect.DeepEqual(f.Nodes, tc.nodes) || f.Protocol != tc.protocol || f.Family != "" {
				t.Errorf("finding %s %v (%s, family %q), want %s %v (%s, both families)\n%s",
					f.Kind, f.Nodes, f.Protocol, f.Family, tc.kind, tc.nodes, tc.protocol, findingLines(rep.Findings))
			}
			if f.Failed != tc.failed || f.Total != tc.failed {
				t.Errorf("evidence counts %d of %d, want %d of %d: %s", f.Failed, f.Total, tc.failed, tc.failed, f.Evidence)
			}
			// The counts agree with the rows themselves.
			if failed := countResult(rep, resultFailed); failed != tc.failed {
				t.Errorf("%d FAILED rows, the finding counts %d", failed, tc.failed)
			}
			for _, n := range tc.nodes {
				if !strings.Contains(f.Summary, n) {
					t.Errorf("summary %q does not name %s", f.Summary, n)
				}
			}
			if tc.name == "link" {
				// The table output carries the same finding after the tables.
				tr := netctl(t, dir, append([]string{"check", "--kubeconfig", c.Kubeconfig, "--failures-only"}, podTCP...)...)
				want := "Findings:\n  " + analysis.KindLinkDown + ": " + f.Summary + "\n"
				if tr.Code != 1 || !strings.Contains(tr.Stdout, want) {
					t.Errorf("table output (exit %d) lacks %q:\n%s", tr.Code, want, tr.Stdout)
				}
			}
		})
	}
}

func countResult(rep jsonReport, res result) int {
	n := 0
	for _, r := range rep.Rows {
		if r.Result == res {
			n++
		}
	}
	return n
}

func findingLines(fs []jsonFinding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.Kind + " " + strings.Join(f.Nodes, ",") + ": " + f.Summary + " | " + f.Evidence + "\n")
	}
	return b.String()
}
