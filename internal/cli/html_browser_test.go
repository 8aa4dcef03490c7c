package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/netdoctor/netdoctor/internal/browsertest"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// htmlReportRows: 4 nodes, pod tcp over both families; the link n1 <-> n3
// is down (both families, both ways) and n2 -> n4 over IPv4 could not run.
func htmlReportRows() []report.Row {
	var rows []report.Row
	for _, fam := range []probe.Family{probe.IPv4, probe.IPv6} {
		for s := 1; s <= 4; s++ {
			for d := 1; d <= 4; d++ {
				ip := fmt.Sprintf("10.0.%d.2", d)
				if fam == probe.IPv6 {
					ip = fmt.Sprintf("fd00::%d:2", d)
				}
				r := report.Row{Pair: report.Pair{Mode: "pod", Protocol: probe.KindTCP, Family: fam,
					SrcNode: fmt.Sprintf("n%d", s), DstNode: fmt.Sprintf("n%d", d), TargetIP: ip, Port: 8889},
					Result: report.Succeeded, Latency: time.Duration(s*d) * 100 * time.Microsecond}
				switch {
				case (s == 1 && d == 3) || (s == 3 && d == 1):
					r.Result, r.Class, r.Log, r.Latency = report.Failed, probe.ClassTimeout, "no answer within 10s <b>", 0
				case s == 2 && d == 4 && fam == probe.IPv4:
					r.Result, r.Class, r.Log, r.Latency = report.Exception, probe.ClassAgentError, "agent error: busy", 0
				}
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// TestCheckHTMLReportInBrowser runs `netctl check -o html --output-file`
// (engine faked) and opens the file in headless Chromium: the matrix shows
// exactly the report's failed and exception cells, the failure table
// exactly its rows that did not succeed, and the finding names the link;
// the file loads nothing from anywhere.
func TestCheckHTMLReportInBrowser(t *testing.T) {
	browsertest.Require(t) // skips, or fails under NETDOCTOR_E2E=require, before any work
	dir := env(t)
	f := &fakeEngine{rows: htmlReportRows()}
	if r := run(t, context.Background(), f, "check", "--no-progress", "-o", "html", "--output-file", "report.html"); r.code != 1 {
		t.Fatalf("exit %d, want 1 (failures)\n%s", r.code, r.stderr)
	}
	path := filepath.Join(dir, "report.html")
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script src", "<link ", "http://", "https://", "10s <b>"} {
		if strings.Contains(string(page), bad) {
			t.Errorf("report.html contains %q: it must be self-contained and escape row text", bad)
		}
	}
	b := browsertest.New(t, 2*time.Minute)
	if err := chromedp.Do(b.Ctx, chromedp.Navigate("file://"+path)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](`document.body.dataset.rendered === "1"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("matrix never rendered: %v", err)
	}
	type shown struct {
		Failed   []string   `json:"failed"`
		OK       int        `json:"ok"`
		Views    []string   `json:"views"`
		Rows     [][]string `json:"rows"`
		Findings []string   `json:"findings"`
		Line     string     `json:"line"`
	}
	got, err := chromedp.Run(b.Ctx, chromedp.Evaluate[shown](`(() => {
	  const failed = [], views = [];
	  let ok = 0;
	  document.querySelectorAll("section.nd-view").forEach(sec => {
	    const v = sec.querySelector("h3").firstChild.textContent.trim();
	    views.push(v);
	    sec.querySelectorAll("table.nd-matrix td").forEach(td => {
	      if (td.className === "fl") { const n = NDMatrix.cellNames(td); failed.push(v + " " + n.s + ">" + n.t); }
	      else if (/^k[0-4]$/.test(td.className)) ok++;
	    });
	  });
	  return {
	    failed, ok, views,
	    rows: [...document.querySelectorAll("#nd-failures tr.nd-frow")].map(tr => [...tr.children].map(td => td.textContent)),
	    findings: [...document.querySelectorAll("li.nd-finding")].map(li => li.dataset.kind + ": " + li.textContent),
	    line: document.getElementById("nd-line").textContent,
	  };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	b.Screenshot(t, "check-report-html")

	var wantFailed []string
	var wantRows []string
	for _, r := range report.SortRows(htmlReportRows()) {
		if r.Result == report.Succeeded {
			continue
		}
		wantFailed = append(wantFailed, fmt.Sprintf("tcp %s %s>%s", r.Family, r.SrcNode, r.DstNode))
		wantRows = append(wantRows, strings.Join([]string{r.SrcNode, r.DstNode, fmt.Sprintf("%s:%d", r.TargetIP, r.Port), string(r.Result), string(r.Class)}, " "))
	}
	sort.Strings(wantFailed)
	sort.Strings(got.Failed)
	if strings.Join(got.Failed, ",") != strings.Join(wantFailed, ",") {
		t.Errorf("failed cells %v, want exactly %v", got.Failed, wantFailed)
	}
	// 2 families x 4 x 4 cells (self pairs included), minus the 5 that did not succeed.
	if got.OK != 2*16-len(wantFailed) || strings.Join(got.Views, ",") != "tcp IPv4,tcp IPv6" {
		t.Errorf("%d ok cells in views %v, want %d in tcp IPv4, tcp IPv6", got.OK, got.Views, 2*16-len(wantFailed))
	}
	var gotRows []string
	for _, r := range got.Rows {
		if len(r) < 11 {
			t.Fatalf("failure row %v has %d columns", r, len(r))
		}
		gotRows = append(gotRows, strings.Join([]string{r[1], r[2], r[3], r[4], r[8]}, " "))
		if r[4] == "FAILED" && r[10] != "no answer within 10s <b>" {
			t.Errorf("LOG column %q, want the row's log text", r[10])
		}
	}
	sort.Strings(gotRows)
	sort.Strings(wantRows)
	if strings.Join(gotRows, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("failure table:\n%s\nwant:\n%s", strings.Join(gotRows, "\n"), strings.Join(wantRows, "\n"))
	}
	link := false
	for _, f := range got.Findings {
		link = link || (strings.HasPrefix(f, "link-down:") && strings.Contains(f, "n1 and n3"))
	}
	if !link {
		t.Errorf("findings %v, want link-down naming n1 and n3", got.Findings)
	}
	if !strings.Contains(got.Line, "4 failed, 1 exception") {
		t.Errorf("summary line %q", got.Line)
	}
	b.CheckRequests(t, "file://")
}
