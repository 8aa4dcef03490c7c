// Package diagnosereport is what `netctl diagnose` prints: every node's
// facts, the findings and the rules that could not be applied, as table,
// json and html. Document implements the printers interfaces, so diagnose's
// -o goes through internal/cli/printers like every other command's.
package diagnosereport

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diagnose"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Document is one diagnose run's result.
type Document struct {
	Facts    *check.Facts
	Findings []report.Finding
	// Inconclusive are the rules that could not be applied, and why
	// ("Not checked"): listed in every format, never a finding.
	Inconclusive []diagnose.Inconclusive
}

// JSONOutput is the -o json document.
type JSONOutput struct {
	Facts    map[string]agent.NodeFacts `json:"facts"`
	Findings []report.Finding           `json:"findings"`
	// PodInterfaces are the running pods matched to their host veths
	// (absent when the pods could not be listed).
	PodInterfaces []diagnose.PodVeth `json:"podInterfaces,omitempty"`
	// DNS are the queries each node sent to the cluster DNS Service and
	// to each CoreDNS replica.
	DNS []check.DNSQuery `json:"dns,omitempty"`
	// Inconclusive are the rules that could not be applied, and why.
	Inconclusive []diagnose.Inconclusive `json:"inconclusive,omitempty"`
}

// PrintJSON prints JSONOutput (findings as [] when there are none).
func (d *Document) PrintJSON(w io.Writer) error {
	out := JSONOutput{Facts: d.Facts.ByNode, Findings: d.Findings, PodInterfaces: diagnose.PodVeths(d.Facts.ByNode, d.Facts.Pods), DNS: d.Facts.DNS, Inconclusive: d.Inconclusive}
	if out.Findings == nil {
		out.Findings = []report.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// factsTable is the per-node facts summary, one row per node: what the
// table and the html output show.
type factsTable struct {
	header []string
	rows   [][]string
}

func (d *Document) factsTable() factsTable {
	facts := d.Facts
	t := factsTable{header: []string{"NODE", "MTU", "ROUTES", "CONNTRACK", "NEIGHBOURS"}}
	for _, n := range facts.Nodes {
		if facts.Only != "" && n.Name != facts.Only {
			continue
		}
		f, ok := facts.ByNode[n.Name]
		if !ok {
			t.rows = append(t.rows, []string{n.Name, "-", "-", "-", "-"})
			continue
		}
		mtu := "?"
		if m := diagnose.NodeMTU(n, f); m > 0 {
			mtu = strconv.Itoa(m)
		}
		t.rows = append(t.rows, []string{n.Name, mtu, strconv.Itoa(len(f.Routes)), usage(f.Conntrack.Count, f.Conntrack.Max),
			usage(len(f.Neighbours), f.NeighGC4[2])})
	}
	return t
}

// PrintTable prints the per-node facts summary, the conntrack counts
// asked for, the rules not checked, then one line per finding.
func (d *Document) PrintTable(w io.Writer) error {
	ft := d.factsTable()
	t := tablewriter.NewWriter(w)
	t.SetHeader(ft.header)
	t.SetAutoFormatHeaders(false)
	t.SetAutoWrapText(false)
	t.SetAlignment(tablewriter.ALIGN_LEFT)
	t.AppendBulk(ft.rows)
	t.Render()
	for _, n := range d.Facts.Nodes {
		for _, c := range d.Facts.ByNode[n.Name].ConntrackDst {
			if c.Skipped != "" {
				fmt.Fprintf(w, "conntrack entries toward %s on %s: skipped: %s\n", c.IP, n.Name, c.Skipped)
			} else {
				fmt.Fprintf(w, "conntrack entries toward %s on %s: %d\n", c.IP, n.Name, c.Count)
			}
		}
	}
	if len(d.Inconclusive) > 0 {
		fmt.Fprintln(w, "\nInconclusive (not checked):")
		for _, i := range d.Inconclusive {
			fmt.Fprintf(w, "  %s [%s] %s\n", i.Rule, strings.Join(i.Nodes, ","), i.Reason)
		}
	}
	if len(d.Findings) == 0 {
		fmt.Fprintln(w, "\nFindings: none")
		return nil
	}
	fmt.Fprintln(w, "\nFindings:")
	for _, f := range d.Findings {
		fmt.Fprintf(w, "  %s [%s] %s\n", f.Kind, strings.Join(f.Nodes, ","), f.Summary)
		if f.Evidence != "" {
			fmt.Fprintf(w, "      %s\n", f.Evidence)
		}
	}
	return nil
}

// PrintHTML prints one self-contained page: a summary line, the findings
// (as in check's report), the rules not checked and the per-node facts
// table. Nothing is fetched; the style is check's.
func (d *Document) PrintHTML(w io.Writer) error {
	const title = "netctl diagnose"
	e := html.EscapeString
	ft := d.factsTable()
	var b strings.Builder
	report.WriteHTMLHead(&b, title)
	b.WriteString("<header><h1>" + e(title) + "</h1></header>\n<main>\n")
	cls, line := "nd-nofind", fmt.Sprintf("no finding on %d node(s)", len(ft.rows))
	if len(d.Findings) > 0 {
		cls, line = "nd-bad", fmt.Sprintf("%d finding(s) on %d node(s)", len(d.Findings), len(ft.rows))
	}
	fmt.Fprintf(&b, "<p id=\"nd-line\" class=\"%s\">%s</p>\n", cls, e(line))
	report.WriteHTMLFindings(&b, d.Findings, true)
	if len(d.Inconclusive) > 0 {
		b.WriteString(`<div class="nd-findings" id="nd-notchecked"><h2>Not checked</h2><ul>`)
		for _, i := range d.Inconclusive {
			fmt.Fprintf(&b, `<li class="nd-inconclusive" data-rule="%s"><code>%s</code> [%s] %s</li>`,
				e(i.Rule), e(i.Rule), e(strings.Join(i.Nodes, ",")), e(i.Reason))
		}
		b.WriteString("</ul></div>\n")
	}
	b.WriteString("<h2>Node facts</h2>\n<table class=\"nd-rows\" id=\"nd-facts\"><thead><tr>")
	for _, h := range ft.header {
		fmt.Fprintf(&b, "<th>%s</th>", e(h))
	}
	b.WriteString("</tr></thead><tbody>\n")
	for _, r := range ft.rows {
		b.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(&b, "<td>%s</td>", e(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table>\n</main>\n</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// usage renders "count/max" with "?" for an unknown (-1) value.
func usage(count, max int) string {
	s := func(v int) string {
		if v < 0 {
			return "?"
		}
		return strconv.Itoa(v)
	}
	return s(count) + "/" + s(max)
}
