package report

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// FactsTable is a plain table of per-node facts (netctl diagnose) for
// WriteFactsHTML: the same header and cells its text table prints.
type FactsTable struct {
	Header []string
	Rows   [][]string
}

// WriteFactsHTML writes netctl diagnose's report as one self-contained HTML
// file: a summary line, the findings (as in check's report) and the
// per-node facts table. Nothing is fetched; the style is check's.
func WriteFactsHTML(w io.Writer, title string, t FactsTable, findings []Finding) error {
	e := html.EscapeString
	var b strings.Builder
	writeHTMLHead(&b, title)
	b.WriteString("<header><h1>")
	b.WriteString(e(title))
	b.WriteString("</h1></header>\n<main>\n")
	cls, line := "nd-nofind", fmt.Sprintf("no finding on %d node(s)", len(t.Rows))
	if len(findings) > 0 {
		cls, line = "nd-bad", fmt.Sprintf("%d finding(s) on %d node(s)", len(findings), len(t.Rows))
	}
	fmt.Fprintf(&b, "<p id=\"nd-line\" class=\"%s\">%s</p>\n", cls, e(line))
	writeHTMLFindings(&b, findings, true)
	b.WriteString("<h2>Node facts</h2>\n<table class=\"nd-rows\" id=\"nd-facts\"><thead><tr>")
	for _, h := range t.Header {
		fmt.Fprintf(&b, "<th>%s</th>", e(h))
	}
	b.WriteString("</tr></thead><tbody>\n")
	for _, r := range t.Rows {
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

// writeHTMLHead opens a report page: doctype, head with title and the
// shared inline style (nothing is fetched), and <body>.
func writeHTMLHead(b *strings.Builder, title string) {
	b.WriteString(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>`)
	b.WriteString(html.EscapeString(title))
	b.WriteString("</title>\n<style>")
	b.WriteString(MatrixCSS)
	b.WriteString("</style>\n</head>\n<body>\n")
}

// writeHTMLFindings writes the findings block of a report page; withNodes
// adds each finding's nodes ([a,b]) before its summary, as diagnose's
// table prints them.
func writeHTMLFindings(b *strings.Builder, findings []Finding, withNodes bool) {
	e := html.EscapeString
	b.WriteString(`<div class="nd-findings" id="nd-findings">`)
	if len(findings) == 0 {
		b.WriteString(`<p class="nd-nofind">No findings.</p>`)
	} else {
		b.WriteString("<h2>Findings</h2><ul>")
		for _, f := range findings {
			fmt.Fprintf(b, `<li class="nd-finding" data-kind="%s"><code>%s</code> `, e(f.Kind), e(f.Kind))
			if withNodes {
				fmt.Fprintf(b, "[%s] ", e(strings.Join(f.Nodes, ",")))
			}
			b.WriteString(e(f.Summary))
			if f.Evidence != "" {
				fmt.Fprintf(b, `<div class="nd-evidence">%s</div>`, e(f.Evidence))
			}
			b.WriteString("</li>")
		}
		b.WriteString("</ul>")
	}
	b.WriteString("</div>\n")
}
