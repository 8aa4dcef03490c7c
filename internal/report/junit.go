package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"iter"
	"net"
	"slices"
	"strconv"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// JUnit output (-o junit) for CI systems: one testsuite per mode and
// protocol, one testcase per pair. FAILED rows are <failure>, EXCEPTION rows
// <error>, except the class "skipped" which is <skipped>.

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes r as JUnit XML, testcases sorted like the tables
// (r.Rows is sorted in place) and streamed one at a time.
func WriteJUnit(w io.Writer, r *Report) error {
	Sort(r.Rows)
	return writeJUnit(w, r, slices.Values(r.Rows))
}

// junitCounts are the counts a <testsuites> or <testsuite> carries.
type junitCounts struct{ tests, failures, errors, skipped int }

func (c *junitCounts) add(row Row) {
	c.tests++
	switch junitOutcome(row) {
	case "failure":
		c.failures++
	case "skipped":
		c.skipped++
	case "error":
		c.errors++
	}
}

// junitOutcome is the element row's testcase carries: FAILED rows are
// <failure>, EXCEPTION rows <error>, except the class "skipped" which is
// <skipped>; "" for a success.
func junitOutcome(row Row) string {
	switch {
	case row.Result == Succeeded:
		return ""
	case row.Result == Failed:
		return "failure"
	case row.Class == probe.ClassSkipped:
		return "skipped"
	}
	return "error"
}

func (c junitCounts) attrs(name, time string) []xml.Attr {
	attr := func(k, v string) xml.Attr { return xml.Attr{Name: xml.Name{Local: k}, Value: v} }
	return []xml.Attr{attr("name", name), attr("tests", strconv.Itoa(c.tests)), attr("failures", strconv.Itoa(c.failures)),
		attr("errors", strconv.Itoa(c.errors)), attr("skipped", strconv.Itoa(c.skipped)), attr("time", time)}
}

func suiteName(row Row) string { return fmt.Sprintf("%s %s", row.Mode, row.Protocol) }

// writeJUnit writes the document of r with rows (read several times) as
// its testcases. The suites' counts are attributes, written before their
// testcases: a first pass over rows counts them (a few numbers per suite),
// then one pass per suite writes its testcases as they are read. A check
// has one suite (its mode and protocol); a resume of several, a few.
func writeJUnit(w io.Writer, r *Report, rows iter.Seq[Row]) error {
	var names []string
	counts := map[string]*junitCounts{}
	var total junitCounts
	for row := range rows {
		name := suiteName(row)
		c, ok := counts[name]
		if !ok {
			c = &junitCounts{}
			counts[name] = c
			names = append(names, name)
		}
		c.add(row)
		total.add(row)
	}
	// Suites have no time of their own: their probes ran interleaved.
	time := seconds(r.Duration.Seconds())
	bw := newBuffered(w)
	bw.WriteString(xml.Header)
	enc := xml.NewEncoder(bw)
	enc.Indent("", "  ")
	suites, suite := xml.Name{Local: "testsuites"}, xml.Name{Local: "testsuite"}
	testcase := xml.StartElement{Name: xml.Name{Local: "testcase"}}
	if err := enc.EncodeToken(xml.StartElement{Name: suites, Attr: total.attrs("netdoctor", time)}); err != nil {
		return err
	}
	for _, name := range names {
		attrs := counts[name].attrs(name, time)
		if !r.Started.IsZero() {
			attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "timestamp"}, Value: r.Started.UTC().Format("2006-01-02T15:04:05")})
		}
		if err := enc.EncodeToken(xml.StartElement{Name: suite, Attr: attrs}); err != nil {
			return err
		}
		for row := range rows {
			if suiteName(row) != name {
				continue
			}
			if err := enc.EncodeElement(junitCaseOf(row), testcase); err != nil {
				return err
			}
		}
		if err := enc.EncodeToken(xml.EndElement{Name: suite}); err != nil {
			return err
		}
	}
	if err := enc.EncodeToken(xml.EndElement{Name: suites}); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	bw.WriteString("\n")
	return bw.Flush()
}

// junitCaseOf is the testcase of row.
func junitCaseOf(row Row) junitCase {
	c := junitCase{
		Name:      caseName(row),
		Classname: fmt.Sprintf("netdoctor.%s.%s", row.Mode, row.Protocol),
		Time:      seconds(row.Latency.Seconds()),
	}
	msg := &junitMessage{Message: row.Log, Type: string(row.Class), Text: row.Log}
	switch junitOutcome(row) {
	case "failure":
		c.Failure = msg
	case "skipped":
		c.Skipped = msg
	case "error":
		c.Error = msg
	}
	return c
}

// caseName is "src -> dst (ip)"; customized targets, where the port is
// what differs between cases, are "src -> dst (ip:port)".
func caseName(row Row) string {
	target := row.TargetIP
	if row.Port != 0 && (row.Protocol == probe.KindConn || row.Protocol == probe.KindUDPSend) {
		target = net.JoinHostPort(row.TargetIP, strconv.Itoa(row.Port))
	}
	return fmt.Sprintf("%s -> %s (%s)", row.SrcNode, row.DstNode, target)
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
