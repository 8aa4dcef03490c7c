package diagnose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
)

var routeNodes = []kube.Node{{Name: "a", InternalIPs: []string{"10.0.0.1"}, PodCIDRs: []string{"10.244.1.0/24"}},
	{Name: "b", InternalIPs: []string{"10.0.0.2"}, PodCIDRs: []string{"10.244.2.0/24"}}}

var defaultRules = []agent.RoutingRule{{Family: "IPv4", Priority: 0, Action: "lookup", Table: 255},
	{Family: "IPv4", Priority: 32766, Action: "lookup", Table: 254}, {Family: "IPv4", Priority: 32767, Action: "lookup", Table: 253}}

func TestRoutePolicyTable(t *testing.T) {
	// b's pod CIDR is only in table 100, which a rule before main looks up.
	f := agent.NodeFacts{Routes: []agent.Route{{Dst: "10.244.2.0/24", Gateway: "10.0.0.2", Table: 100}},
		Rules: append([]agent.RoutingRule{{Family: "IPv4", Priority: 100, Action: "lookup", Table: 100}}, defaultRules...)}
	if fs, inc := AnalyzeFactsFull(routeNodes[:2], map[string]agent.NodeFacts{"a": f}, nil); len(fs) != 0 || len(inc) != 0 {
		t.Errorf("routed by table 100: %+v %+v", fs, inc)
	}
	// Without the rule the table is never looked up: missing.
	f.Rules = defaultRules
	fs, _ := AnalyzeFactsFull(routeNodes[:2], map[string]agent.NodeFacts{"a": f}, nil)
	if len(fs) != 1 || fs[0].Kind != KindRouteMissing || !reflect.DeepEqual(fs[0].Nodes, []string{"a", "b"}) {
		t.Errorf("table 100 unused: %+v", fs)
	}
	// A rule that drops traffic to the CIDR wins over the route.
	f.Rules = append([]agent.RoutingRule{{Family: "IPv4", Priority: 50, Dst: "10.244.0.0/16", Action: "unreachable"}}, defaultRules...)
	f.Routes = append(f.Routes, agent.Route{Dst: "10.244.2.0/24", Gateway: "10.0.0.2", Table: 254})
	if fs, _ := AnalyzeFactsFull(routeNodes[:2], map[string]agent.NodeFacts{"a": f}, nil); len(fs) != 1 || !strings.Contains(fs[0].Evidence, "rule 50 unreachable") {
		t.Errorf("unreachable rule: %+v", fs)
	}
	// A rule selecting by source mark is not pod traffic to another node: skipped.
	f.Rules = append([]agent.RoutingRule{{Family: "IPv4", Priority: 50, Fwmark: 0x4000, Action: "unreachable"}}, defaultRules...)
	if fs, _ := AnalyzeFactsFull(routeNodes[:2], map[string]agent.NodeFacts{"a": f}, nil); len(fs) != 0 {
		t.Errorf("fwmark rule: %+v", fs)
	}
}

func TestRouteDefaultInconclusive(t *testing.T) {
	f := agent.NodeFacts{Routes: []agent.Route{{Dst: "0.0.0.0/0", Gateway: "10.0.0.254", Iface: "eth0", Table: 254}}, Rules: defaultRules}
	fs, inc := AnalyzeFactsFull(routeNodes[:2], map[string]agent.NodeFacts{"a": f}, nil)
	if len(fs) != 0 || len(inc) != 1 || inc[0].Rule != KindRouteMissing || !reflect.DeepEqual(inc[0].Nodes, []string{"a"}) || !strings.Contains(inc[0].Reason, "10.244.2.0/24 of b (default route via 10.0.0.254") {
		t.Errorf("default route: %+v %+v", fs, inc)
	}
	// The default route's next hop is the owner node: routed.
	f.Routes[0].Gateway = "10.0.0.2"
	if fs, inc := AnalyzeFactsFull(routeNodes[:2], map[string]agent.NodeFacts{"a": f}, nil); len(fs) != 0 || len(inc) != 0 {
		t.Errorf("default via the owner: %+v %+v", fs, inc)
	}
}

func TestWithPodAddrs(t *testing.T) {
	nodes := []kube.Node{{Name: "a", PodCIDRs: []string{"10.244.1.0/24"}}, {Name: "b"}}
	pods := []kube.Pod{{Node: "b", IPs: []string{"192.168.7.3", "fd00::3"}}, {Node: "b", HostNetwork: true, IPs: []string{"10.0.0.2"}}, {Node: "a", IPs: []string{"10.244.1.5"}}}
	got := WithPodAddrs(nodes, pods)
	if !reflect.DeepEqual(got[0].PodCIDRs, []string{"10.244.1.0/24"}) || !reflect.DeepEqual(got[1].PodCIDRs, []string{"192.168.7.3/32", "fd00::3/128"}) || len(nodes[1].PodCIDRs) != 0 {
		t.Errorf("%+v", got)
	}
}
