package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Summary counts a report's rows by result.
type Summary struct {
	Total      int `json:"total"`
	Succeeded  int `json:"succeeded"`
	Failed     int `json:"failed"`
	Exceptions int `json:"exceptions"`
	// Skipped counts the exceptions whose class is "skipped" (the check
	// could not run here, e.g. no ICMP permission); they are part of
	// Exceptions, never of Succeeded.
	Skipped int `json:"skipped"`
}

// Summarize counts r's rows.
func Summarize(r *Report) Summary {
	var s Summary
	for _, row := range r.Rows {
		s.Total++
		switch row.Result {
		case Succeeded:
			s.Succeeded++
		case Failed:
			s.Failed++
		default:
			s.Exceptions++
			if row.Class == probe.ClassSkipped {
				s.Skipped++
			}
		}
	}
	return s
}

// OK reports whether every checked pair succeeded and the run was complete.
func (r *Report) OK() bool {
	s := Summarize(r)
	return !r.Interrupted && s.Failed == 0 && s.Exceptions == 0
}

// SummaryLine is the last line of the table output, e.g.
// "checked 2500 pairs in 3.1s: 2490 succeeded, 10 failed, 0 exceptions".
func SummaryLine(r *Report) string {
	s := Summarize(r)
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d %s in %s: %d succeeded, %d failed, %d %s",
		s.Total, plural(s.Total, "pair", "pairs"), roundDuration(r.Duration),
		s.Succeeded, s.Failed, s.Exceptions, plural(s.Exceptions, "exception", "exceptions"))
	if s.Skipped > 0 {
		fmt.Fprintf(&b, " (%d skipped)", s.Skipped)
	}
	if r.Interrupted {
		b.WriteString("; interrupted before every pair was checked")
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// Sort sorts rows in place, stably, by source node, destination node,
// target IP and family (then protocol, port and source IP so that the order
// never depends on the order results arrived in). Node names compare
// naturally ("node-2" before "node-10"), IPs numerically. In place: the
// writers of json, junit and resume.json stream a run's one slice of rows.
func Sort(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int {
		return cmp.Or(
			naturalCompare(a.SrcNode, b.SrcNode),
			naturalCompare(a.DstNode, b.DstNode),
			compareIP(a.TargetIP, b.TargetIP),
			cmp.Compare(a.Family, b.Family),
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Port, b.Port),
			compareIP(a.SrcIP, b.SrcIP),
		)
	})
}

// SortRows returns a sorted copy of rows (see Sort).
func SortRows(rows []Row) []Row {
	out := slices.Clone(rows)
	Sort(out)
	return out
}

func compareIP(a, b string) int {
	ia, errA := netip.ParseAddr(a)
	ib, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return ia.Compare(ib)
}

// naturalCompare compares strings treating runs of digits as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := splitDigits(a)
			nb, rb := splitDigits(b)
			// Compare by length after trimming leading zeros, then lexically:
			// numeric order without overflow on long runs.
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := cmp.Or(cmp.Compare(len(ta), len(tb)), strings.Compare(ta, tb)); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func splitDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// CompareNames orders node names the way the tables do: naturally
// ("node-2" before "node-10"). For packages that sort names themselves.
func CompareNames(a, b string) int { return naturalCompare(a, b) }

// JoinNames joins names for a summary: "node-1", "node-1 and node-2",
// "node-1, node-2 and node-3".
func JoinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
