package diagnose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// vethCluster: factsCluster with pods p1..p3 on a, b, c, each routed
// (PODIP/32 dev vethN) to an up host veth of MTU 1500, plus a hostNetwork
// pod and a pod without an IP yet.
func vethCluster() ([]kube.Node, map[string]agent.NodeFacts, []kube.Pod) {
	nodes, facts := factsCluster()
	var pods []kube.Pod
	for i, n := range []string{"a", "b", "c"} {
		d := string(rune('1' + i))
		ip := "10.244." + d + ".5"
		f := facts[n]
		f.Interfaces = append(f.Interfaces, agent.Interface{Name: "veth" + d, Kind: "veth", Peer: 2, MTU: 1500, Up: true, OperState: "UP", Stats: &agent.LinkStats{RxDropped: 3}})
		f.Routes = append(f.Routes, agent.Route{Dst: ip + "/32", Iface: "veth" + d})
		facts[n] = f
		pods = append(pods, kube.Pod{Namespace: "default", Name: "p" + d, Node: n, IPs: []string{ip, "fd00:10:0:" + d + "::5"}})
	}
	pods = append(pods, kube.Pod{Namespace: "kube-system", Name: "hostnet", Node: "a", IPs: []string{"10.0.0.1"}, HostNetwork: true},
		kube.Pod{Namespace: "default", Name: "pending", Node: "c"})
	return nodes, facts, pods
}

func TestPodVethsHealthy(t *testing.T) {
	_, facts, pods := vethCluster()
	vs := PodVeths(facts, pods)
	if len(vs) != 3 || vs[0].Pod != "default/p1" || vs[0].Iface != "veth1" || vs[0].Link == nil || vs[0].Link.Peer != 2 || vs[2].Node != "c" {
		t.Fatalf("pod veths %+v", vs)
	}
	if PodMTU(vs) != 1500 {
		t.Errorf("pod MTU %d", PodMTU(vs))
	}
	if fs := AnalyzePods(facts, pods, ""); len(fs) != 0 {
		t.Errorf("healthy: %+v", fs)
	}
}

func TestPodVethDownMissingMTU(t *testing.T) {
	_, facts, pods := vethCluster()
	facts["a"].Interfaces[2].OperState = "DOWN" // carrier lost (peer down)
	facts["b"].Interfaces[2].MTU = 1400
	f := facts["c"]
	f.Interfaces = f.Interfaces[:2] // veth3 gone, its route stays
	facts["c"] = f
	fs := AnalyzePods(facts, pods, "")
	want := [][3]string{{KindPodVethDown, "a", "default/p1"}, {KindPodVethMTU, "b", "default/p2"}, {KindPodVethMissing, "c", "default/p3"}}
	var got [][3]string
	for _, x := range fs {
		got = append(got, [3]string{x.Kind, strings.Join(x.Nodes, ","), x.Target})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !strings.Contains(fs[0].Summary, "veth1") || !strings.Contains(fs[0].Evidence, "rx errors 0 dropped 3") {
		t.Errorf("down: %+v", fs[0])
	}
	if !strings.Contains(fs[1].Summary, "MTU 1400") || !strings.Contains(fs[1].Summary, "have 1500") {
		t.Errorf("mtu: %+v", fs[1])
	}
	facts["a"].Interfaces[2].OperState, facts["a"].Interfaces[2].Up = "DOWN", false
	if fs := AnalyzePods(facts, pods, ""); !strings.Contains(fs[0].Summary, "admin down") {
		t.Errorf("admin down: %+v", fs[0])
	}
}

func TestPodVethInconclusive(t *testing.T) {
	_, facts, pods := vethCluster()
	facts["a"].Interfaces[2].Up = false
	if fs := AnalyzePods(facts, pods, "listing pods: forbidden"); len(fs) != 0 {
		t.Errorf("pods not listed: %+v", fs)
	}
	delete(facts, "a") // no facts from a: its pods are not judged
	if fs := AnalyzePods(facts, pods, ""); len(fs) != 0 {
		t.Errorf("node without facts: %+v", fs)
	}
	// A terminating pod whose veth is already down is no finding.
	_, facts, pods = vethCluster()
	facts["b"].Interfaces[2].OperState = "DOWN"
	pods[1].Terminating = true
	if fs := AnalyzePods(facts, pods, ""); len(fs) != 0 {
		t.Errorf("terminating pod: %+v", fs)
	}
}

func TestPodVethUnrouted(t *testing.T) {
	// Setting a host veth down flushes its IPv4 routes: pod p1 has no host
	// route left, veth1 is down and named by no route.
	_, facts, pods := vethCluster()
	facts["a"] = dropRoutes(facts["a"], "10.244.1.5/32")
	facts["a"].Interfaces[2].Up, facts["a"].Interfaces[2].OperState = false, "DOWN"
	fs := AnalyzePods(facts, pods, "")
	if len(fs) != 1 || fs[0].Kind != KindPodVethDown || fs[0].Nodes[0] != "a" || fs[0].Target != "default/p1" || !strings.Contains(fs[0].Summary, "veth1") {
		t.Fatalf("down veth, route flushed: %+v", fs)
	}
	// Veth deleted with its route: missing, no candidate.
	f := facts["a"]
	f.Interfaces = f.Interfaces[:2]
	facts["a"] = f
	fs = AnalyzePods(facts, pods, "")
	if len(fs) != 1 || fs[0].Kind != KindPodVethMissing || fs[0].Target != "default/p1" {
		t.Fatalf("veth deleted: %+v", fs)
	}
}

func TestPodVethBridgeCNIInconclusive(t *testing.T) {
	// A bridge CNI: no pod has a host route (cni0 carries the pod CIDR):
	// no pod is matched and none is judged, even with a down veth.
	_, facts, pods := vethCluster()
	for n, d := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		f := dropRoutes(facts[n], "10.244."+d+".5/32")
		f.Routes = append(f.Routes, agent.Route{Dst: "10.244." + d + ".0/24", Iface: "cni0"})
		f.Interfaces[2].Up = false
		facts[n] = f
	}
	if vs := PodVeths(facts, pods); len(vs) != 0 {
		t.Errorf("matched %+v", vs)
	}
	if fs := AnalyzePods(facts, pods, ""); len(fs) != 0 {
		t.Errorf("bridge CNI: %+v", fs)
	}
}
