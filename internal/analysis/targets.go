package analysis

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// dns reads queries per DNS server (a server, never a node): failing from
// every node, on one family only, from some nodes only, or just counts.
func (a analyzer) dns(rows []report.Row) []report.Finding {
	var out []report.Finding
	for _, g := range groupBy(rows, func(r report.Row) string { return r.DstNode }) {
		server := g.key
		if f, ok := a.targetFinding(g.rows, KindDNSFailing, "DNS queries to "+server); ok {
			f.Target = server
			out = append(out, f)
		}
	}
	return out
}

// customized reads probes per customized target ip:port.
func (a analyzer) customized(rows []report.Row) []report.Finding {
	var out []report.Finding
	key := func(r report.Row) string {
		if r.Port == 0 {
			return r.TargetIP
		}
		return net.JoinHostPort(r.TargetIP, strconv.Itoa(r.Port))
	}
	for _, g := range groupBy(rows, key) {
		if f, ok := a.targetFinding(g.rows, KindCustomizedFailing, "probes to "+g.key); ok {
			f.Target = g.key
			out = append(out, f)
		}
	}
	return out
}

// targetFinding reads rows towards one non-node target. what names them
// ("DNS queries to cluster-dns").
func (a analyzer) targetFinding(rows []report.Row, kind, what string) (report.Finding, bool) {
	failed := 0
	var fams, failingFams []probe.Family
	srcFail, srcTotal := map[string]int{}, map[string]int{}
	for _, r := range rows {
		s := a.src(r)
		srcTotal[s]++
		if !slices.Contains(fams, r.Family) {
			fams = append(fams, r.Family)
		}
		if r.Result != report.Succeeded {
			failed++
			srcFail[s]++
			if !slices.Contains(failingFams, r.Family) {
				failingFams = append(failingFams, r.Family)
			}
		}
	}
	if failed == 0 {
		return report.Finding{}, false
	}
	f := report.Finding{Kind: kind, Mode: rows[0].Mode, Protocol: rows[0].Protocol, Failed: failed, Total: len(rows)}
	famRows := 0
	if len(failingFams) == 1 {
		for _, r := range rows {
			if r.Family == failingFams[0] {
				famRows++
			}
		}
	}
	var bad []string
	whole := true // every source is all-failed or all-succeeded
	for s, n := range srcFail {
		if n == srcTotal[s] {
			bad = append(bad, s)
		} else {
			whole = false
		}
	}
	bad = sortNames(bad)
	switch {
	case failed == len(rows):
		f.Summary = fmt.Sprintf("%s fail from every node", what)
		f.Evidence = fmt.Sprintf("%d of %d rows failed from %s", failed, len(rows), plural(len(srcTotal), "node", "nodes"))
	case len(fams) > 1 && len(failingFams) == 1 && famRows == failed:
		f.Family = failingFams[0]
		f.Summary = fmt.Sprintf("%s fail over %s only", what, f.Family)
		f.Evidence = fmt.Sprintf("%d of %d %s rows failed; all %d rows of the other family succeeded", failed, famRows, f.Family, len(rows)-famRows)
	case whole && len(bad) < len(srcTotal):
		f.Nodes = bad
		f.Summary = fmt.Sprintf("%s fail from %s only", what, report.JoinNames(bad))
		f.Evidence = fmt.Sprintf("%d of %d rows from %s failed; every row from the other %s succeeded", failed, failed, report.JoinNames(bad), plural(len(srcTotal)-len(bad), "node", "nodes"))
	default:
		f.Summary = fmt.Sprintf("some %s fail; the rows fit no single culprit", what)
		f.Evidence = fmt.Sprintf("%d of %d rows failed", failed, len(rows))
	}
	return f, true
}

type group struct {
	key  string
	rows []report.Row
}

func groupBy(rows []report.Row, key func(report.Row) string) []group {
	idx := map[string]int{}
	var gs []group
	for _, r := range rows {
		k := key(r)
		i, ok := idx[k]
		if !ok {
			i = len(gs)
			idx[k] = i
			gs = append(gs, group{key: k})
		}
		gs[i].rows = append(gs[i].rows, r)
	}
	slices.SortFunc(gs, func(x, y group) int { return cmp.Compare(x.key, y.key) })
	return gs
}
