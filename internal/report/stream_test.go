package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The minimal views of the three documents these tests read.
type (
	streamJSON struct {
		APIVersion string `json:"apiVersion"`
		Summary    struct {
			Total  int `json:"total"`
			Failed int `json:"failed"`
		} `json:"summary"`
		Rows []struct {
			SrcNodeName string `json:"srcNodeName"`
			Result      string `json:"result"`
		} `json:"rows"`
		Findings []json.RawMessage `json:"findings"`
	}
	streamJUnit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	streamResume []struct {
		Status      int    `json:"Status"`
		SrcNodeName string `json:"srcNodeName"`
	}
)

// Valid, complete documents for no row, one row and many rows (two suites
// for junit: udp rows among tcp ones).
func TestStreamedDocumentsValid(t *testing.T) {
	for _, n := range []int{0, 1, 2500} {
		r := largeRun(n, 0, n-1)
		for i := range r.Rows {
			if i%5 == 4 {
				r.Rows[i].Protocol = "udp"
			}
		}
		slices.Reverse(r.Rows) // the writers sort
		wantFailed := min(n, 2)

		var js bytes.Buffer
		if err := WriteJSON(&js, r); err != nil {
			t.Fatal(err)
		}
		var doc streamJSON
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
			t.Fatalf("%d rows: json does not decode: %v\n%s", n, err, head(js.String()))
		}
		if doc.APIVersion != APIVersion || doc.Summary.Total != n || doc.Summary.Failed != wantFailed || len(doc.Rows) != n || doc.Findings == nil {
			t.Errorf("%d rows: json has apiVersion %q, total %d, failed %d, %d rows, findings %v", n, doc.APIVersion, doc.Summary.Total, doc.Summary.Failed, len(doc.Rows), doc.Findings)
		}
		if n > 1 && (doc.Rows[0].SrcNodeName != "src-0000" || doc.Rows[n-1].SrcNodeName != "src-2499") {
			t.Errorf("%d rows: json rows not sorted: first %s, last %s", n, doc.Rows[0].SrcNodeName, doc.Rows[n-1].SrcNodeName)
		}

		var ju bytes.Buffer
		if err := WriteJUnit(&ju, r); err != nil {
			t.Fatal(err)
		}
		var suites streamJUnit
		if err := xml.Unmarshal(ju.Bytes(), &suites); err != nil {
			t.Fatalf("%d rows: junit does not decode: %v\n%s", n, err, head(ju.String()))
		}
		cases, caseFailures := 0, 0
		for _, s := range suites.Suites {
			failures := 0
			for _, c := range s.Cases {
				if c.Failure != nil {
					failures++
				}
			}
			if s.Tests != len(s.Cases) || s.Failures != failures {
				t.Errorf("%d rows: suite %q says %d tests, %d failures; holds %d, %d", n, s.Name, s.Tests, s.Failures, len(s.Cases), failures)
			}
			cases += len(s.Cases)
			caseFailures += failures
		}
		wantSuites := map[int]int{0: 0, 1: 1, 2500: 2}[n]
		if suites.Tests != n || suites.Failures != wantFailed || cases != n || caseFailures != wantFailed || len(suites.Suites) != wantSuites {
			t.Errorf("%d rows: junit says %d tests, %d failures, holds %d cases, %d failures in %d suites; want %d, %d in %d suites",
				n, suites.Tests, suites.Failures, cases, caseFailures, len(suites.Suites), n, wantFailed, wantSuites)
		}

		path := filepath.Join(t.TempDir(), "resume.json")
		written, err := WriteResume(path, ResumeEntries(r))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		var entries streamResume
		if err := json.Unmarshal(b, &entries); err != nil {
			t.Fatalf("%d rows: resume.json does not decode: %v\n%s", n, err, head(string(b)))
		}
		if len(entries) != wantFailed || written != wantFailed {
			t.Errorf("%d rows: resume.json holds %d entries, WriteResume said %d; want %d", n, len(entries), written, wantFailed)
		}
		for _, e := range entries {
			if e.Status != StatusFailed {
				t.Errorf("%d rows: resume entry %s has Status %d, want %d", n, e.SrcNodeName, e.Status, StatusFailed)
			}
		}
	}
}

// watch hands out items and notes in *atLast, when it hands out the last
// one, how many bytes the writer had already written (the last pass counts
// when the writer reads the items more than once).
func watch[T any](items []T, written func() int64, atLast *int64) iter.Seq[T] {
	return func(yield func(T) bool) {
		for i, v := range items {
			if i == len(items)-1 {
				*atLast = written()
			}
			if !yield(v) {
				return
			}
		}
	}
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// The writers stream: by the time the row source hands out its last row,
// all but a buffer's worth of the output is already written. A writer that
// gathered the rows (or the document) first would have written nothing yet.
func TestWritersStreamRows(t *testing.T) {
	r := largeRun(5000)
	for i := range r.Rows {
		r.Rows[i].Result, r.Rows[i].Log = Failed, "no answer" // every row is in resume.json too
	}
	check := func(name string, total, atLast int64) {
		t.Helper()
		if total < 4*bufferSize {
			t.Fatalf("%s: %d bytes is too little output to tell streaming from buffering", name, total)
		}
		if atLast < total-2*bufferSize {
			t.Errorf("%s: %d of %d bytes written when the last row was read: the writer held rows back", name, atLast, total)
		}
	}
	for _, tc := range []struct {
		name  string
		write func(*countingWriter, iter.Seq[Row]) error
	}{
		{"json", func(w *countingWriter, rows iter.Seq[Row]) error { return writeJSON(w, r, rows) }},
		{"junit", func(w *countingWriter, rows iter.Seq[Row]) error { return writeJUnit(w, r, rows) }},
	} {
		var w countingWriter
		var atLast int64
		if err := tc.write(&w, watch(r.Rows, func() int64 { return w.n }, &atLast)); err != nil {
			t.Fatal(err)
		}
		check(tc.name, w.n, atLast)
	}

	// resume.json: the bytes already in the temporary file it renames.
	dir := t.TempDir()
	partial := func() int64 {
		tmps, _ := filepath.Glob(filepath.Join(dir, ".resume-*.json"))
		if len(tmps) != 1 {
			t.Fatalf("temporary resume files: %v", tmps)
		}
		fi, err := os.Stat(tmps[0])
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var atLast int64
	path := filepath.Join(dir, "resume.json")
	if _, err := WriteResume(path, watch(slices.Collect(ResumeEntries(r)), partial, &atLast)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	check("resume.json", fi.Size(), atLast)
}

func head(s string) string { return s[:min(len(s), 600)] }
