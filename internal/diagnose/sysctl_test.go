package diagnose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/probe"
)

func intp(v int) *int { return &v }

// withSysctls gives every node of factsCluster good sysctls, a pod-facing
// veth (routed /32 to a local pod, strict rp_filter) and loose rp_filter on eth0.
func withSysctls(facts map[string]agent.NodeFacts) {
	for name, f := range facts {
		f.Sysctls = &agent.Sysctls{IPForward: 1, IPv6Forwarding: 1, RPFilterAll: 0, RPFilterDef: 1, BridgeNFCallIPTables: -1, BridgeNFCallIP6Tables: -1}
		ifs := append([]agent.Interface(nil), f.Interfaces...)
		ifs[1].RPFilter = intp(2)
		ifs = append(ifs, agent.Interface{Name: "veth1", Kind: "veth", MTU: 1500, Up: true, RPFilter: intp(1)})
		f.Interfaces = ifs
		f.Routes = append(f.Routes, agent.Route{Dst: "10.244." + map[string]string{"a": "1", "b": "2", "c": "3"}[name] + ".5/32", Iface: "veth1"})
		facts[name] = f
	}
}

func TestSysctlHealthy(t *testing.T) {
	nodes, facts := factsCluster()
	withSysctls(facts)
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("healthy sysctls (strict rp_filter only on a routed veth): %+v", fs)
	}
}

func TestSysctlForwardingOff(t *testing.T) {
	nodes, facts := factsCluster()
	withSysctls(facts)
	facts["b"].Sysctls.IPForward = 0
	facts["c"].Sysctls.IPv6Forwarding = 0
	fs := AnalyzeFacts(nodes, facts, nil)
	if len(fs) != 2 {
		t.Fatalf("findings %+v, want ip_forward on b and forwarding on c", fs)
	}
	if f := fs[0]; f.Kind != KindSysctl || !reflect.DeepEqual(f.Nodes, []string{"b"}) || f.Target != "net.ipv4.ip_forward" || f.Family != probe.IPv4 || !strings.Contains(f.Summary, "= 0") {
		t.Errorf("b: %+v", f)
	}
	if f := fs[1]; !reflect.DeepEqual(f.Nodes, []string{"c"}) || f.Target != "net.ipv6.conf.all.forwarding" || f.Family != probe.IPv6 {
		t.Errorf("c: %+v", f)
	}
}

func TestSysctlForwardingOffSingleStackIgnoresOtherFamily(t *testing.T) {
	nodes, facts := factsCluster()
	withSysctls(facts)
	for i := range nodes {
		nodes[i].PodCIDRs = nodes[i].PodCIDRs[:1]
		nodes[i].InternalIPs = nodes[i].InternalIPs[:1]
	}
	for n, f := range facts {
		facts[n] = dropRoutes(f, "fd00:10:0:1::/64", "fd00:10:0:2::/64", "fd00:10:0:3::/64")
	}
	facts["a"].Sysctls.IPv6Forwarding = 0
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("IPv4-only cluster, IPv6 forwarding off: %+v", fs)
	}
}

func TestSysctlUnknownIsInconclusive(t *testing.T) {
	nodes, facts := factsCluster() // no sysctls at all (older agent)
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("older agent: %+v", fs)
	}
	withSysctls(facts)
	s := facts["a"].Sysctls
	s.IPForward, s.IPv6Forwarding, s.RPFilterAll = -1, -1, -1
	facts["a"].Interfaces[1].RPFilter = intp(1) // strict, but "all" unknown
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("unknown values: %+v", fs)
	}
}

func TestSysctlRPFilterEffectiveIsMax(t *testing.T) {
	for _, tc := range []struct {
		all, iface int
		want       string // target, "" none
	}{
		{0, 1, "net.ipv4.conf.eth0.rp_filter"},
		{1, 0, "net.ipv4.conf.all.rp_filter"},
		{1, 2, ""}, // max is 2 (loose): fine
		{2, 1, ""},
		{0, 0, ""},
	} {
		nodes, facts := factsCluster()
		withSysctls(facts)
		facts["a"].Sysctls.RPFilterAll = tc.all
		facts["a"].Interfaces[1].RPFilter = intp(tc.iface)
		fs := AnalyzeFacts(nodes, facts, nil)
		if tc.want == "" {
			if len(fs) != 0 {
				t.Errorf("all=%d eth0=%d: %+v", tc.all, tc.iface, fs)
			}
			continue
		}
		if len(fs) != 1 || fs[0].Target != tc.want || fs[0].Nodes[0] != "a" || !strings.Contains(fs[0].Summary, "strict") {
			t.Errorf("all=%d eth0=%d: %+v, want %s on a", tc.all, tc.iface, fs, tc.want)
		}
	}
}

func TestSysctlRPFilterStrictOnPodBridge(t *testing.T) {
	nodes, facts := factsCluster()
	withSysctls(facts)
	f := facts["c"]
	f.Interfaces = append(f.Interfaces, agent.Interface{Name: "cni0", Kind: "bridge", MTU: 1500, Up: true, RPFilter: intp(1)})
	f.Routes = append(f.Routes, agent.Route{Dst: "10.244.3.0/24", Iface: "cni0"})
	facts["c"] = f
	fs := AnalyzeFacts(nodes, facts, nil)
	var targets []string
	for _, x := range fs {
		if x.Nodes[0] != "c" {
			t.Errorf("finding on %v", x.Nodes)
		}
		targets = append(targets, x.Target)
	}
	// cni0 is strict, and br_netfilter is not loaded (-1) while it bridges pods.
	want := []string{"net.ipv4.conf.cni0.rp_filter", "net.bridge.bridge-nf-call-iptables"}
	if !reflect.DeepEqual(targets, want) {
		t.Fatalf("targets %v, want %v (%+v)", targets, want, fs)
	}
	if !strings.Contains(fs[1].Summary, "br_netfilter not loaded") {
		t.Errorf("bridge-nf absent: %s", fs[1].Summary)
	}
	facts["c"].Interfaces[len(f.Interfaces)-1].RPFilter = intp(2)
	facts["c"].Sysctls.BridgeNFCallIPTables = 0
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 1 || !strings.Contains(fs[0].Summary, "= 0") || !strings.Contains(fs[0].Summary, "cni0") {
		t.Errorf("bridge-nf-call-iptables=0: %+v", fs)
	}
	facts["c"].Sysctls.BridgeNFCallIPTables = 1
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("bridge-nf-call-iptables=1: %+v", fs)
	}
}

func TestSysctlBridgeWithoutPodsIgnored(t *testing.T) {
	nodes, facts := factsCluster()
	withSysctls(facts)
	f := facts["a"]
	f.Interfaces = append(f.Interfaces, agent.Interface{Name: "docker0", Kind: "bridge", Addrs: []string{"172.17.0.1/16"}})
	f.Routes = append(f.Routes, agent.Route{Dst: "172.17.0.0/16", Iface: "docker0"})
	facts["a"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("a bridge no pod route uses: %+v", fs)
	}
}

func TestConntrackDrops(t *testing.T) {
	nodes, facts := factsCluster()
	f := facts["b"]
	f.ConntrackStats = &agent.ConntrackStats{}
	facts["b"] = f
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("zero counters (and unknown on a, c): %+v", fs)
	}
	f.ConntrackStats = &agent.ConntrackStats{InsertFailed: 5, EarlyDrop: 10}
	facts["b"] = f
	fs := AnalyzeFacts(nodes, facts, nil)
	if len(fs) != 1 || fs[0].Kind != KindConntrackDrops || !reflect.DeepEqual(fs[0].Nodes, []string{"b"}) || fs[0].Failed != 15 ||
		!strings.Contains(fs[0].Summary, "insert_failed 5, drop 0, early_drop 10") {
		t.Errorf("drops on b: %+v", fs)
	}
}
