package diagnose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// factsCluster is three dual-stack nodes a, b, c; every node routes to the
// others' pod CIDRs and has MTU 1500 on eth0.
func factsCluster() ([]kube.Node, map[string]agent.NodeFacts) {
	names := []string{"a", "b", "c"}
	var nodes []kube.Node
	for i, n := range names {
		d := string(rune('1' + i))
		nodes = append(nodes, kube.Node{Name: n, InternalIPs: []string{"10.0.0." + d, "fd00::" + d},
			PodCIDRs: []string{"10.244." + d + ".0/24", "fd00:10:0:" + d + "::/64"}})
	}
	facts := map[string]agent.NodeFacts{}
	for _, x := range nodes {
		f := agent.NodeFacts{Node: x.Name, Conntrack: agent.Usage{Count: 10, Max: 1000}, NeighGC4: [3]int{128, 512, 1024},
			Interfaces: []agent.Interface{{Name: "lo", MTU: 65536, Up: true, Addrs: []string{"127.0.0.1/8"}},
				{Name: "eth0", MTU: 1500, Up: true, Addrs: []string{x.InternalIPs[0] + "/24", x.InternalIPs[1] + "/64"}}}}
		for _, y := range nodes {
			if y.Name == x.Name {
				continue
			}
			for i, c := range y.PodCIDRs {
				f.Routes = append(f.Routes, agent.Route{Dst: c, Gateway: y.InternalIPs[i], Iface: "eth0"})
			}
		}
		// The kernel's IPv6 null route: a reject ::/0 that must not count as a route.
		f.Routes = append(f.Routes, agent.Route{Dst: "::/0", Iface: "lo", Reject: true})
		facts[x.Name] = f
	}
	return nodes, facts
}

func kinds(fs []report.Finding) []string {
	var k []string
	for _, f := range fs {
		k = append(k, f.Kind)
	}
	return k
}

func dropRoutes(f agent.NodeFacts, cidrs ...string) agent.NodeFacts {
	var keep []agent.Route
	for _, r := range f.Routes {
		if !strings.Contains(strings.Join(cidrs, " "), r.Dst) {
			keep = append(keep, r)
		}
	}
	f.Routes = keep
	return f
}

func TestFactsHealthy(t *testing.T) {
	nodes, facts := factsCluster()
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("healthy cluster: %+v", fs)
	}
}

func TestRouteMissingBothFamilies(t *testing.T) {
	nodes, facts := factsCluster()
	for _, x := range []string{"a", "c"} {
		facts[x] = dropRoutes(facts[x], "10.244.2.0/24", "fd00:10:0:2::/64")
	}
	fs := AnalyzeFacts(nodes, facts, nil)
	if !reflect.DeepEqual(kinds(fs), []string{KindRouteMissing, KindRouteMissing}) {
		t.Fatalf("findings %+v", fs)
	}
	for i, x := range []string{"a", "c"} {
		f := fs[i]
		if !reflect.DeepEqual(f.Nodes, []string{x, "b"}) || f.Target != "10.244.2.0/24,fd00:10:0:2::/64" || f.Family != "" {
			t.Errorf("finding %d: %+v", i, f)
		}
	}
}

func TestRouteMissingOneFamily(t *testing.T) {
	nodes, facts := factsCluster()
	facts["a"] = dropRoutes(facts["a"], "fd00:10:0:3::/64")
	fs := AnalyzeFacts(nodes, facts, nil)
	if len(fs) != 1 || fs[0].Family != probe.IPv6 || fs[0].Target != "fd00:10:0:3::/64" || !strings.Contains(fs[0].Evidence, "reject route ::/0") {
		t.Errorf("findings %+v", fs)
	}
}

func TestDefaultRouteCoversEverything(t *testing.T) {
	nodes, facts := factsCluster()
	f := facts["a"]
	f.Routes = []agent.Route{{Dst: "0.0.0.0/0", Gateway: "10.0.0.254", Iface: "eth0"}, {Dst: "::/0", Gateway: "fd00::fe", Iface: "eth0"}}
	facts["a"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("default routes: %+v", fs)
	}
}

func TestRejectRouteIsMissing(t *testing.T) {
	nodes, facts := factsCluster()
	f := facts["a"]
	// A default route, but a more specific unreachable route for b's pods wins.
	f.Routes = append(f.Routes, agent.Route{Dst: "0.0.0.0/0", Gateway: "10.0.0.254"}, agent.Route{Dst: "10.244.2.0/23", Reject: true})
	f = dropRoutes(f, "10.244.2.0/24")
	facts["a"] = f
	fs := AnalyzeFacts(nodes, facts, nil)
	if len(fs) != 1 || fs[0].Kind != KindRouteMissing || fs[0].Target != "10.244.2.0/24" || fs[0].Family != probe.IPv4 ||
		!strings.Contains(fs[0].Evidence, "reject route 10.244.2.0/23") {
		t.Errorf("findings %+v", fs)
	}
}

func TestMTUMismatch(t *testing.T) {
	nodes, facts := factsCluster()
	f := facts["c"]
	f.Interfaces = append([]agent.Interface(nil), f.Interfaces...)
	f.Interfaces[1].MTU = 1280
	facts["c"] = f
	fs := AnalyzeFacts(nodes, facts, nil)
	if len(fs) != 1 || fs[0].Kind != KindMTUMismatch || !reflect.DeepEqual(fs[0].Nodes, []string{"c"}) ||
		!strings.Contains(fs[0].Summary, "MTU 1280") || !strings.Contains(fs[0].Summary, "have 1500") {
		t.Errorf("findings %+v", fs)
	}
}

func TestConntrackNearFull(t *testing.T) {
	nodes, facts := factsCluster()
	f := facts["b"]
	f.Conntrack = agent.Usage{Count: 899, Max: 1000}
	facts["b"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("89.9%%: %+v", fs)
	}
	f.Conntrack = agent.Usage{Count: 900, Max: 1000}
	facts["b"] = f
	fs := AnalyzeFacts(nodes, facts, nil)
	if len(fs) != 1 || fs[0].Kind != KindConntrackNearFull || fs[0].Nodes[0] != "b" || !strings.Contains(fs[0].Summary, "90% full") {
		t.Errorf("90%%: %+v", fs)
	}
	f.Conntrack = agent.Usage{Count: -1, Max: -1}
	facts["b"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("unknown conntrack: %+v", fs)
	}
}

func TestNeighbourNearFull(t *testing.T) {
	nodes, facts := factsCluster()
	f := facts["a"]
	f.NeighGC4 = [3]int{1, 3, 100}
	f.Neighbours = make([]agent.Neighbour, 2)
	facts["a"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("below gc_thresh2: %+v", fs)
	}
	f.Neighbours = make([]agent.Neighbour, 3)
	facts["a"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 1 || fs[0].Kind != KindNeighbourNearFull {
		t.Errorf("at gc_thresh2: %+v", fs)
	}
	f.NeighGC4 = [3]int{-1, -1, 10}
	f.Neighbours = make([]agent.Neighbour, 9)
	facts["a"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 1 || fs[0].Kind != KindNeighbourNearFull {
		t.Errorf("90%% of gc_thresh3: %+v", fs)
	}
}

func TestFactsUnavailable(t *testing.T) {
	nodes, facts := factsCluster()
	delete(facts, "b")
	fs := AnalyzeFacts(nodes, facts, map[string]string{"b": "ImagePullBackOff"})
	if len(fs) != 1 || fs[0].Kind != KindFactsUnavailable || fs[0].Reason != "ImagePullBackOff" || fs[0].Nodes[0] != "b" {
		t.Errorf("findings %+v", fs)
	}
}
