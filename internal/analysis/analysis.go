// Package analysis turns a check's rows into findings: which node, link,
// direction, IP family or component is the likely culprit of its failures.
//
// The rules are conservative: a culprit is named only when the rows fit its
// pattern exactly (every pair it predicts to fail failed, every other pair
// succeeded, and the pairs that tell it apart from the other explanations
// were checked). Anything else gets a generic finding that only counts
// where the failures are, never a claim the rows do not support.
package analysis

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Pseudo destinations that are not nodes (internal/check names them).
const (
	dnsTargetName        = "cluster-dns"
	customizedTargetName = "customized"
)

// Finding kinds (stable: documented in docs/output.md).
const (
	KindNodeIsolated      = "node-isolated"      // nothing reaches X and X reaches nothing
	KindNodeUnreachable   = "node-unreachable"   // nothing reaches X; X's own probes did not run
	KindInboundBlocked    = "inbound-blocked"    // nothing reaches X; X reaches everything
	KindOutboundBlocked   = "outbound-blocked"   // X reaches nothing; everything reaches X
	KindNodeCannotReach   = "node-cannot-reach"  // X reaches nothing; whether X is reachable was not checked
	KindLinkDown          = "link-down"          // A and B cannot reach each other; both reach every other node
	KindOneWay            = "one-way"            // A cannot reach B; B reaches A; both reach every other node
	KindFamilyOnly        = "family-only"        // every pair of one IP family failed, every pair of the other succeeded
	KindAllFailing        = "all-failing"        // every checked pair failed: no single culprit
	KindTargetFailures    = "target-failures"    // generic: the node(s) most failures go towards
	KindSourceFailures    = "source-failures"    // generic: the node(s) most failures come from
	KindScattered         = "scattered-failures" // generic: failures spread evenly over every node
	KindDNSFailing        = "dns-failing"        // queries to a DNS server fail
	KindCustomizedFailing = "customized-failing" // probes to a customizedTargetIPList target fail
	KindAgentNotReady     = "agent-not-ready"    // a node's agent never became ready: its pairs could not run
	KindAgentUnreachable  = "agent-unreachable"  // the CLI could not reach a node's agent through the API server
	KindAgentsUnreachable = "agents-unreachable" // the CLI reached no agent at all
	KindNotChecked        = "not-checked"        // other exceptions (skipped checks, agent errors), by class
)

// Analyze derives findings from a run's rows. It is pure: the same rows (in
// any order) give the same findings. No rows or all succeeded: nil.
func Analyze(rows []report.Row) []report.Finding {
	a := analyzer{qualify: twoClusters(rows)}
	var exceptions, dns, custom []report.Row
	mesh := map[scope][]report.Row{}
	for _, r := range report.SortRows(rows) { // sorted: findings never depend on arrival order
		switch {
		case r.Result == report.Exception:
			exceptions = append(exceptions, r)
		case r.Protocol == probe.KindDNS:
			dns = append(dns, r)
		case r.DstNode == customizedTargetName || r.Protocol == probe.KindConn || r.Protocol == probe.KindUDPSend:
			custom = append(custom, r)
		case r.DstNode == dnsTargetName:
			// Never a node; a non-dns probe to it has no pattern to read.
			custom = append(custom, r)
		default:
			s := scope{r.Mode, r.Protocol}
			mesh[s] = append(mesh[s], r)
		}
	}
	var out []report.Finding
	out = append(out, a.exceptions(exceptions, rows)...)
	scopes := make([]scope, 0, len(mesh))
	for s := range mesh {
		scopes = append(scopes, s)
	}
	slices.SortFunc(scopes, func(x, y scope) int { return cmp.Or(cmp.Compare(x.mode, y.mode), cmp.Compare(x.protocol, y.protocol)) })
	for _, s := range scopes {
		out = append(out, a.mesh(s, mesh[s])...)
	}
	out = append(out, a.dns(dns)...)
	out = append(out, a.customized(custom)...)
	return out
}

// scope is one mode and protocol: the rows whose patterns are read together.
type scope struct {
	mode     string
	protocol probe.Kind
}

func (s scope) String() string {
	if s.mode == "" {
		return string(s.protocol)
	}
	return s.mode + " " + string(s.protocol)
}

type analyzer struct {
	// qualify prefixes node names with their cluster ("src/", "dst/") in
	// two-cluster runs, where the same name may be two different nodes.
	qualify bool
}

func twoClusters(rows []report.Row) bool {
	for _, r := range rows {
		if r.SrcCluster == "dst" || r.DstCluster == "dst" {
			return true
		}
	}
	return false
}

func (a analyzer) node(cluster, name string) string {
	if !a.qualify {
		return name
	}
	if cluster == "" {
		cluster = "src"
	}
	return cluster + "/" + name
}

func (a analyzer) src(r report.Row) string { return a.node(r.SrcCluster, r.SrcNode) }
func (a analyzer) dst(r report.Row) string { return a.node(r.DstCluster, r.DstNode) }

func sortNames(names []string) []string {
	slices.SortFunc(names, report.CompareNames)
	return slices.Compact(names)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
