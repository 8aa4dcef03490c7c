package analysis

import (
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/report"
)

// TestWithPolicies: failed rows with policies selecting the agents give one
// network-policy finding naming them, replacing network-blaming findings;
// agent findings stay; no failure or no policy changes nothing.
func TestWithPolicies(t *testing.T) {
	rows := []report.Row{{Result: report.Failed}, {Result: report.Failed}, {Result: report.Succeeded}}
	in := []report.Finding{{Kind: KindNodeIsolated}, {Kind: KindAgentUnreachable}}
	out := WithPolicies(in, rows, []string{"nd/default-deny", "nd/other"})
	if len(out) != 1 || out[0].Kind != KindNetworkPolicy {
		t.Fatalf("findings %+v", out)
	}
	f := out[0]
	if !strings.Contains(f.Summary, "NetworkPolicies nd/default-deny, nd/other select the agent pods") || f.Target != "nd/default-deny,nd/other" || f.Failed != 2 || f.Total != 3 {
		t.Errorf("finding %+v", f)
	}
	unreach := []report.Row{{Result: report.Exception, Agent: &report.AgentProblem{Kind: report.AgentUnreachable}}}
	if got := WithPolicies([]report.Finding{{Kind: KindAgentsUnreachable}, {Kind: KindAgentNotReady}}, unreach, []string{"nd/deny"}); len(got) != 2 || got[0].Kind != KindNetworkPolicy || got[1].Kind != KindAgentNotReady || got[0].Failed != 1 {
		t.Errorf("unreachable agents: %+v", got)
	}
	if got := WithPolicies(in, rows, nil); len(got) != 2 || got[0].Kind != KindNodeIsolated {
		t.Errorf("no policies: %+v", got)
	}
	if got := WithPolicies(in, rows[2:], []string{"nd/x"}); len(got) != 2 || got[0].Kind != KindNodeIsolated {
		t.Errorf("no failure: %+v", got)
	}
}
