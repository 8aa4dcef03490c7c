package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netdoctor/netdoctor/internal/report"
)

// Finding kinds of the DNS queries each node's host-network agent sends to
// the cluster DNS Service and to each CoreDNS endpoint.
const (
	KindDNSReplicaFailing = "dns-replica-failing" // one CoreDNS replica does not answer
	KindDNSNodeFailing    = "dns-node-failing"    // a node gets no answer from the cluster DNS
)

// NodeDNSQuery is one query's outcome (check.DNSQuery without the probe
// details): which node asked which server, the replica behind it.
type NodeDNSQuery struct {
	Node, Server, Pod, PodNode string
	OK                         bool
	Reason                     string
}

// AnalyzeNodeDNS names the CoreDNS replicas and the nodes that fail:
//   - a replica whose queries fail from every node (two or more) that some
//     other server answers: dns-replica-failing naming the pod (its node
//     in Nodes); failing from some nodes only is a path problem, not the
//     replica's, and left to the route, neighbour and Service rules;
//   - a node none of whose queries are answered, or whose queries to the
//     Service IP fail while every replica answers it directly (the node's
//     Service rules): dns-node-failing.
//
// Service-IP failures on a node that also sees a failing replica are that
// replica's doing (kube-proxy picks a replica per query) and named only
// there.
func AnalyzeNodeDNS(qs []NodeDNSQuery) []report.Finding {
	byNode := map[string][]NodeDNSQuery{}
	for _, q := range qs {
		byNode[q.Node] = append(byNode[q.Node], q)
	}
	var nodes []string
	for n := range byNode {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var out []report.Finding
	dead := map[string]bool{} // nodes that get no answer at all
	for _, n := range nodes {
		var failed, vipFailed, podOK, pods int
		var reasons []string
		for _, q := range byNode[n] {
			if !q.OK {
				failed++
				if len(reasons) < 3 {
					reasons = append(reasons, q.Reason)
				}
			}
			if q.Pod == "" && !q.OK {
				vipFailed++
			}
			if q.Pod != "" {
				pods++
				if q.OK {
					podOK++
				}
			}
		}
		switch {
		case failed == len(byNode[n]):
			dead[n] = true
			out = append(out, report.Finding{Kind: KindDNSNodeFailing, Nodes: []string{n}, Protocol: "dns",
				Summary:  fmt.Sprintf("node %s gets no DNS answer from the cluster DNS Service nor from any CoreDNS replica: name resolution from its network fails", n),
				Evidence: strings.Join(reasons, "; "), Failed: failed, Total: failed})
		case vipFailed > 0 && pods > 0 && podOK == pods:
			out = append(out, report.Finding{Kind: KindDNSNodeFailing, Nodes: []string{n}, Protocol: "dns",
				Summary:  fmt.Sprintf("node %s: queries to the cluster DNS Service IP fail while every CoreDNS replica answers it directly: the node's Service rules for kube-dns are broken", n),
				Evidence: strings.Join(reasons, "; "), Failed: vipFailed, Total: len(byNode[n])})
		}
	}
	type replica struct {
		pod, node   string
		from, total []string
		reasons     []string
	}
	reps := map[string]*replica{}
	var order []string
	for _, n := range nodes {
		if dead[n] {
			continue
		}
		for _, q := range byNode[n] {
			if q.Pod == "" {
				continue
			}
			key := q.Pod + " " + q.Server
			r := reps[key]
			if r == nil {
				r = &replica{pod: q.Pod, node: q.PodNode}
				reps[key] = r
				order = append(order, key)
			}
			r.total = append(r.total, n)
			if !q.OK {
				r.from = append(r.from, n)
				if len(r.reasons) < 2 {
					r.reasons = append(r.reasons, q.Reason)
				}
			}
		}
	}
	slices.Sort(order)
	// One finding per replica (both families together).
	seen := map[string]int{}
	for _, key := range order {
		r := reps[key]
		// Only a replica no node reaches is the replica's fault; failing
		// from some nodes is a path between them (route, neighbour and
		// Service rules name it), and one asking node cannot tell.
		if len(r.from) == 0 || len(r.from) < len(r.total) || len(r.total) < 2 {
			continue
		}
		server := strings.TrimPrefix(key, r.pod+" ")
		where := "from every node"
		ev := fmt.Sprintf("queries to %s (%s) fail %s: %s", server, r.pod, where, strings.Join(r.reasons, "; "))
		if i, ok := seen[r.pod]; ok {
			out[i].Evidence += "; " + ev
			out[i].Failed += len(r.from)
			out[i].Total += len(r.total)
			continue
		}
		seen[r.pod] = len(out)
		f := report.Finding{Kind: KindDNSReplicaFailing, Target: r.pod, Protocol: "dns",
			Summary:  fmt.Sprintf("queries to CoreDNS replica %s (on %s) fail %s: about one query in %d to the DNS Service goes to it and fails", r.pod, r.node, where, replicasOf(reps)),
			Evidence: ev, Failed: len(r.from), Total: len(r.total)}
		if r.node != "" {
			f.Nodes = []string{r.node}
		}
		out = append(out, f)
	}
	return out
}

// replicasOf counts the distinct replicas queried.
func replicasOf[T any](reps map[string]T) int {
	pods := map[string]bool{}
	for k := range reps {
		pod, _, _ := strings.Cut(k, " ")
		pods[pod] = true
	}
	return max(len(pods), 1)
}
