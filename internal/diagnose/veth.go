package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Finding kinds of the pod-interface rules (nodes: [the node]; target:
// namespace/pod).
const (
	KindPodVethDown    = "pod-veth-down"    // the pod's host-side veth is down while the pod runs
	KindPodVethMissing = "pod-veth-missing" // the node routes the pod's IP to an interface that does not exist
	KindPodVethMTU     = "pod-veth-mtu"     // the host veth's MTU differs from the cluster's pod MTU
)

// PodVeth is one running pod matched to its host-side interface: the
// node's host route to the pod's IP (`PODIP dev vethX`, a /32 or /128)
// names the interface, as an engineer finds it with `ip route`.
type PodVeth struct {
	Node  string           `json:"node"`
	Pod   string           `json:"pod"` // namespace/name
	IP    string           `json:"ip"`
	Iface string           `json:"iface"`
	Link  *agent.Interface `json:"link"` // nil: no such interface on the node
}

// PodVeths matches every running pod (has an IP, not hostNetwork, not
// terminating) to its host interface on its node. Pods whose node has no
// facts or no host route to the pod's IPs (a bridge CNI routes the whole
// pod CIDR to the bridge) are left out: nothing can be concluded for them.
func PodVeths(facts map[string]agent.NodeFacts, pods []kube.Pod) []PodVeth {
	out, _ := podVeths(facts, pods)
	return out
}

// podVeths also returns the running pods on nodes with facts that have no
// host route (Iface "").
func podVeths(facts map[string]agent.NodeFacts, pods []kube.Pod) (matched, unrouted []PodVeth) {
	var out []PodVeth
	for _, p := range pods {
		f, ok := facts[p.Node]
		if !ok || p.HostNetwork || p.Terminating || len(p.IPs) == 0 {
			continue
		}
		matched := false
		for _, ip := range p.IPs {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				continue
			}
			iface := ""
			for _, r := range f.Routes {
				pr, err := netip.ParsePrefix(r.Dst)
				if err == nil && !r.Reject && r.Gateway == "" && pr.IsSingleIP() && pr.Addr() == a {
					iface = r.Iface
					break
				}
			}
			if iface == "" {
				continue
			}
			matched = true
			pv := PodVeth{Node: p.Node, Pod: p.Namespace + "/" + p.Name, IP: ip, Iface: iface}
			for i := range f.Interfaces {
				if f.Interfaces[i].Name == iface {
					pv.Link = &f.Interfaces[i]
				}
			}
			out = append(out, pv)
			break // one family names the interface; both routes point at it
		}
		if !matched {
			unrouted = append(unrouted, PodVeth{Node: p.Node, Pod: p.Namespace + "/" + p.Name, IP: p.IPs[0]})
		}
	}
	byName := func(a, b PodVeth) int { return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Pod, b.Pod)) }
	slices.SortFunc(out, byName)
	slices.SortFunc(unrouted, byName)
	return out, unrouted
}

// PodMTU is the most common MTU of the pods' host veths over the cluster
// (ties: the larger); 0 when no veth is known.
func PodMTU(vs []PodVeth) int {
	count := map[int]int{}
	for _, v := range vs {
		if v.Link != nil && v.Link.MTU > 0 {
			count[v.Link.MTU]++
		}
	}
	common := 0
	for m, c := range count {
		if c > count[common] || (c == count[common] && m > common) {
			common = m
		}
	}
	return common
}

// podVethFindings names the pods whose host veth is down, missing, or has
// an MTU other than the cluster's pod MTU.
func podVethFindings(facts map[string]agent.NodeFacts, pods []kube.Pod) []report.Finding {
	vs, unrouted := podVeths(facts, pods)
	mtu := PodMTU(vs)
	var out []report.Finding
	// A routed CNI (some pod has a host route) gives every running pod one;
	// a pod without it lost its veth's routes: setting a link down flushes
	// its IPv4 routes, deleting it flushes all. Down veths of that node no
	// pod route names are the candidates. Without any host route in the
	// cluster (a bridge CNI) nothing is concluded.
	if len(vs) > 0 {
		used := map[string]bool{}
		for _, v := range vs {
			used[v.Node+"/"+v.Iface] = true
		}
		for _, u := range unrouted {
			var down []string
			for _, it := range facts[u.Node].Interfaces {
				if it.Kind == "veth" && !used[u.Node+"/"+it.Name] && (!it.Up || it.OperState == "DOWN" || it.OperState == "LOWERLAYERDOWN") {
					down = append(down, it.Name)
				}
			}
			fd := report.Finding{Kind: KindPodVethMissing, Nodes: []string{u.Node}, Target: u.Pod, Failed: 1, Total: 1,
				Summary:  fmt.Sprintf("node %s has no host route to running pod %s (%s): its host veth is gone or its route was deleted; the pod is unreachable", u.Node, u.Pod, u.IP),
				Evidence: fmt.Sprintf("%d other pods of the cluster have a host route (PODIP dev vethX); no down veth without a pod route on %s", len(vs), u.Node)}
			if len(down) > 0 {
				fd.Kind = KindPodVethDown
				fd.Summary = fmt.Sprintf("node %s: running pod %s (%s) has no host route and host veth %s is down (a link set down loses its routes): the pod has no network", u.Node, u.Pod, u.IP, strings.Join(down, " or "))
				fd.Evidence = fmt.Sprintf("down veths on %s that no pod route names: %s; %d other pods of the cluster have a host route", u.Node, strings.Join(down, ", "), len(vs))
			}
			out = append(out, fd)
		}
	}
	for _, v := range vs {
		l := v.Link
		if l == nil {
			out = append(out, report.Finding{Kind: KindPodVethMissing, Nodes: []string{v.Node}, Target: v.Pod,
				Summary:  fmt.Sprintf("node %s routes pod %s (%s) to %s, which does not exist: the pod is unreachable", v.Node, v.Pod, v.IP, v.Iface),
				Evidence: fmt.Sprintf("route %s dev %s; no interface %s in the node's namespace", v.IP, v.Iface, v.Iface), Failed: 1, Total: 1})
			continue
		}
		ev := fmt.Sprintf("route %s dev %s; %s: kind %q, peer ifindex %d, operstate %s, up %v, MTU %d", v.IP, v.Iface, l.Name, l.Kind, l.Peer, l.OperState, l.Up, l.MTU)
		if s := l.Stats; s != nil {
			ev += fmt.Sprintf(", rx errors %d dropped %d, tx errors %d dropped %d", s.RxErrors, s.RxDropped, s.TxErrors, s.TxDropped)
		}
		if !l.Up || l.OperState == "DOWN" || l.OperState == "LOWERLAYERDOWN" {
			state := l.OperState
			if !l.Up {
				state = "admin down"
			}
			out = append(out, report.Finding{Kind: KindPodVethDown, Nodes: []string{v.Node}, Target: v.Pod,
				Summary:  fmt.Sprintf("node %s: host veth %s of running pod %s is %s: the pod has no network", v.Node, l.Name, v.Pod, state),
				Evidence: ev, Failed: 1, Total: 1})
		} else if mtu > 0 && l.MTU != mtu {
			out = append(out, report.Finding{Kind: KindPodVethMTU, Nodes: []string{v.Node}, Target: v.Pod,
				Summary:  fmt.Sprintf("node %s: host veth %s of pod %s has MTU %d, the pods' veths have %d: packets larger than %d to or from the pod are lost", v.Node, l.Name, v.Pod, l.MTU, mtu, min(l.MTU, mtu)),
				Evidence: ev, Failed: 1, Total: 1})
		}
	}
	return out
}

// AnalyzePods runs the rules that need the cluster's pods besides the node
// facts (pod interfaces). podsErr non-empty: pods could not be listed, the
// rules are inconclusive and give no finding.
func AnalyzePods(facts map[string]agent.NodeFacts, pods []kube.Pod, podsErr string) []report.Finding {
	if podsErr != "" {
		return nil
	}
	return podVethFindings(facts, pods)
}
