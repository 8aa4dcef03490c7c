package monitorcmd

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

func TestPrintReachBackendsCell(t *testing.T) {
	var out bytes.Buffer
	printReach(&out, api.ReachStatus{
		Paths: []api.ReachPathStatus{
			{SourceNode: "n1", Path: "clusterip", Family: "IPv4", Round: 7, Targets: 1, Requests: 50, Succeeded: 40,
				BackendsReached: 2, BackendsExpected: 3, Result: "FAILED"},
			{SourceNode: "n1", Path: "nodeport", Family: "IPv4", Round: 7, Targets: 3, Requests: 30, Succeeded: 30,
				BackendsReached: 3, BackendsExpected: 3, Inconclusive: 2, Result: "SUCCEEDED"},
			{SourceNode: "n2", Path: "pod", Family: "IPv6", Round: 3, Targets: 3, Requests: 0, Result: "EXCEPTION", Stale: true},
		},
		Failed: []api.ReachRowStatus{{SourceNode: "n1", Path: "clusterip", Family: "IPv4", Address: "10.96.0.20:8890",
			Result: "FAILED", Reasons: []string{"backends 2/3: never reached agent-c on n3"}}},
		Notes: []string{"gateway path: reading Gateway gw/main: not found"},
	})
	got := out.String()
	for _, want := range []string{
		`n1\s*\|\s*clusterip\s*\|\s*IPv4\s*\|\s*7\s*\|\s*1\s*\|\s*50\s*\|\s*80\.00%\s*\|\s*2/3\s*\|\s*FAILED`,
		`nodeport\s*\|.*\|\s*100\.00%\s*\|\s*3/3\?\s*\|\s*SUCCEEDED`,
		`n2\s*\|\s*pod\s*\|\s*IPv6\s*\|.*\|\s*-\s*\|\s*-\s*\|\s*EXCEPTION \(stale: next round overdue\)`,
		`n1 clusterip IPv4 10\.96\.0\.20:8890: FAILED: backends 2/3: never reached agent-c on n3`,
		`not in the rounds: gateway path: reading Gateway gw/main: not found`,
	} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(got, "Reach (latest round per source node):\n") {
		t.Errorf("output should start with the Reach title:\n%s", got)
	}
}
