package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// largeRun is a run of n rows of which the rows at failed are FAILED.
func largeRun(n int, failed ...int) *Report {
	bad := map[int]bool{}
	for _, i := range failed {
		bad[i] = true
	}
	r := &Report{Started: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Duration: time.Second}
	for i := range n {
		row := Row{Pair: Pair{Mode: "pod", Protocol: probe.KindTCP, Family: probe.IPv4,
			SrcNode: fmt.Sprintf("src-%04d", i), DstNode: "dst", TargetIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), Port: 8889},
			Result: Succeeded}
		if bad[i] {
			row.Result, row.Class, row.Log = Failed, probe.ClassTimeout, "no answer"
		}
		r.Rows = append(r.Rows, row)
	}
	return r
}

func TestLargeRunTableShowsFailuresOnly(t *testing.T) {
	for _, tc := range []struct {
		name           string
		rows           int
		opts           TableOptions
		wantOK, wantLe bool // a succeeded row shown; the "left out" line
	}{
		{"at the limit: everything", LargeRun, TableOptions{}, true, false},
		{"above the limit: failures", LargeRun + 1, TableOptions{}, false, true},
		{"above the limit, wide: failures", LargeRun + 1, TableOptions{Wide: true}, false, true},
		{"above the limit, --show-all", LargeRun + 1, TableOptions{ShowAll: true}, true, false},
		{"--failures-only asked: no line", LargeRun + 1, TableOptions{FailuresOnly: true}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := largeRun(tc.rows, 7, 500)
			var b bytes.Buffer
			if err := WriteTable(&b, r, tc.opts); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if got := strings.Contains(out, "src-0001 "); got != tc.wantOK {
				t.Errorf("succeeded row src-0001 shown = %v, want %v", got, tc.wantOK)
			}
			for _, f := range []string{"src-0007 ", "src-0500 "} {
				if !strings.Contains(out, f) {
					t.Errorf("failed row %s missing", f)
				}
			}
			line := fmt.Sprintf("%d succeeded rows left out (more than %d rows); --show-all shows them", tc.rows-2, LargeRun)
			if got := strings.Contains(out, line); got != tc.wantLe {
				t.Errorf("line %q shown = %v, want %v\n%s", line, got, tc.wantLe, lastLines(out, 5))
			}
			if !strings.Contains(out, fmt.Sprintf("%d pairs", tc.rows)) {
				t.Errorf("summary does not count all %d pairs:\n%s", tc.rows, lastLines(out, 3))
			}
		})
	}
}

// Above the limit, json, junit and resume.json still hold every row.
func TestLargeRunOtherFormatsComplete(t *testing.T) {
	const n = 3 * LargeRun
	r := largeRun(n, 1, 2, 2999)
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rows []struct {
			Result string `json:"result"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rows) != n {
		t.Errorf("json has %d rows, want %d", len(doc.Rows), n)
	}
	var ju bytes.Buffer
	if err := WriteJUnit(&ju, r); err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(ju.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	tests, failures := 0, 0
	for _, s := range suites.Suites {
		tests += s.Tests
		failures += s.Failures
	}
	if tests != n || failures != 3 {
		t.Errorf("junit: %d tests, %d failures; want %d, 3", tests, failures, n)
	}
	if got := len(slices.Collect(ResumeEntries(r))); got != 3 {
		t.Errorf("resume entries: %d, want 3", got)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
