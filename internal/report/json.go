package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// JSON output (-o json). The schema is documented in docs/output.md; change
// it only by adding fields, and bump APIVersion when a field changes meaning.
const (
	APIVersion = "netdoctor.io/v1"
	Kind       = "CheckReport"
)

// JSONReport is the document -o json writes (WriteJSON streams its rows).
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

// WriteJSON writes the -o json document, indented, rows sorted like the
// tables (r.Rows is sorted in place) and streamed one at a time.
func WriteJSON(w io.Writer, r *Report) error {
	Sort(r.Rows)
	return writeJSON(w, r, slices.Values(r.Rows))
}

// rowsPlaceholder is how the document's rows encode while they are left
// out (nil); the streamed rows go in its place. No string value can
// contain it: quotes and newlines inside strings are escaped.
const rowsPlaceholder = "\n  \"rows\": null"

// writeJSON writes the document of r with rows as its rows: everything but
// the rows is encoded first (small), then split where the rows go.
func writeJSON(w io.Writer, r *Report, rows iter.Seq[Row]) error {
	doc := JSONReport{
		APIVersion: APIVersion,
		Kind:       Kind,
		Summary: JSONSummary{
			Summary:         Summarize(r),
			Started:         r.Started.UTC(),
			DurationSeconds: r.Duration.Seconds(),
			Interrupted:     r.Interrupted,
		},
		Findings:     append([]Finding{}, r.Findings...),
		SkippedNodes: r.Skipped,
	}
	for _, p := range r.Phases {
		doc.Summary.Phases = append(doc.Summary.Phases, JSONPhase{Name: p.Name, Seconds: p.Duration.Seconds()})
	}
	shell, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	head, tail, ok := bytes.Cut(shell, []byte(rowsPlaceholder))
	if !ok {
		return fmt.Errorf("json document without %q", rowsPlaceholder) // a change of JSONReport broke the split
	}
	bw := newBuffered(w)
	bw.Write(head)
	bw.WriteString("\n  \"rows\": ")
	if _, err := writeArray(bw, "  ", jsonRows(rows)); err != nil {
		return err
	}
	bw.Write(tail)
	bw.WriteString("\n")
	return bw.Flush()
}

// jsonRows maps rows to their json form as they are read.
func jsonRows(rows iter.Seq[Row]) iter.Seq[JSONRow] {
	return func(yield func(JSONRow) bool) {
		for row := range rows {
			if !yield(JSONRow{Pair: row.Pair, Result: row.Result, Class: row.Class, Log: row.Log,
				LatencySeconds: row.Latency.Seconds(), Agent: row.Agent, PacketSize: row.PacketSize, Note: row.Note}) {
				return
			}
		}
	}
}
