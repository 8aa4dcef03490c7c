package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/report"
)

// KindNetworkPolicy: NetworkPolicies other than netctl's select the agent
// pods and rows FAILED; they, not the network, are the likely cause.
const KindNetworkPolicy = "network-policy"

// WithPolicies adjusts findings for the NetworkPolicies (namespace/name)
// that select the agent pods: when any row FAILED, one network-policy
// finding names them and replaces the findings that blame the network
// (nodes, links, DNS, targets); findings about agents and exceptions stay.
// No policies or no FAILED row: findings unchanged.
func WithPolicies(findings []report.Finding, rows []report.Row, policies []string) []report.Finding {
	if len(policies) == 0 {
		return findings
	}
	failed := 0
	for _, r := range rows {
		if r.Result == report.Failed {
			failed++
		}
	}
	if failed == 0 {
		return findings
	}
	what, verb := "NetworkPolicy", "selects"
	if len(policies) > 1 {
		what, verb = "NetworkPolicies", "select"
	}
	f := report.Finding{
		Kind: KindNetworkPolicy,
		Summary: fmt.Sprintf("%s %s %s the agent pods and likely blocked the failed pairs (rather than the network)",
			what, strings.Join(policies, ", "), verb),
		Evidence: fmt.Sprintf("%d of %d pairs FAILED while %s other than netctl's own %s the agents; networkPolicy: auto makes netctl admit its agents' traffic (icmp excepted: engines differ)",
			failed, len(rows), what, verb),
		Target: strings.Join(policies, ","),
		Failed: failed,
		Total:  len(rows),
	}
	out := []report.Finding{f}
	for _, g := range findings {
		switch g.Kind {
		case KindAgentNotReady, KindAgentUnreachable, KindAgentsUnreachable, KindNotChecked:
			out = append(out, g)
		}
	}
	return out
}
