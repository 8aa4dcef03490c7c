package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// JUnit output (-o junit) for CI systems: one testsuite per mode and
// protocol, one testcase per pair. FAILED rows are <failure>, EXCEPTION rows
// <error>, except the class "skipped" which is <skipped>.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

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

// WriteJUnit writes r as JUnit XML.
func WriteJUnit(w io.Writer, r *Report) error {
	doc := junitSuites{Name: "netdoctor", Time: seconds(r.Duration.Seconds())}
	index := map[string]int{}
	for _, row := range SortRows(r.Rows) {
		name := fmt.Sprintf("%s %s", row.Mode, row.Protocol)
		i, ok := index[name]
		if !ok {
			i = len(doc.Suites)
			index[name] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: name})
			if !r.Started.IsZero() {
				doc.Suites[i].Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
			}
		}
		s := &doc.Suites[i]
		c := junitCase{
			Name:      caseName(row),
			Classname: fmt.Sprintf("netdoctor.%s.%s", row.Mode, row.Protocol),
			Time:      seconds(row.Latency.Seconds()),
		}
		msg := &junitMessage{Message: row.Log, Type: string(row.Class), Text: row.Log}
		switch {
		case row.Result == Succeeded:
		case row.Result == Failed:
			c.Failure = msg
			s.Failures++
		case row.Class == probe.ClassSkipped:
			c.Skipped = msg
			s.Skipped++
		default:
			c.Error = msg
			s.Errors++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	// Suites have no time of their own: their probes ran interleaved.
	for i := range doc.Suites {
		doc.Suites[i].Time = doc.Time
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
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
