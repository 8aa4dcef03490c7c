package analysis

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
// (nodes, links, DNS, targets) and the agent-unreachable ones (a policy
// also blocks the API server's pod proxy); other findings stay. No
// policies, or no FAILED row and no unreachable agent: unchanged.
func WithPolicies(findings []report.Finding, rows []report.Row, policies []string) []report.Finding {
	if len(policies) == 0 {
		return findings
	}
	failed, unreachable := 0, 0
	for _, r := range rows {
		switch {
		case r.Result == report.Failed:
			failed++
		case r.Agent != nil && r.Agent.Kind == report.AgentUnreachable:
			unreachable++
		}
	}
	if failed+unreachable == 0 {
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
		Evidence: fmt.Sprintf("%d of %d pairs FAILED and %d could not run (agent unreachable) while %s other than netctl's own %s the agents; networkPolicy: auto (the default; none opts out) adds a policy of netctl's admitting its agents' traffic, icmp included",
			failed, len(rows), unreachable, what, verb),
		Target: strings.Join(policies, ","),
		Failed: failed + unreachable,
		Total:  len(rows),
	}
	out := []report.Finding{f}
	for _, g := range findings {
		switch g.Kind {
		case KindAgentNotReady, KindNotChecked:
			out = append(out, g)
		}
	}
	return out
}
