// The parts every report page shares (check's, diagnose's): head with
// the inline style, and the findings block.

package report

import (
	"fmt"
	"html"
	"strings"
)

// WriteHTMLHead opens a report page: doctype, head with title and the
// shared inline style (nothing is fetched), and <body>.
func WriteHTMLHead(b *strings.Builder, title string) {
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

// WriteHTMLFindings writes the findings block of a report page; withNodes
// adds each finding's nodes ([a,b]) before its summary, as diagnose's
// table prints them.
func WriteHTMLFindings(b *strings.Builder, findings []Finding, withNodes bool) {
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
