package reach

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// JSONReport is the -o json document (docs/reach.md describes it and maps
// kdoctor's report fields onto it).
type JSONReport struct {
	Started   time.Time        `json:"started"`
	Duration  string           `json:"duration"`
	Rounds    int              `json:"rounds"`
	Request   Request          `json:"request"`
	Expect    Expect           `json:"expect"`
	Summary   JSONSummary      `json:"summary"`
	Results   []JSONRow        `json:"results"`
	Findings  []report.Finding `json:"findings"`
	Notes     []string         `json:"notes,omitempty"`
	Completed bool             `json:"completed"`
}

// JSONSummary counts rows by result.
type JSONSummary struct {
	Total     int `json:"total"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Exception int `json:"exception"`
}

// JSONRow is one (source, path, family, address).
type JSONRow struct {
	Source       Source           `json:"source"`
	Path         PathKind         `json:"path"`
	Family       string           `json:"family"`
	Address      string           `json:"address"`
	URL          string           `json:"url,omitempty"`
	Host         string           `json:"host,omitempty"`
	TargetNode   string           `json:"targetNode,omitempty"`
	Result       Result           `json:"result"`
	Reasons      []string         `json:"reasons,omitempty"`
	Requests     int64            `json:"requests"`
	Succeeded    int64            `json:"succeeded"`
	Queued       int64            `json:"queued,omitempty"`
	SuccessRate  float64          `json:"successRate"`
	TPS          float64          `json:"tps"`
	LatencyMs    JSONLatency      `json:"latencyMs"`
	StatusCodes  map[string]int64 `json:"statusCodes,omitempty"`
	Errors       map[string]int64 `json:"errors,omitempty"`
	ErrorSamples []string         `json:"errorSamples,omitempty"`
	Backends     JSONBackends     `json:"backends"`
}

// JSONLatency is in milliseconds with microsecond resolution.
type JSONLatency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// JSONBackends: who answered vs who should have.
type JSONBackends struct {
	Judged     bool         `json:"judged"`
	Reached    []Reached    `json:"reached"`
	Expected   []BackendRef `json:"expected"`
	Missing    []BackendRef `json:"missing,omitempty"`
	Unexpected []BackendRef `json:"unexpected,omitempty"`
}

func ms(us int64) float64 { return float64(us) / 1000 }

// ToJSON builds the json document.
func (r *Report) ToJSON() JSONReport {
	out := JSONReport{Started: r.Started, Duration: r.Duration.Round(time.Millisecond).String(), Rounds: r.Rounds,
		Request: r.Spec.Request, Expect: r.Spec.Expect, Findings: r.Findings, Notes: r.Notes, Completed: !r.Interrupted,
		Results: []JSONRow{}}
	if out.Findings == nil {
		out.Findings = []report.Finding{}
	}
	secs := float64(r.Spec.Request.DurationInSecond * max(1, r.Rounds))
	for _, row := range r.Rows {
		j := JSONRow{Source: row.Source, Path: row.Path, Family: row.Family, Address: row.Address, URL: row.URL, Host: row.Host,
			TargetNode: row.TargetNode, Result: row.Result, Reasons: row.Reasons, Requests: row.Requests, Succeeded: row.Succeeded, Queued: row.Queued,
			SuccessRate: row.SuccessRate(), Errors: row.Errors, ErrorSamples: row.ErrorSamples,
			LatencyMs: JSONLatency{Mean: row.MeanUs / 1000, P50: ms(row.P50Us), P90: ms(row.P90Us), P95: ms(row.P95Us), P99: ms(row.P99Us), Max: ms(row.MaxUs)},
			Backends:  JSONBackends{Judged: row.Judged, Reached: row.Backends, Expected: row.Expected, Missing: row.Missing, Unexpected: row.Unexpected}}
		if secs > 0 {
			j.TPS = float64(row.Succeeded) / secs
		}
		if j.Backends.Reached == nil {
			j.Backends.Reached = []Reached{}
		}
		if j.Backends.Expected == nil {
			j.Backends.Expected = []BackendRef{}
		}
		if len(row.StatusCodes) > 0 {
			j.StatusCodes = map[string]int64{}
			for c, n := range row.StatusCodes {
				j.StatusCodes[fmt.Sprint(c)] = n
			}
		}
		out.Results = append(out.Results, j)
		out.Summary.Total++
		switch row.Result {
		case Succeeded:
			out.Summary.Succeeded++
		case Failed:
			out.Summary.Failed++
		default:
			out.Summary.Exception++
		}
	}
	return out
}

// WriteJSON writes the json document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.ToJSON())
}

func msCell(us float64) string {
	if us <= 0 {
		return "-"
	}
	if us < 10000 {
		return fmt.Sprintf("%.2fms", us/1000)
	}
	return fmt.Sprintf("%.0fms", us/1000)
}

func successCell(r Row) string {
	if r.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*r.SuccessRate())
}

// WriteTable writes one table per source (node and vantage point), then
// failures with reasons, findings and notes. wide adds family, P90, P95,
// status codes and errors.
func (r *Report) WriteTable(w io.Writer, wide bool) {
	var keys []string
	by := map[string][]Row{}
	for _, row := range r.Rows {
		k := row.Source.Node + " (" + string(row.Source.Vantage) + ")"
		if by[k] == nil {
			keys = append(keys, k)
		}
		by[k] = append(by[k], row)
	}
	for _, k := range keys {
		fmt.Fprintf(w, "source %s\n", k)
		t := tablewriter.NewWriter(w)
		head := []string{"PATH", "TARGET", "REQUESTS", "SUCCESS", "MEAN", "P50", "P99", "MAX", "BACKENDS", "RESULT"}
		if wide {
			head = []string{"PATH", "FAMILY", "TARGET", "TARGET NODE", "REQUESTS", "SUCCESS", "MEAN", "P50", "P90", "P95", "P99", "MAX", "BACKENDS", "CODES", "ERRORS", "RESULT"}
		}
		t.SetHeader(head)
		t.SetAutoFormatHeaders(false)
		t.SetAutoWrapText(false)
		t.SetAlignment(tablewriter.ALIGN_LEFT)
		for _, row := range by[k] {
			target := row.Address
			if row.Host != "" { // the Host header, or the CoreDNS pod of a dns row
				target += " (" + row.Host + ")"
			}
			if !wide {
				t.Append([]string{string(row.Path), target, fmt.Sprint(row.Requests), successCell(row), msCell(row.MeanUs), msCell(float64(row.P50Us)),
					msCell(float64(row.P99Us)), msCell(float64(row.MaxUs)), row.BackendsCell(), string(row.Result)})
				continue
			}
			t.Append([]string{string(row.Path), row.Family, target, row.TargetNode, fmt.Sprint(row.Requests), successCell(row), msCell(row.MeanUs),
				msCell(float64(row.P50Us)), msCell(float64(row.P90Us)), msCell(float64(row.P95Us)), msCell(float64(row.P99Us)), msCell(float64(row.MaxUs)),
				row.BackendsCell(), codesCell(row.StatusCodes), errorsCell(row.Errors), string(row.Result)})
		}
		t.Render()
		fmt.Fprintln(w)
	}
	var failed []Row
	for _, row := range r.Rows {
		if row.Result != Succeeded {
			failed = append(failed, row)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintln(w, "Failures:")
		for _, row := range failed {
			fmt.Fprintf(w, "  %s %s from %s (%s) to %s %s: %s\n", row.Result, row.Path, row.Source.Node, row.Source.Vantage, row.Family, row.Address, strings.Join(row.Reasons, "; "))
		}
		fmt.Fprintln(w)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "Findings: none")
	} else {
		fmt.Fprintln(w, "Findings:")
		for _, f := range r.Findings {
			who := strings.Join(f.Nodes, ",")
			if f.Target != "" {
				if who != "" {
					who += " "
				}
				who += f.Target
			}
			fmt.Fprintf(w, "  %s [%s] %s\n", f.Kind, who, f.Summary)
			if f.Evidence != "" {
				fmt.Fprintf(w, "      %s\n", f.Evidence)
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w, r.SummaryLine())
}

// SummaryLine is the table's last line: rows, rounds, time and outcomes.
func (r *Report) SummaryLine() string {
	s := r.ToJSON().Summary
	return fmt.Sprintf("reach: %d rows in %d round(s), %s: %d succeeded, %d failed, %d exceptions", s.Total, r.Rounds, r.Duration.Round(time.Millisecond), s.Succeeded, s.Failed, s.Exception)
}

func codesCell(m map[int]int64) string {
	var codes []int
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var s []string
	for _, c := range codes {
		s = append(s, fmt.Sprintf("%d:%d", c, m[c]))
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

func errorsCell(m map[string]int64) string {
	var s []string
	for _, k := range sortedKeys(m) {
		s = append(s, fmt.Sprintf("%s:%d", k, m[k]))
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

// WriteJUnit writes the rows as JUnit XML through the check's writer
// (report.WriteJUnit): one testsuite per path kind ("reach nodeport"), one
// testcase "SOURCE (vantage) -> TARGET NODE (address)" per row; FAILED is a
// <failure>, EXCEPTION an <error>, with every reason.
func (r *Report) WriteJUnit(w io.Writer) error {
	rep := &report.Report{Started: r.Started, Duration: r.Duration}
	for _, row := range r.Rows {
		dst := row.TargetNode
		if dst == "" {
			dst = string(row.Path)
		}
		rr := report.Row{Pair: report.Pair{Mode: "reach", Protocol: probe.Kind(row.Path), Family: probe.Family(row.Family),
			SrcNode: row.Source.Node + " (" + string(row.Source.Vantage) + ")", DstNode: dst, TargetIP: row.Address},
			Log: strings.Join(row.Reasons, "; "), Latency: time.Duration(row.MeanUs) * time.Microsecond}
		switch row.Result {
		case Succeeded:
			rr.Result = report.Succeeded
		case Failed:
			rr.Result, rr.Class = report.Failed, probe.ClassOther
		default:
			rr.Result, rr.Class = report.Exception, probe.ClassAgentError
		}
		rep.Rows = append(rep.Rows, rr)
	}
	return report.WriteJUnit(w, rep)
}

// Failed says whether any row did not succeed (exit 1).
func (r *Report) Failed() bool {
	for _, row := range r.Rows {
		if row.Result != Succeeded {
			return true
		}
	}
	return len(r.Findings) > 0
}
