package report

import (
	"fmt"
	"io"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Finding names the likely culprit behind a run's failures: a node, a link,
// a direction, an IP family or a component. Package diagnose derives them
// from the rows; they are data here so every output format can carry them.
type Finding struct {
	// Kind is stable and machine-readable, e.g. "link-down", "node-isolated",
	// "inbound-blocked" (docs/output.md lists every kind).
	Kind string `json:"kind"`
	// Summary is one human line naming the culprit.
	Summary string `json:"summary"`
	// Evidence says which counts the claim rests on.
	Evidence string `json:"evidence"`
	// Nodes are the culprit nodes (for link-down and one-way: from, to). In
	// two-cluster checks names are qualified "src/NAME" or "dst/NAME".
	Nodes []string `json:"nodes,omitempty"`
	// Target is a culprit that is not a node: a DNS server ("cluster-dns"
	// or its IP), a customized target ip:port, or for route-missing the
	// pod CIDRs without a route (comma-separated).
	Target   string       `json:"target,omitempty"`
	Mode     string       `json:"mode,omitempty"`
	Protocol probe.Kind   `json:"protocol,omitempty"`
	Family   probe.Family `json:"family,omitempty"` // set when only this family is affected
	// Reason is the cause reported by Kubernetes or the CLI (agent findings).
	Reason string `json:"reason,omitempty"`
	// Failed of Total rows of the pattern did not succeed.
	Failed int `json:"failed"`
	Total  int `json:"total"`
}

// writeFindings prints the "Findings:" section of the table output: each
// finding's summary, then its evidence indented. Nothing when there are none.
func writeFindings(w io.Writer, fs []Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintln(w, "Findings:")
	for _, f := range fs {
		fmt.Fprintf(w, "  %s: %s\n", f.Kind, f.Summary)
		if f.Evidence != "" {
			fmt.Fprintf(w, "      %s\n", f.Evidence)
		}
	}
}
