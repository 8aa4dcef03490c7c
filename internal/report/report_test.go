package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// sample is a small run with every kind of row, deliberately out of order.
func sample() *Report {
	row := func(src, dst, ip string, fam probe.Family, res Result, class probe.FailureClass, log string, lat time.Duration) Row {
		return Row{
			Pair: Pair{Mode: "pod", Protocol: probe.KindTCP, Family: fam, SrcNode: src, SrcPod: "netdoctor-agent-pod-" + src,
				SrcIP: "10.244.0.1", DstNode: dst, DstPod: "netdoctor-agent-pod-" + dst, TargetIP: ip, Port: 8889},
			Result: res, Class: class, Log: log, Latency: lat,
		}
	}
	v6 := row("node-2", "node-10", "fd00:10:244:a::5", probe.IPv6, Failed, probe.ClassTimeout, "no answer from [fd00:10:244:a::5]:8889 within 3s", 3*time.Second)
	v6.SrcIP = "fd00:10:244:2::1"
	return &Report{
		Started:  time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Duration: 3140 * time.Millisecond,
		Rows: []Row{
			row("node-10", "node-2", "10.244.2.5", probe.IPv4, Succeeded, "", "", 1200*time.Microsecond),
			v6,
			row("node-2", "node-10", "10.244.10.5", probe.IPv4, Succeeded, "", "", 450*time.Microsecond),
			row("node-1", "node-2", "10.244.2.5", probe.IPv4, Exception, probe.ClassAgentError, "agent on node-1 did not answer: 503 Service Unavailable", 0),
			row("node-1", "node-10", "10.244.10.5", probe.IPv4, Failed, probe.ClassRefused, "connection refused by 10.244.10.5:8889", 800*time.Microsecond),
			row("node-1", "node-1", "10.244.1.5", probe.IPv4, Exception, probe.ClassSkipped, "ICMP not permitted (no CAP_NET_RAW)", 0),
			row("node-2", "node-1", "10.244.1.5", probe.IPv4, Succeeded, "", "", 2*time.Millisecond),
		},
		// Written by package diagnose in a real run; here only rendered.
		Findings: []Finding{{
			Kind: "target-failures", Nodes: []string{"node-10"}, Mode: "pod", Protocol: probe.KindTCP, Failed: 2, Total: 3,
			Summary:  "most failures are towards node-10 (pod tcp); the rows fit no single culprit",
			Evidence: "2 of 3 rows towards node-10 failed; 2 of 5 rows failed in all",
		}},
	}
}

// golden compares got with testdata/<name>; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (UPDATE_GOLDEN=1 to accept)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestGoldens(t *testing.T) {
	empty := &Report{Started: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Duration: 20 * time.Millisecond}
	interrupted := sample()
	interrupted.Rows = interrupted.Rows[:2]
	interrupted.Interrupted = true
	interrupted.Findings = nil // the CLI analyzes only whole runs
	tests := map[string]func(w *bytes.Buffer) error{
		"table.golden":             func(w *bytes.Buffer) error { return WriteTable(w, sample(), TableOptions{}) },
		"wide.golden":              func(w *bytes.Buffer) error { return WriteTable(w, sample(), TableOptions{Wide: true}) },
		"failures-only.golden":     func(w *bytes.Buffer) error { return WriteTable(w, sample(), TableOptions{FailuresOnly: true}) },
		"table-empty.golden":       func(w *bytes.Buffer) error { return WriteTable(w, empty, TableOptions{}) },
		"table-interrupted.golden": func(w *bytes.Buffer) error { return WriteTable(w, interrupted, TableOptions{}) },
		"report.json.golden":       func(w *bytes.Buffer) error { return WriteJSON(w, sample()) },
		"junit.xml.golden":         func(w *bytes.Buffer) error { return WriteJUnit(w, sample()) },
		"resume.json.golden": func(w *bytes.Buffer) error {
			path := filepath.Join(t.TempDir(), "resume.json")
			if _, err := WriteResume(path, ResumeEntries(sample())); err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			w.Write(b)
			return err
		},
	}
	for name, render := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := render(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, name, buf.Bytes())
		})
	}
}

func TestSummaryLine(t *testing.T) {
	r := sample()
	want := "checked 7 pairs in 3.1s: 3 succeeded, 2 failed, 2 exceptions (1 skipped)"
	if got := SummaryLine(r); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if r.OK() {
		t.Error("a report with failures is OK()")
	}
	ok := &Report{Rows: []Row{{Result: Succeeded}}, Duration: 3 * time.Millisecond}
	if !ok.OK() {
		t.Error("an all-succeeded report is not OK()")
	}
	ok.Interrupted = true
	if ok.OK() {
		t.Error("an interrupted report is OK()")
	}
}

func TestSortRows(t *testing.T) {
	rows := SortRows(sample().Rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.SrcNode+">"+r.DstNode+"@"+r.TargetIP)
	}
	want := []string{
		"node-1>node-1@10.244.1.5", "node-1>node-2@10.244.2.5", "node-1>node-10@10.244.10.5",
		"node-2>node-1@10.244.1.5", "node-2>node-10@10.244.10.5", "node-2>node-10@fd00:10:244:a::5",
		"node-10>node-2@10.244.2.5",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
	for a, b := range map[string]string{"a9": "a10", "n-002": "n-10", "node": "node-1", "10.0.0.9": "10.0.0.10"} {
		if naturalCompare(a, b) >= 0 || naturalCompare(b, a) <= 0 {
			t.Errorf("naturalCompare(%q, %q) does not put %q first", a, b, a)
		}
	}
}

func TestJUnitCounts(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("output is not XML: %v", err)
	}
	if doc.Tests != 7 || doc.Failures != 2 || doc.Errors != 1 || doc.Skipped != 1 {
		t.Errorf("tests=%d failures=%d errors=%d skipped=%d, want 7 2 1 1", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
	if len(doc.Suites) != 1 || doc.Suites[0].Name != "pod tcp" {
		t.Errorf("suites = %+v, want one named \"pod tcp\"", doc.Suites)
	}
	if !strings.Contains(buf.String(), `name="node-2 -&gt; node-10 (fd00:10:244:a::5)"`) {
		t.Error("testcase names are not \"src -> dst (ip)\"")
	}
}

func TestResumeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resume.json")
	entries := slices.Collect(ResumeEntries(sample()))
	if _, err := WriteResume(path, slices.Values(entries)); err != nil {
		t.Fatal(err)
	}
	pairs, err := ReadResume(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 4 {
		t.Fatalf("read %d pairs, want the 4 that did not succeed", len(pairs))
	}
	for i, p := range pairs {
		if p != entries[i].Pair {
			t.Errorf("pair %d changed in the round trip:\n got %+v\nwant %+v", i, p, entries[i].Pair)
		}
	}
	// The remaining pairs of an interrupted resume are those without a row.
	r := &Report{Rows: []Row{{Pair: pairs[1], Result: Succeeded}}}
	if left := Unchecked(pairs, r); len(left) != 3 || left[0] != pairs[0] || left[1] != pairs[2] {
		t.Errorf("Unchecked = %+v", left)
	}
	// All succeeded: the file is an empty array.
	if _, err := WriteResume(path, ResumeEntries(&Report{Rows: []Row{{Result: Succeeded}}})); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "[]\n" {
		t.Errorf("all-succeeded resume file = %q, want \"[]\\n\"", b)
	}
}

func TestReadEarlierResume(t *testing.T) {
	// The earlier tool wrote only these five fields.
	path := filepath.Join(t.TempDir(), "resume.json")
	old := `[{"Status": 0, "ResultStr": "curl: (7) Failed to connect", "srcNodeName": "node-1", "dstNodeName": "node-2", "targetIP": "10.0.1.86"},
	        {"Status": 0, "ResultStr": "", "srcNodeName": "node-1", "dstNodeName": "node-2", "targetIP": "fd00::86"}]`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	pairs, err := ReadResume(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{
		{SrcNode: "node-1", DstNode: "node-2", TargetIP: "10.0.1.86", Family: probe.IPv4},
		{SrcNode: "node-1", DstNode: "node-2", TargetIP: "fd00::86", Family: probe.IPv6},
	}
	if !reflect.DeepEqual(pairs, want) {
		t.Errorf("got %+v\nwant %+v", pairs, want)
	}
	bad := `[{"srcNodeName": "node-1", "dstNodeName": "", "targetIP": "10.0.0.1"}, {"srcNodeName": "a", "dstNodeName": "b", "targetIP": "x"},
	         {"Status": 7, "srcNodeName": "a", "dstNodeName": "b", "targetIP": "10.0.0.1"}, {"srcNodeName": "a", "dstNodeName": "a", "targetIP": "IPs: 10.0.0.1; Ports: http"}]`
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadResume(path)
	wantErr := `resume file "` + path + `": entry 0: srcNodeName and dstNodeName are required` + "\n" + `entry 1: targetIP "x" is not an IP address, a NetDoctor dns target ("host: H; dns: S") or customized targets ("IPs: a,b; Ports: p,q")` + "\n" +
		`entry 2: Status 7 is not 0 (EXCEPTION), 1 (SUCCEEDED) or 2 (FAILED)` + "\n" + `entry 3: targetIP "IPs: 10.0.0.1; Ports: http": "http" is not a port`
	if err == nil || err.Error() != wantErr {
		t.Errorf("got %v\nwant %s", err, wantErr)
	}
}

// TestReadNetDoctorResume reads a file literally as NetDoctor writes it
// (Status 0 EXCEPTION, 1 SUCCEEDED, 2 FAILED; dns and customized-target rows
// whose targetIP is not an IP), independently of netctl's writer.
func TestReadNetDoctorResume(t *testing.T) {
	pairs, err := ReadResume(filepath.Join("testdata", "netdoctor-resume.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{
		{SrcNode: "node-1", DstNode: "node-2", TargetIP: "10.244.2.5", Family: probe.IPv4},
		{SrcNode: "node-2", DstNode: "node-1", TargetIP: "fd00:10:244:1::5", Family: probe.IPv6},
		// Status 1 (SUCCEEDED): nothing to re-check.
		{Protocol: probe.KindDNS, SrcNode: "node-1", DstNode: "cluster-dns"},
		{Protocol: probe.KindDNS, SrcNode: "node-2", DstNode: "10.96.0.10", TargetIP: "10.96.0.10"},
		{Protocol: probe.KindDNS, SrcNode: "node-3", DstNode: "cluster-dns"},
		{SrcNode: "node-1", DstNode: "customized", TargetIP: "192.0.2.10", Port: 80, Family: probe.IPv4},
		{SrcNode: "node-1", DstNode: "customized", TargetIP: "192.0.2.10", Port: 443, Family: probe.IPv4},
		{SrcNode: "node-1", DstNode: "customized", TargetIP: "2001:db8::10", Port: 80, Family: probe.IPv6},
		{SrcNode: "node-1", DstNode: "customized", TargetIP: "2001:db8::10", Port: 443, Family: probe.IPv6},
	}
	if !reflect.DeepEqual(pairs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", pairs, want)
	}
}

// TestResumeStatusNumbers fixes the numbers netctl writes: NetDoctor's
// (scripts read them), not an order of its own.
func TestResumeStatusNumbers(t *testing.T) {
	rows := []Row{
		{Pair: Pair{SrcNode: "a", DstNode: "b", TargetIP: "10.0.0.1"}, Result: Exception, Log: "x"},
		{Pair: Pair{SrcNode: "a", DstNode: "c", TargetIP: "10.0.0.2"}, Result: Failed, Log: "y"},
		{Pair: Pair{SrcNode: "a", DstNode: "d", TargetIP: "10.0.0.3"}, Result: Succeeded},
	}
	got := map[string]int{}
	for e := range ResumeEntries(&Report{Rows: rows}) {
		got[e.DstNode] = e.Status
	}
	if want := map[string]int{"b": 0, "c": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("Status by row = %v, want EXCEPTION 0, FAILED 2, SUCCEEDED not listed", got)
	}
}

// TestPacketSizeNote: the size probed is in wide and json rows, and a note
// that packetSize was lowered to the route MTU is printed once, not as a
// failure.
func TestPacketSizeNote(t *testing.T) {
	note := "packetSize 1500 is larger than the MTU 1450 of eth0 (the route toward the target): probed with 1450-byte packets"
	r := &Report{Rows: []Row{
		{Pair: Pair{SrcNode: "a", DstNode: "b", TargetIP: "10.0.0.2"}, Result: Succeeded, PacketSize: 1450, Note: note},
		{Pair: Pair{SrcNode: "b", DstNode: "a", TargetIP: "10.0.0.1"}, Result: Succeeded, PacketSize: 1450, Note: note},
	}}
	var buf bytes.Buffer
	if err := WriteTable(&buf, r, TableOptions{Wide: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), "note: "+note+" (from 2 source nodes)") != 1 || !strings.Contains(buf.String(), "| 1450 ") {
		t.Errorf("table:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rows []struct {
			PacketSize int    `json:"packetSize"`
			Note       string `json:"note"`
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || len(doc.Rows) != 2 || doc.Rows[0].PacketSize != 1450 || doc.Rows[0].Note != note {
		t.Errorf("json rows %+v (%v)", doc.Rows, err)
	}
}

func TestJSONSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc["summary"].(map[string]any)
	if doc["apiVersion"] != APIVersion || s["failed"] != 2.0 || s["durationSeconds"] != 3.14 {
		t.Errorf("unexpected summary: %v", doc)
	}
	first := doc["rows"].([]any)[0].(map[string]any)
	for _, k := range []string{"srcNodeName", "dstNodeName", "targetIP", "result", "family", "protocol", "mode"} {
		if _, ok := first[k]; !ok {
			t.Errorf("row lacks %q: %v", k, first)
		}
	}
}
