package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// JSON output (-o json). The schema is documented in docs/output.md; change
// it only by adding fields, and bump APIVersion when a field changes meaning.
const (
	APIVersion = "netdoctor.io/v1"
	Kind       = "CheckReport"
)

// JSONReport is the document -o json writes.
type JSONReport struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Summary    JSONSummary `json:"summary"`
	Rows       []JSONRow   `json:"rows"`
	// Findings are the likely culprits (docs/output.md); [] when none.
	Findings []Finding `json:"findings"`
	// SkippedNodes are the nodes no agent can run on (omitted when none).
	SkippedNodes []SkippedNode `json:"skippedNodes,omitempty"`
}

// JSONSummary is Summary plus run timing.
type JSONSummary struct {
	Summary
	Started         time.Time   `json:"started"`
	DurationSeconds float64     `json:"durationSeconds"`
	Interrupted     bool        `json:"interrupted"`
	Phases          []JSONPhase `json:"phases,omitempty"`
}

// JSONPhase is a Phase with its duration in seconds.
type JSONPhase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// JSONRow is a Row with the latency in seconds (a float, so consumers need
// not know Go's nanosecond Duration).
type JSONRow struct {
	Pair
	Result         Result             `json:"result"`
	Class          probe.FailureClass `json:"class,omitempty"`
	Log            string             `json:"log,omitempty"`
	LatencySeconds float64            `json:"latencySeconds,omitempty"`
	Agent          *AgentProblem      `json:"agentProblem,omitempty"`
	PacketSize     int                `json:"packetSize,omitempty"`
	Note           string             `json:"note,omitempty"`
}

// ToJSON converts r into the -o json document, rows sorted like the tables.
func ToJSON(r *Report) JSONReport {
	out := JSONReport{
		APIVersion: APIVersion,
		Kind:       Kind,
		Summary: JSONSummary{
			Summary:         Summarize(r),
			Started:         r.Started.UTC(),
			DurationSeconds: r.Duration.Seconds(),
			Interrupted:     r.Interrupted,
		},
		Rows:         []JSONRow{},
		Findings:     append([]Finding{}, r.Findings...),
		SkippedNodes: r.Skipped,
	}
	for _, p := range r.Phases {
		out.Summary.Phases = append(out.Summary.Phases, JSONPhase{Name: p.Name, Seconds: p.Duration.Seconds()})
	}
	for _, row := range SortRows(r.Rows) {
		out.Rows = append(out.Rows, JSONRow{
			Pair: row.Pair, Result: row.Result, Class: row.Class, Log: row.Log,
			LatencySeconds: row.Latency.Seconds(), Agent: row.Agent, PacketSize: row.PacketSize, Note: row.Note,
		})
	}
	return out
}

// WriteJSON writes the -o json document, indented.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ToJSON(r))
}
