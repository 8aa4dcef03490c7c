package report

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter"
)

// TableOptions selects what the table output shows.
type TableOptions struct {
	// Wide appends FAMILY, PROTOCOL, PORT, SRC IP, SIZE, LATENCY and CLASS after the
	// earlier columns (appended, so scripts that cut the earlier columns
	// by position keep working).
	Wide bool
	// FailuresOnly leaves out the success table.
	FailuresOnly bool
	// ShowAll prints the success table even for a large run (more than
	// LargeRun rows), where it is left out by default.
	ShowAll bool
}

// LargeRun is the row count above which the table leaves out the succeeded
// rows unless ShowAll: 100 nodes make 20,000 rows, and a person looks for
// the failures (json, junit and resume.json always hold every row).
const LargeRun = 1000

// WriteTable writes the earlier tool's tables: successes, then failures and
// exceptions with a LOG column, then the summary line. Empty tables are
// left out.
func WriteTable(w io.Writer, r *Report, opts TableOptions) error {
	var ok, bad []Row
	for _, row := range SortRows(r.Rows) {
		if row.Result == Succeeded {
			ok = append(ok, row)
		} else {
			bad = append(bad, row)
		}
	}
	large := len(r.Rows) > LargeRun && !opts.ShowAll
	showOK := !opts.FailuresOnly && !large
	if len(ok) > 0 && showOK {
		writeOneTable(w, ok, opts.Wide, false)
	}
	if len(bad) > 0 {
		if len(ok) > 0 && showOK {
			fmt.Fprintln(w)
		}
		writeOneTable(w, bad, opts.Wide, true)
	}
	if large && !opts.FailuresOnly && len(ok) > 0 {
		fmt.Fprintf(w, "%d succeeded rows left out (more than %d rows); --show-all shows them\n", len(ok), LargeRun)
	}
	writeFindings(w, r.Findings)
	writeNotes(w, r.Rows)
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped node %s: %s\n", s.Node, s.Reason)
	}
	_, err := fmt.Fprintln(w, SummaryLine(r))
	return err
}

func writeOneTable(w io.Writer, rows []Row, wide, withLog bool) {
	header := []string{"S/N", "SRC NODE NAME", "DST NODE NAME", "TARGET IP", "RESULT"}
	if wide {
		header = append(header, "FAMILY", "PROTOCOL", "PORT", "SRC IP", "SIZE", "LATENCY", "CLASS")
	}
	if withLog {
		header = append(header, "LOG")
	}
	t := tablewriter.NewWriter(w)
	t.SetHeader(header)
	t.SetAutoFormatHeaders(false)
	// One line per row: LOG lines are greppable and never split.
	t.SetAutoWrapText(false)
	t.SetAlignment(tablewriter.ALIGN_LEFT)
	aligns := make([]int, len(header))
	aligns[0] = tablewriter.ALIGN_RIGHT
	for i := 1; i < len(aligns); i++ {
		aligns[i] = tablewriter.ALIGN_LEFT
	}
	t.SetColumnAlignment(aligns)
	for i, row := range rows {
		cells := []string{strconv.Itoa(i + 1), row.SrcNode, row.DstNode, row.TargetIP, string(row.Result)}
		if wide {
			cells = append(cells, string(row.Family), string(row.Protocol), portCell(row.Port), row.SrcIP,
				portCell(row.PacketSize), latencyCell(row), string(row.Class))
		}
		if withLog {
			cells = append(cells, row.Log)
		}
		t.Append(cells)
	}
	t.Render()
}

func portCell(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

// latencyCell shows milliseconds with two decimals (cluster round trips are
// well under a millisecond to a few milliseconds), seconds from 1s up.
func latencyCell(row Row) string {
	switch {
	case row.Latency == 0:
		return ""
	case row.Latency < time.Second:
		return fmt.Sprintf("%.2fms", float64(row.Latency)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3fs", row.Latency.Seconds())
}

// writeNotes prints each distinct setup note once, with the source nodes it
// came from (e.g. packetSize larger than the pods' MTU on an overlay).
func writeNotes(w io.Writer, rows []Row) {
	var order []string
	from := map[string]map[string]bool{}
	for _, row := range rows {
		if row.Note == "" {
			continue
		}
		if from[row.Note] == nil {
			from[row.Note] = map[string]bool{}
			order = append(order, row.Note)
		}
		from[row.Note][row.SrcNode] = true
	}
	for _, n := range order {
		fmt.Fprintf(w, "note: %s (from %d source nodes)\n", n, len(from[n]))
	}
}
