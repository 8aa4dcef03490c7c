package reach

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdoctor/netdoctor/internal/report"
)

// Finding kinds of `netctl reach` (docs/reach.md lists them).
const (
	FindingKubeProxy        = "kube-proxy"            // every Service path from one node fails, its pod paths work
	FindingNodePortNode     = "nodeport-node"         // NodePort on one node's addresses fails from every client
	FindingBackendUnreached = "backend-never-reached" // one backend never answered through any VIP
	FindingPathDown         = "path-down"             // every row of ingress/gateway/loadbalancer fails while ClusterIP works
	FindingLBAddress        = "loadbalancer-address"  // one LB address fails from every client, others work
	FindingDNSReplica       = "dns-replica"           // one CoreDNS endpoint fails from every client, others work
	FindingDNSDown          = "dns-down"              // every DNS row fails
	FindingAffinity         = "affinity-broken"       // sessionAffinity ClientIP spread one client over backends
	FindingLocal            = "etp-local-broken"      // externalTrafficPolicy Local: remote backends or client IP lost
	FindingHairpin          = "hairpin"               // a pod cannot reach itself through its Service, ClusterIP works
)

// group is rows that share a key, with how many failed.
type group struct {
	rows   []Row
	failed int
	ok     int
}

func (g *group) add(r Row) {
	g.rows = append(g.rows, r)
	switch r.Result {
	case Failed:
		g.failed++
	case Succeeded:
		g.ok++
	}
}

// allFailed: every measured row failed (exceptions do not count either way).
func (g *group) allFailed() bool { return g != nil && g.failed > 0 && g.ok == 0 }
func (g *group) anyOK() bool     { return g != nil && g.ok > 0 }

func groupBy(rows []Row, key func(Row) (string, bool)) map[string]*group {
	out := map[string]*group{}
	for _, r := range rows {
		k, ok := key(r)
		if !ok {
			continue
		}
		if out[k] == nil {
			out[k] = &group{}
		}
		out[k].add(r)
	}
	return out
}

func sortedGroupKeys(m map[string]*group) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Findings names the culprit where the pattern of rows says so.
func Findings(rows []Row) []report.Finding {
	var out []report.Finding
	// Pod rows to other nodes: a pod reaching its own IP proves nothing
	// about the network (the packet never leaves it).
	podFrom := groupBy(rows, func(r Row) (string, bool) {
		return r.Source.Node, r.Path == PathPod && r.Source.Vantage == VantagePod && r.TargetNode != r.Source.Node
	})
	podTo := groupBy(rows, func(r Row) (string, bool) {
		return r.TargetNode, r.Path == PathPod && r.TargetNode != r.Source.Node
	})
	svcFrom := groupBy(rows, func(r Row) (string, bool) {
		return r.Source.Node, r.Path.IsService() && r.Source.Vantage == VantagePod
	})
	// NodePort rows of both policies: a node whose NodePort is broken
	// fails them all, whatever the client.
	npTo := groupBy(rows, func(r Row) (string, bool) { return r.TargetNode, r.Path == PathNodePort || r.Path == PathLocal })

	// kube-proxy: its node's pods reach pods but no Service, while other
	// nodes' pods do reach Services (so the Services themselves work).
	proxyNodes := map[string]bool{}
	for _, n := range sortedGroupKeys(svcFrom) {
		g := svcFrom[n]
		if !g.allFailed() || !podFrom[n].anyOK() || !othersOK(svcFrom, n) {
			continue
		}
		proxyNodes[n] = true
		ev := fmt.Sprintf("%d of %d ClusterIP/affinity/hairpin rows from %s failed (%s), %d of %d of its pod-IP rows succeeded, other nodes reach the same Services",
			g.failed, len(g.rows), n, firstReason(g), podFrom[n].ok, len(podFrom[n].rows))
		if npTo[n].allFailed() && othersOK(npTo, n) {
			ev += fmt.Sprintf("; NodePort on %s's addresses failed from every client too", n)
		}
		out = append(out, report.Finding{Kind: FindingKubeProxy, Nodes: []string{n}, Evidence: ev,
			Summary: fmt.Sprintf("Service rules on node %s are missing or stale: its kube-proxy (or the Service proxy there) is not working", n)})
	}
	for _, n := range sortedGroupKeys(npTo) {
		g := npTo[n]
		if n == "" || proxyNodes[n] || !g.allFailed() || !othersOK(npTo, n) {
			continue
		}
		out = append(out, report.Finding{Kind: FindingNodePortNode, Nodes: []string{n},
			Summary:  fmt.Sprintf("NodePort is broken on node %s: its addresses fail from every client while other nodes' NodePorts work", n),
			Evidence: fmt.Sprintf("%d of %d rows to %s's NodePort failed (%s)", g.failed, len(g.rows), n, firstReason(g))})
	}
	out = append(out, unreachedBackends(rows, podTo)...)
	out = append(out, pathDown(rows)...)
	out = append(out, dnsFindings(rows)...)
	out = append(out, verdictFindings(rows, svcFrom)...)
	return out
}

// othersOK: some other key of m has a successful row.
func othersOK(m map[string]*group, except string) bool {
	for k, g := range m {
		if k != except && g.anyOK() {
			return true
		}
	}
	return false
}

func firstReason(g *group) string {
	for _, r := range g.rows {
		if r.Result == Failed && len(r.Reasons) > 0 {
			return r.Reasons[0]
		}
	}
	return ""
}

// unreachedBackends: a backend expected on VIP rows that never answered
// on any of them, while those rows reached other backends.
func unreachedBackends(rows []Row, podTo map[string]*group) []report.Finding {
	type tally struct {
		ref        BackendRef
		rows, miss int
	}
	by := map[string]*tally{}
	for _, r := range rows {
		if !r.Path.IsVIP() || !r.Judged || r.Succeeded == 0 || r.Inconclusive != "" {
			continue
		}
		missing := map[string]bool{}
		for _, b := range r.Missing {
			missing[b.Pod] = true
		}
		for _, b := range r.Expected {
			t := by[b.Pod]
			if t == nil {
				t = &tally{ref: b}
				by[b.Pod] = t
			}
			t.rows++
			if missing[b.Pod] {
				t.miss++
			}
		}
	}
	var out []report.Finding
	for _, pod := range sortedKeys(by) {
		t := by[pod]
		if t.rows < 2 || t.miss < t.rows || len(by) < 2 {
			continue
		}
		ev := fmt.Sprintf("missing on %d of %d VIP rows that reached other backends", t.miss, t.rows)
		if g := podTo[t.ref.Node]; g.allFailed() {
			ev += fmt.Sprintf("; its pod IPs fail from every other node too (%d of %d rows): the pod or its node is cut off, not the Service", g.failed, len(g.rows))
		} else if g.anyOK() {
			ev += "; its pod IPs answer directly: the Service rules leave it out"
		}
		out = append(out, report.Finding{Kind: FindingBackendUnreached, Nodes: []string{t.ref.Node}, Target: pod,
			Summary:  fmt.Sprintf("backend %s on node %s never answered through any Service address, while the other backends did", pod, t.ref.Node),
			Evidence: ev})
	}
	return out
}

// pathDown: a whole front (ingress, gateway, loadbalancer) fails while
// ClusterIP works, or one LB address does while the others work.
func pathDown(rows []Row) []report.Finding {
	var out []report.Finding
	byPath := groupBy(rows, func(r Row) (string, bool) { return string(r.Path), true })
	if !byPath[string(PathClusterIP)].anyOK() {
		return nil
	}
	for _, p := range []PathKind{PathIngress, PathGateway, PathLoadBalancer} {
		g := byPath[string(p)]
		if !g.allFailed() {
			continue
		}
		out = append(out, report.Finding{Kind: FindingPathDown, Target: string(p),
			Summary:  fmt.Sprintf("every %s row failed while ClusterIP works: the %s in front of the Service is not serving", p, front(p)),
			Evidence: fmt.Sprintf("%d of %d %s rows failed (%s)", g.failed, len(g.rows), p, firstReason(g))})
	}
	if !byPath[string(PathLoadBalancer)].allFailed() {
		lb := groupBy(rows, func(r Row) (string, bool) { return hostOf(r.Address), r.Path == PathLoadBalancer })
		for _, a := range sortedGroupKeys(lb) {
			if g := lb[a]; g.allFailed() && othersOK(lb, a) {
				out = append(out, report.Finding{Kind: FindingLBAddress, Target: a,
					Summary:  fmt.Sprintf("LoadBalancer address %s fails from every client while the Service's other addresses work", a),
					Evidence: fmt.Sprintf("%d of %d rows failed (%s)", g.failed, len(g.rows), firstReason(g))})
			}
		}
	}
	return out
}

func front(p PathKind) string {
	switch p {
	case PathIngress:
		return "ingress controller"
	case PathGateway:
		return "Gateway"
	}
	return "load-balancer implementation"
}

// dnsFindings: every DNS row fails, or one CoreDNS endpoint does.
func dnsFindings(rows []Row) []report.Finding {
	all := groupBy(rows, func(r Row) (string, bool) { return "", r.Path == PathDNS })[""]
	if all == nil {
		return nil
	}
	if all.allFailed() {
		return []report.Finding{{Kind: FindingDNSDown, Target: "cluster-dns",
			Summary:  "cluster DNS fails from every node, through the Service and at every endpoint",
			Evidence: fmt.Sprintf("%d of %d DNS rows failed (%s)", all.failed, len(all.rows), firstReason(all))}}
	}
	ep := groupBy(rows, func(r Row) (string, bool) {
		return r.Address + "|" + r.TargetNode, r.Path == PathDNS && r.TargetNode != ""
	})
	var out []report.Finding
	for _, k := range sortedGroupKeys(ep) {
		g := ep[k]
		if !g.allFailed() || !othersOK(ep, k) {
			continue
		}
		addr, node, _ := strings.Cut(k, "|")
		out = append(out, report.Finding{Kind: FindingDNSReplica, Nodes: []string{node}, Target: addr,
			Summary:  fmt.Sprintf("the CoreDNS replica at %s (node %s) fails from every client while the other replicas answer", addr, node),
			Evidence: fmt.Sprintf("%d of %d rows failed (%s)", g.failed, len(g.rows), firstReason(g))})
	}
	return out
}

// verdictFindings: affinity, ETP=Local and hairpin rows failing on their
// own terms.
func verdictFindings(rows []Row, svcFrom map[string]*group) []report.Finding {
	var out []report.Finding
	count := func(p PathKind) (failed, total int, reason string) {
		for _, r := range rows {
			if r.Path != p || r.Result == Exception {
				continue
			}
			total++
			if r.Result == Failed {
				failed++
				if reason == "" && len(r.Reasons) > 0 {
					reason = r.Reasons[0]
				}
			}
		}
		return
	}
	if f, t, why := count(PathAffinity); f > 0 && f == t {
		out = append(out, report.Finding{Kind: FindingAffinity,
			Summary:  "sessionAffinity: ClientIP is not honoured: one client's requests went to several backends",
			Evidence: fmt.Sprintf("%d of %d affinity rows failed (%s)", f, t, why)})
	}
	if f, t, why := countLocal(rows); f > 0 {
		out = append(out, report.Finding{Kind: FindingLocal,
			Summary:  "externalTrafficPolicy: Local is not honoured (remote backends answered, the client IP was lost, or a node with a local backend did not answer)",
			Evidence: fmt.Sprintf("%d of %d nodeport-local rows failed (%s)", f, t, why)})
	}
	hp := groupBy(rows, func(r Row) (string, bool) { return r.Source.Node, r.Path == PathHairpin })
	cip := groupBy(rows, func(r Row) (string, bool) { return r.Source.Node, r.Path == PathClusterIP })
	for _, n := range sortedGroupKeys(hp) {
		if hp[n].allFailed() && cip[n].anyOK() {
			out = append(out, report.Finding{Kind: FindingHairpin, Nodes: []string{n},
				Summary:  fmt.Sprintf("hairpin is broken on node %s: its agent cannot reach itself through its own Service while ClusterIP works", n),
				Evidence: firstReason(hp[n])})
		}
	}
	return out
}

// hostOf is the address without its port.
func hostOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i > 0 && !strings.HasSuffix(addr, "]") && strings.Count(addr, ":") == 1 {
		return addr[:i]
	}
	if strings.HasPrefix(addr, "[") {
		if i := strings.Index(addr, "]"); i > 0 {
			return addr[1:i]
		}
	}
	return addr
}

// countLocal counts nodeport-local rows failed for a reason of the policy
// itself (a remote backend, a lost client IP); rows that simply could not
// connect belong to the NodePort and kube-proxy findings.
func countLocal(rows []Row) (failed, total int, reason string) {
	for _, r := range rows {
		if r.Path != PathLocal || r.Result == Exception {
			continue
		}
		total++
		for _, why := range r.Reasons {
			if strings.HasPrefix(why, "externalTrafficPolicy Local") || strings.HasPrefix(why, "client IP not preserved") {
				failed++
				if reason == "" {
					reason = why
				}
				break
			}
		}
	}
	return
}
