package diagnose

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Finding kinds of the Service dataplane (kube-proxy's rules on each node
// compared with the API's Services and EndpointSlices).
const (
	KindServiceRulesMissing = "service-rules-missing" // a VIP, node port or ready endpoint has no rule on some nodes
	KindServiceRulesStale   = "service-rules-stale"   // rules DNAT to endpoints (or hold Services) that no longer exist
	KindKubeProxyNotSyncing = "kube-proxy-not-syncing"
)

// Inconclusive is a rule that could not be applied to some nodes, and why:
// never a finding (exit status unchanged), always shown.
type Inconclusive struct {
	Rule   string   `json:"rule"`
	Nodes  []string `json:"nodes"`
	Reason string   `json:"reason"`
}

// maxListed bounds the items one finding's evidence spells out.
const maxListed = 8

// svcGap is one Service's difference on one node.
type svcGap struct {
	service string
	what    string // e.g. "no rule for 10.96.0.10:53/UDP", "endpoint 10.244.1.5:53 not programmed"
}

// AnalyzeServices compares, per node, the Service frontends the node's
// kube-proxy programmed (facts ServiceRules) with the API's Service ports
// and their ready endpoints. Nodes whose rules could not be read are
// inconclusive. changed are the ports ("NAME/PROTOCOL") that changed while
// the facts were read: their rules may rightly lag, so they are not judged.
// Findings group Services by the exact set of nodes they differ on, so one
// stopped kube-proxy is one finding naming that node.
func AnalyzeServices(nodes []kube.Node, facts map[string]agent.NodeFacts, ports []kube.ServicePort, changed []string) ([]report.Finding, []Inconclusive) {
	var inc []Inconclusive
	if len(changed) > 0 {
		inc = append(inc, Inconclusive{Rule: KindServiceRulesMissing, Reason: "changed while the nodes were read, not judged: " + strings.Join(changed, ", ")})
	}
	missing := map[string]map[string][]string{} // service -> node -> gaps
	stale := map[string]map[string][]string{}
	add := func(m map[string]map[string][]string, node string, g svcGap) {
		if m[g.service] == nil {
			m[g.service] = map[string][]string{}
		}
		m[g.service][node] = append(m[g.service][node], g.what)
	}
	for _, n := range sortedNodes(nodes) {
		f, ok := facts[n.Name]
		if !ok {
			continue
		}
		r := f.ServiceRules
		switch {
		case r == nil:
			inc = append(inc, Inconclusive{Rule: KindServiceRulesMissing, Nodes: []string{n.Name}, Reason: "the node's agent does not report kube-proxy rules (older netctl)"})
			continue
		case r.Skipped != "":
			inc = append(inc, Inconclusive{Rule: KindServiceRulesMissing, Nodes: []string{n.Name}, Reason: r.Skipped})
			continue
		}
		m, s := compareNode(n.Name, r.Frontends, ports, changed)
		for _, g := range m {
			add(missing, n.Name, g)
		}
		for _, g := range s {
			add(stale, n.Name, g)
		}
	}
	var out []report.Finding
	out = append(out, groupGaps(missing, KindServiceRulesMissing, facts,
		"have no complete kube-proxy rules on %s: traffic to them from there is rejected or misses endpoints (kube-proxy stopped, stuck or failing there)")...)
	out = append(out, groupGaps(stale, KindServiceRulesStale, facts,
		"still have kube-proxy rules on %s toward endpoints or Services that no longer exist: connections there go to dead backends (kube-proxy stopped or stuck there)")...)
	return out, inc
}

// feKey identifies a programmed frontend: family, IP ("" for a node port),
// port, protocol.
type feKey struct {
	family, ip string
	port       int
	proto      string
}

// frontendName is "IP:PORT/PROTO" or "node port PORT/PROTO (FAMILY)".
func frontendName(k feKey) string {
	if a, err := netip.ParseAddr(k.ip); err == nil {
		return netip.AddrPortFrom(a, uint16(k.port)).String() + "/" + k.proto
	}
	return fmt.Sprintf("node port %d/%s (%s)", k.port, k.proto, k.family)
}

func familyOf(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// compareNode returns what node is missing and what it holds stale.
func compareNode(node string, fes []agent.Frontend, ports []kube.ServicePort, changed []string) (missing, stale []svcGap) {
	have := map[feKey]agent.Frontend{}
	for _, fe := range fes {
		have[feKey{fe.Family, fe.IP, fe.Port, fe.Protocol}] = fe
	}
	expected := map[feKey]bool{}
	for _, sp := range ports {
		fams := map[string]bool{}
		for _, ip := range sp.ClusterIPs {
			fams[familyOf(ip)] = true
		}
		check := func(k feKey, clusterIP bool) {
			expected[k] = true
			where := frontendName(k)
			fe, ok := have[k]
			if !ok {
				missing = append(missing, svcGap{sp.Name, "no rule for " + where})
				return
			}
			want, allowed := endpointsFor(sp, k.family, node, clusterIP)
			var got []string
			if !fe.NoEndpoints {
				got = fe.Endpoints
			}
			if clusterIP && !sp.Hinted && !(len(want) == 0 && len(allowed) > 0) {
				for _, e := range want {
					if !slices.Contains(got, e) {
						missing = append(missing, svcGap{sp.Name, fmt.Sprintf("ready endpoint %s not programmed for %s", e, where)})
					}
				}
			}
			for _, e := range got {
				if !slices.Contains(want, e) && !slices.Contains(allowed, e) {
					stale = append(stale, svcGap{sp.Name, fmt.Sprintf("%s still DNATs to %s, not a ready endpoint", where, e)})
				}
			}
		}
		for _, ip := range sp.ClusterIPs {
			check(feKey{familyOf(ip), ip, sp.Port, sp.Protocol}, true)
		}
		for _, ip := range append(slices.Clone(sp.ExternalIPs), sp.LoadBalancerIPs...) {
			if fams[familyOf(ip)] {
				check(feKey{familyOf(ip), ip, sp.Port, sp.Protocol}, false)
			}
		}
		if sp.NodePort > 0 {
			for fam := range fams {
				check(feKey{fam, "", sp.NodePort, sp.Protocol}, false)
			}
		}
	}
	for _, fe := range fes {
		k := feKey{fe.Family, fe.IP, fe.Port, fe.Protocol}
		if !expected[k] && !slices.ContainsFunc(changed, func(c string) bool { return c == fe.Service+"/"+fe.Protocol }) {
			stale = append(stale, svcGap{fe.Service, "rule for " + frontendName(k) + " of a Service port the API no longer has"})
		}
	}
	return missing, stale
}

// endpointsFor are the endpoints of family fam a node's rules for sp must
// hold (want) and may hold besides (allowed: serving-but-terminating ones,
// and for node-local policies the others). With internalTrafficPolicy
// Local a cluster IP holds only the node's own endpoints.
func endpointsFor(sp kube.ServicePort, fam, node string, clusterIP bool) (want, allowed []string) {
	for _, e := range sp.Endpoints {
		if ap, err := netip.ParseAddrPort(e.Addr); err != nil || familyOf(ap.Addr().String()) != fam {
			continue
		}
		if clusterIP && sp.InternalLocal && e.Node != node {
			allowed = append(allowed, e.Addr)
			continue
		}
		want = append(want, e.Addr)
	}
	for _, e := range sp.Terminating {
		allowed = append(allowed, e.Addr)
	}
	return want, allowed
}

// groupGaps makes one finding per set of nodes: the Services that differ
// on exactly those nodes. how has one %s for the nodes.
func groupGaps(gaps map[string]map[string][]string, kind string, facts map[string]agent.NodeFacts, how string) []report.Finding {
	type group struct {
		nodes    []string
		services []string
		details  []string
	}
	groups := map[string]*group{}
	for _, svc := range slices.Sorted(maps.Keys(gaps)) {
		nodes := slices.Sorted(maps.Keys(gaps[svc]))
		key := strings.Join(nodes, ",")
		g := groups[key]
		if g == nil {
			g = &group{nodes: nodes}
			groups[key] = g
		}
		g.services = append(g.services, svc)
		for _, n := range nodes {
			for _, d := range gaps[svc][n] {
				g.details = append(g.details, fmt.Sprintf("%s on %s: %s", svc, n, d))
			}
		}
	}
	var out []report.Finding
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		g := groups[key]
		details := g.details
		more := ""
		if len(details) > maxListed {
			more = fmt.Sprintf("; and %d more", len(details)-maxListed)
			details = details[:maxListed]
		}
		evidence := strings.Join(details, "; ") + more
		if s := kubeProxyState(g.nodes, facts); s != "" {
			evidence += ". " + s
		}
		services := g.services
		out = append(out, report.Finding{Kind: kind, Nodes: g.nodes, Target: strings.Join(services, ","),
			Summary:  fmt.Sprintf("Services %s %s", report.JoinNames(services), fmt.Sprintf(how, report.JoinNames(g.nodes))),
			Evidence: evidence, Failed: len(g.details), Total: len(g.nodes)})
	}
	return out
}

// kubeProxyState says what the nodes' kube-proxy health endpoints said, as
// evidence for a rules finding.
func kubeProxyState(nodes []string, facts map[string]agent.NodeFacts) string {
	var parts []string
	for _, n := range nodes {
		if kp := facts[n].KubeProxy; kp != nil {
			parts = append(parts, fmt.Sprintf("kube-proxy on %s: %s", n, kp.Summary()))
		}
	}
	return strings.Join(parts, "; ")
}

func sortedNodes(nodes []kube.Node) []kube.Node {
	return slices.SortedFunc(slices.Values(nodes), func(a, b kube.Node) int { return cmp.Compare(a.Name, b.Name) })
}
