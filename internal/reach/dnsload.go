package reach

import (
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// DNS under load goes through the agents' existing probe API (POST
// /v1/probe, the dns prober of internal/probe) rather than a new target
// kind of the HTTP load engine: the dns prober already classifies DNS
// answers (nxdomain, servfail, refused, no answer) and both families, and
// the agent endpoint needs no change. The price: the probe API is closed
// loop (at most dnsInFlight queries outstanding, each sent when a slot
// frees), not paced, so a fast DNS server gets its share of the agent's
// budget in a burst shorter than the round. The count of queries is the
// DNS rows' share of the agent's QPS x duration, so the budget per agent
// still holds (docs/reach.md).

// dnsInFlight bounds outstanding DNS queries per agent.
const dnsInFlight = 8

// dnsBatch builds one agent's DNS batch for rows (all from that agent):
// perRow queries each, ids "ROWID#k".
func dnsBatch(rows []Planned, name string, perRow int, timeoutSec float64) agent.ProbeRequest {
	req := agent.ProbeRequest{Concurrency: dnsInFlight, TimeoutSeconds: timeoutSec}
	for _, r := range rows {
		fam := probe.IPv4
		if r.Family == "IPv6" {
			fam = probe.IPv6
		}
		for k := 0; k < perRow; k++ {
			req.Targets = append(req.Targets, probe.Target{ID: fmt.Sprintf("%s#%d", r.ID, k), Kind: probe.KindDNS, Address: r.Address, Name: name, Family: fam})
		}
	}
	return req
}

// dnsRowID is the row of a DNS result id.
func dnsRowID(id string) string {
	if i := strings.LastIndex(id, "#"); i >= 0 {
		return id[:i]
	}
	return id
}

// addProbe folds one DNS probe result into the row's tally.
func (t *tally) addProbe(r probe.Result) {
	t.m.Requests++
	if r.OK {
		t.m.Succeeded++
		t.latency.Record(r.Timings.Total.Microseconds())
		return
	}
	class := string(r.Class)
	if class == "" {
		class = "other"
	}
	t.addErrors(map[string]int64{class: 1}, []string{r.Reason})
}

// split divides total requests over n targets, at least 1 each.
func split(total, n int) int {
	if n == 0 {
		return 0
	}
	if per := total / n; per > 0 {
		return per
	}
	return 1
}
