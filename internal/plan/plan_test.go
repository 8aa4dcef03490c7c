package plan

import (
	"bytes"
	"fmt"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"sort"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// testNode describes one node of a hand-made inventory: its node IPs and
// its pod agent's IPs. Agents are Ready unless named in notReady.
type testNode struct {
	name   string
	nodeIP []string
	podIP  []string
}

func testInventory(cluster string, nodes []testNode, notReady ...string) *inventory.Inventory {
	inv := &inventory.Inventory{Cluster: cluster, Agents: map[deploy.Network]map[string]*inventory.Agent{
		deploy.PodNetwork: {}, deploy.HostNetwork: {},
	}}
	for _, n := range nodes {
		inv.Nodes = append(inv.Nodes, kube.Node{Name: n.name, InternalIPs: n.nodeIP})
		bad := false
		for _, nr := range notReady {
			bad = bad || nr == n.name
		}
		for _, net := range []deploy.Network{deploy.PodNetwork, deploy.HostNetwork} {
			a := &inventory.Agent{Cluster: cluster, Node: n.name, Network: net, Pod: fmt.Sprintf("%s-%s-%s", deploy.DaemonSetName(net), cluster, n.name), Ready: !bad}
			a.IPs = n.podIP
			if net == deploy.HostNetwork {
				a.IPs = n.nodeIP
			}
			if bad {
				a.Problem = fmt.Sprintf("agent pod %s on %s not ready: ImagePullBackOff", a.Pod, n.name)
			}
			inv.Agents[net][n.name] = a
		}
	}
	return inv
}

var dual = []testNode{
	{"n1", []string{"10.0.0.1", "fd00::1"}, []string{"10.1.1.5", "fd01:1::5"}},
	{"n2", []string{"10.0.0.2", "fd00::2"}, []string{"10.1.2.5", "fd01:2::5"}},
}

func both() []probe.Family { return []probe.Family{probe.IPv4, probe.IPv6} }

// line renders a check compactly for comparisons.
func line(c Check) string {
	s := fmt.Sprintf("%s[%s]->%s %s %s", c.Source.Pod, c.Pair.SrcIP, c.Pair.DstNode, c.Pair.TargetIP, c.Pair.Family)
	if c.Target.ExpectPod != "" {
		s += " expect=" + c.Target.ExpectPod
	}
	if c.Skip != "" {
		s += " SKIP(" + c.Skip + ")"
	}
	return s
}

func lines(cs []Check) string {
	var out []string
	for _, c := range cs {
		out = append(out, line(c))
	}
	return strings.Join(out, "\n")
}

func TestPlanModes(t *testing.T) {
	tests := map[string]struct {
		mode string
		want string
	}{
		"pod: pod agents to pod IPs": {"pod", `
netdoctor-agent-pod-src-n1[10.1.1.5]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n1[fd01:1::5]->n1 fd01:1::5 IPv6 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n1[10.1.1.5]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2
netdoctor-agent-pod-src-n1[fd01:1::5]->n2 fd01:2::5 IPv6 expect=netdoctor-agent-pod-src-n2
netdoctor-agent-pod-src-n2[10.1.2.5]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n2[fd01:2::5]->n1 fd01:1::5 IPv6 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n2[10.1.2.5]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2
netdoctor-agent-pod-src-n2[fd01:2::5]->n2 fd01:2::5 IPv6 expect=netdoctor-agent-pod-src-n2`},
		"node: host agents to node IPs": {"node", `
netdoctor-agent-host-src-n1[10.0.0.1]->n1 10.0.0.1 IPv4 expect=netdoctor-agent-host-src-n1
netdoctor-agent-host-src-n1[fd00::1]->n1 fd00::1 IPv6 expect=netdoctor-agent-host-src-n1
netdoctor-agent-host-src-n1[10.0.0.1]->n2 10.0.0.2 IPv4 expect=netdoctor-agent-host-src-n2
netdoctor-agent-host-src-n1[fd00::1]->n2 fd00::2 IPv6 expect=netdoctor-agent-host-src-n2
netdoctor-agent-host-src-n2[10.0.0.2]->n1 10.0.0.1 IPv4 expect=netdoctor-agent-host-src-n1
netdoctor-agent-host-src-n2[fd00::2]->n1 fd00::1 IPv6 expect=netdoctor-agent-host-src-n1
netdoctor-agent-host-src-n2[10.0.0.2]->n2 10.0.0.2 IPv4 expect=netdoctor-agent-host-src-n2
netdoctor-agent-host-src-n2[fd00::2]->n2 fd00::2 IPv6 expect=netdoctor-agent-host-src-n2`},
		"node-to-pod: host agents to pod IPs": {"node-to-pod", `
netdoctor-agent-host-src-n1[10.0.0.1]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-host-src-n1[fd00::1]->n1 fd01:1::5 IPv6 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-host-src-n1[10.0.0.1]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2
netdoctor-agent-host-src-n1[fd00::1]->n2 fd01:2::5 IPv6 expect=netdoctor-agent-pod-src-n2
netdoctor-agent-host-src-n2[10.0.0.2]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-host-src-n2[fd00::2]->n1 fd01:1::5 IPv6 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-host-src-n2[10.0.0.2]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2
netdoctor-agent-host-src-n2[fd00::2]->n2 fd01:2::5 IPv6 expect=netdoctor-agent-pod-src-n2`},
		"pod-to-node: pod agents to node IPs (host agents answer)": {"pod-to-node", `
netdoctor-agent-pod-src-n1[10.1.1.5]->n1 10.0.0.1 IPv4 expect=netdoctor-agent-host-src-n1
netdoctor-agent-pod-src-n1[fd01:1::5]->n1 fd00::1 IPv6 expect=netdoctor-agent-host-src-n1
netdoctor-agent-pod-src-n1[10.1.1.5]->n2 10.0.0.2 IPv4 expect=netdoctor-agent-host-src-n2
netdoctor-agent-pod-src-n1[fd01:1::5]->n2 fd00::2 IPv6 expect=netdoctor-agent-host-src-n2
netdoctor-agent-pod-src-n2[10.1.2.5]->n1 10.0.0.1 IPv4 expect=netdoctor-agent-host-src-n1
netdoctor-agent-pod-src-n2[fd01:2::5]->n1 fd00::1 IPv6 expect=netdoctor-agent-host-src-n1
netdoctor-agent-pod-src-n2[10.1.2.5]->n2 10.0.0.2 IPv4 expect=netdoctor-agent-host-src-n2
netdoctor-agent-pod-src-n2[fd01:2::5]->n2 fd00::2 IPv6 expect=netdoctor-agent-host-src-n2`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := Spec{Mode: tc.mode, Protocol: probe.KindTCP, Families: both(), Port: 8889, PayloadSize: 1500}
			checks := Plan(spec, testInventory("src", dual), nil)
			if got := lines(checks); got != strings.TrimSpace(tc.want) {
				t.Errorf("got\n%s\nwant\n%s", got, strings.TrimSpace(tc.want))
			}
			for _, c := range checks {
				if c.Target.Kind != probe.KindTCP || c.Target.Port != 8889 || c.Pair.Port != 8889 || c.Target.PayloadSize != 1500 ||
					c.Target.Address != c.Pair.TargetIP || c.Target.ExpectNode != c.Pair.DstNode || c.Target.Family != c.Pair.Family ||
					c.Pair.Mode != tc.mode || c.Pair.SrcCluster != "" {
					t.Errorf("check %+v", c)
				}
			}
		})
	}
}

func TestNetworksPerMode(t *testing.T) {
	tests := []struct {
		mode     string
		proto    probe.Kind
		cross    bool
		src, dst string
	}{
		{"pod", probe.KindTCP, false, "[pod]", "[]"},
		{"node", probe.KindUDP, false, "[host]", "[]"},
		{"node-to-pod", probe.KindTCP, false, "[host pod]", "[]"},
		{"pod-to-node", probe.KindTCP, false, "[pod host]", "[]"},
		{"pod-to-node", probe.KindICMP, false, "[pod]", "[]"}, // ping to node IPs needs no agent there
		{"node-to-pod", probe.KindICMP, false, "[host pod]", "[]"},
		{"pod", probe.KindDNS, false, "[pod]", "[]"},
		{"pod", probe.KindTCP, true, "[pod]", "[pod]"},
		{"node-to-pod", probe.KindTCP, true, "[host]", "[pod]"},
		{"node", probe.KindICMP, true, "[host]", "[]"},
	}
	for _, tc := range tests {
		src, dst := Spec{Mode: tc.mode, Protocol: tc.proto, Cross: tc.cross}.Networks()
		if fmt.Sprint(src) != tc.src || fmt.Sprint(dst) != tc.dst {
			t.Errorf("%s/%s cross=%v: src %v dst %v, want %s %s", tc.mode, tc.proto, tc.cross, src, dst, tc.src, tc.dst)
		}
	}
}

func TestPlanFamilyNarrowing(t *testing.T) {
	for _, f := range both() {
		spec := Spec{Mode: "pod", Protocol: probe.KindUDP, Families: []probe.Family{f}, Port: 1}
		checks := Plan(spec, testInventory("src", dual), nil)
		if len(checks) != 4 {
			t.Fatalf("%s: %d checks, want 4", f, len(checks))
		}
		for _, c := range checks {
			if c.Pair.Family != f || probe.FamilyOf(c.Pair.TargetIP) != f || probe.FamilyOf(c.Pair.SrcIP) != f || c.Target.Kind != probe.KindUDP {
				t.Errorf("%s: %s", f, line(c))
			}
		}
	}
}

func TestPlanSingleStackAndMixed(t *testing.T) {
	// n2's pod has no IPv6 address: n1 -> n2 is IPv4 only; n2 as a source
	// cannot probe n1's IPv6 address and says so (skipped, not passed).
	nodes := []testNode{
		{"n1", []string{"10.0.0.1"}, []string{"10.1.1.5", "fd01:1::5"}},
		{"n2", []string{"10.0.0.2"}, []string{"10.1.2.5"}},
	}
	checks := Plan(Spec{Mode: "pod", Protocol: probe.KindTCP, Families: both(), Port: 1}, testInventory("src", nodes), nil)
	want := `
netdoctor-agent-pod-src-n1[10.1.1.5]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n1[fd01:1::5]->n1 fd01:1::5 IPv6 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n1[10.1.1.5]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2
netdoctor-agent-pod-src-n2[10.1.2.5]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n2[]->n1 fd01:1::5 IPv6 expect=netdoctor-agent-pod-src-n1 SKIP(source agent netdoctor-agent-pod-src-n2 on n2 has no IPv6 address)
netdoctor-agent-pod-src-n2[10.1.2.5]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2`
	if got := lines(checks); got != strings.TrimSpace(want) {
		t.Errorf("got\n%s\nwant\n%s", got, strings.TrimSpace(want))
	}
	if checks[4].SkipClass != probe.ClassSkipped {
		t.Errorf("class %s", checks[4].SkipClass)
	}
}

func TestPlanCrossCluster(t *testing.T) {
	src := testInventory("src", []testNode{{"a1", []string{"10.0.0.1"}, []string{"10.1.0.1"}}})
	dst := testInventory("dst", []testNode{
		{"b1", []string{"10.9.0.1"}, []string{"10.8.0.1"}},
		{"b2", []string{"10.9.0.2"}, []string{"10.8.0.2"}},
	})
	spec := Spec{Mode: "node-to-pod", Protocol: probe.KindTCP, Families: both(), Port: 1, Cross: true}
	checks := Plan(spec, src, dst)
	want := `
netdoctor-agent-host-src-a1[10.0.0.1]->b1 10.8.0.1 IPv4 expect=netdoctor-agent-pod-dst-b1
netdoctor-agent-host-src-a1[10.0.0.1]->b2 10.8.0.2 IPv4 expect=netdoctor-agent-pod-dst-b2`
	if got := lines(checks); got != strings.TrimSpace(want) {
		t.Errorf("got\n%s\nwant\n%s", got, strings.TrimSpace(want))
	}
	for _, c := range checks {
		if c.Pair.SrcCluster != "src" || c.Pair.DstCluster != "dst" || c.Source.Cluster != "src" {
			t.Errorf("clusters %+v", c.Pair)
		}
	}
}

func TestPlanDNS(t *testing.T) {
	inv := testInventory("src", dual)
	inv.DNS = []string{"10.96.0.10", "fd02::a"}
	spec := Spec{Mode: "pod", Protocol: probe.KindDNS, Families: both(), LookupHost: "kubernetes.default.svc.cluster.local"}
	checks := Plan(spec, inv, nil)
	want := `
netdoctor-agent-pod-src-n1[10.1.1.5]->cluster-dns 10.96.0.10 IPv4
netdoctor-agent-pod-src-n1[fd01:1::5]->cluster-dns fd02::a IPv6
netdoctor-agent-pod-src-n2[10.1.2.5]->cluster-dns 10.96.0.10 IPv4
netdoctor-agent-pod-src-n2[fd01:2::5]->cluster-dns fd02::a IPv6`
	if got := lines(checks); got != strings.TrimSpace(want) {
		t.Errorf("discovered:\n%s\nwant\n%s", got, strings.TrimSpace(want))
	}
	for _, c := range checks {
		if c.Target.Kind != probe.KindDNS || c.Target.Name != spec.LookupHost || c.Target.Address != c.Pair.TargetIP || c.Target.Family != c.Pair.Family {
			t.Errorf("target %+v", c.Target)
		}
	}

	// A configured server is asked for A and AAAA; node mode uses host agents.
	spec.DNSServer, spec.Mode = "10.0.0.53", "node"
	checks = Plan(spec, inv, nil)
	want = `
netdoctor-agent-host-src-n1[10.0.0.1]->10.0.0.53 10.0.0.53 IPv4
netdoctor-agent-host-src-n1[fd00::1]->10.0.0.53 10.0.0.53 IPv6
netdoctor-agent-host-src-n2[10.0.0.2]->10.0.0.53 10.0.0.53 IPv4
netdoctor-agent-host-src-n2[fd00::2]->10.0.0.53 10.0.0.53 IPv6`
	if got := lines(checks); got != strings.TrimSpace(want) {
		t.Errorf("configured:\n%s\nwant\n%s", got, strings.TrimSpace(want))
	}
	spec.Families = []probe.Family{probe.IPv6}
	if checks = Plan(spec, inv, nil); len(checks) != 2 || checks[0].Target.Family != probe.IPv6 {
		t.Errorf("ipv6 only: %s", lines(checks))
	}
}

func TestPlanCustomizedTargets(t *testing.T) {
	inv := testInventory("src", dual[:1])
	spec := Spec{Mode: "pod", Protocol: probe.KindTCP, Families: both(), Port: 8889,
		CustomIPs: []string{"192.0.2.1", "2001:db8::1"}, CustomPorts: []int{80, 443}}
	var custom []Check
	for _, c := range Plan(spec, inv, nil) {
		if c.Pair.DstNode == CustomizedTargetName {
			custom = append(custom, c)
		}
	}
	var got []string
	for _, c := range custom {
		got = append(got, fmt.Sprintf("%s %s:%d %s", c.Target.Kind, c.Target.Address, c.Target.Port, c.Pair.Family))
	}
	want := "conn 192.0.2.1:80 IPv4,conn 192.0.2.1:443 IPv4,conn 2001:db8::1:80 IPv6,conn 2001:db8::1:443 IPv6"
	if strings.Join(got, ",") != want {
		t.Errorf("tcp: %v", got)
	}
	spec.Protocol = probe.KindUDP
	for _, c := range Plan(spec, inv, nil) {
		if c.Pair.DstNode == CustomizedTargetName && c.Target.Kind != probe.KindUDPSend {
			t.Errorf("udp customized kind %s", c.Target.Kind)
		}
	}
	spec.Protocol, spec.CustomPorts, spec.Families = probe.KindICMP, nil, []probe.Family{probe.IPv4}
	custom = nil
	for _, c := range Plan(spec, inv, nil) {
		if c.Pair.DstNode == CustomizedTargetName {
			custom = append(custom, c)
		}
	}
	if len(custom) != 1 || custom[0].Target.Kind != probe.KindICMP || custom[0].Target.Address != "192.0.2.1" {
		t.Errorf("icmp customized: %s", lines(custom))
	}
}

func TestPlanNotReadyAgents(t *testing.T) {
	nodes := []testNode{
		{"n1", []string{"10.0.0.1"}, []string{"10.1.1.5"}},
		{"n2", []string{"10.0.0.2"}, []string{"10.1.2.5"}},
		{"n3", []string{"10.0.0.3"}, nil},
	}
	inv := testInventory("src", nodes, "n2")
	delete(inv.Agents[deploy.PodNetwork], "n3") // no pod at all on n3
	checks := Plan(Spec{Mode: "pod", Protocol: probe.KindTCP, Families: both(), Port: 1}, inv, nil)
	want := `
netdoctor-agent-pod-src-n1[10.1.1.5]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1
netdoctor-agent-pod-src-n1[10.1.1.5]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2 SKIP(target agent pod netdoctor-agent-pod-src-n2 on n2 not ready: ImagePullBackOff)
netdoctor-agent-pod-src-n1[10.1.1.5]->n3  IPv4 SKIP(target no pod-network agent pod scheduled on n3)
netdoctor-agent-pod-src-n2[10.1.2.5]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1 SKIP(agent pod netdoctor-agent-pod-src-n2 on n2 not ready: ImagePullBackOff)
netdoctor-agent-pod-src-n2[10.1.2.5]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2 SKIP(agent pod netdoctor-agent-pod-src-n2 on n2 not ready: ImagePullBackOff)
netdoctor-agent-pod-src-n2[10.1.2.5]->n3  IPv4 SKIP(agent pod netdoctor-agent-pod-src-n2 on n2 not ready: ImagePullBackOff)
[]->n1 10.1.1.5 IPv4 expect=netdoctor-agent-pod-src-n1 SKIP(no pod-network agent pod scheduled on n3)
[]->n2 10.1.2.5 IPv4 expect=netdoctor-agent-pod-src-n2 SKIP(no pod-network agent pod scheduled on n3)
[]->n3  IPv4 SKIP(no pod-network agent pod scheduled on n3)`
	if got := lines(checks); got != strings.TrimSpace(want) {
		t.Errorf("got\n%s\nwant\n%s", got, strings.TrimSpace(want))
	}
	for _, c := range checks {
		if c.Skip != "" && c.SkipClass != probe.ClassAgentError {
			t.Errorf("class %s for %s", c.SkipClass, line(c))
		}
	}
}

func TestSelectResume(t *testing.T) {
	spec := Spec{Mode: "pod", Protocol: probe.KindTCP, Families: both(), Port: 8889}
	// Plan against the cluster as it is now: n2's agent was replaced and
	// has new pod IPs.
	now := []testNode{dual[0], {"n2", dual[1].nodeIP, []string{"10.1.2.99", "fd01:2::99"}}}
	checks := Plan(spec, testInventory("src", now), nil)
	pairs := []report.Pair{
		// exact match
		{Mode: "pod", Protocol: "tcp", Family: probe.IPv4, SrcNode: "n1", DstNode: "n1", TargetIP: "10.1.1.5"},
		// old target IP: re-resolved by node name and family
		{Mode: "pod", Protocol: "tcp", Family: probe.IPv6, SrcNode: "n1", DstNode: "n2", TargetIP: "fd01:2::5"},
		// earlier tool's format: no mode/protocol/family
		{SrcNode: "n2", DstNode: "n1", TargetIP: "fd01:1::5"},
		// gone
		{Mode: "pod", Protocol: "tcp", Family: probe.IPv4, SrcNode: "n9", DstNode: "n1", TargetIP: "10.1.1.5"},
	}
	var log bytes.Buffer
	got := SelectResume(checks, pairs, spec, &log)
	var out []string
	for _, c := range got {
		out = append(out, fmt.Sprintf("%s->%s %s %s skip=%v", c.Pair.SrcNode, c.Pair.DstNode, c.Pair.TargetIP, c.Pair.Family, c.Skip != ""))
	}
	sort.Strings(out)
	want := []string{
		"n1->n1 10.1.1.5 IPv4 skip=false",
		"n1->n2 fd01:2::99 IPv6 skip=false",
		"n2->n1 fd01:1::5 IPv6 skip=false",
		"n9->n1 10.1.1.5 IPv4 skip=true",
	}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(log.String(), "target fd01:2::5 is gone, checking fd01:2::99") {
		t.Errorf("log: %s", log.String())
	}
}

// TestSelectResumeNetDoctorRows: NetDoctor's dns and customized-target rows
// (as report.ReadResume reads them) select the source's dns queries and the
// listed customized targets, and nothing else.
func TestSelectResumeNetDoctorRows(t *testing.T) {
	inv := testInventory("src", dual)
	inv.DNS = []string{"10.96.0.10", "fd00:96::a"}
	spec := Spec{Mode: "pod", Protocol: probe.KindDNS, Families: both(), LookupHost: "kubernetes.default.svc.cluster.local",
		CustomIPs: []string{"192.0.2.10", "192.0.2.11"}, CustomPorts: []int{80, 443}}
	checks := Plan(spec, inv, nil)
	pairs := []report.Pair{
		{Mode: "pod", Protocol: probe.KindDNS, SrcNode: "n2", DstNode: report.DNSTargetName},
		{Mode: "pod", Protocol: probe.KindDNS, SrcNode: "n1", DstNode: "customized", TargetIP: "192.0.2.11", Port: 443, Family: probe.IPv4},
	}
	var log bytes.Buffer
	var out []string
	for _, c := range SelectResume(checks, pairs, spec, &log) {
		out = append(out, fmt.Sprintf("%s->%s %s:%d %s skip=%v", c.Pair.SrcNode, c.Pair.DstNode, c.Pair.TargetIP, c.Pair.Port, c.Pair.Family, c.Skip != ""))
	}
	want := []string{
		"n1->customized 192.0.2.11:443 IPv4 skip=false",
		"n2->cluster-dns 10.96.0.10:0 IPv4 skip=false",
		"n2->cluster-dns fd00:96::a:0 IPv6 skip=false",
	}
	sort.Strings(out)
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
	if log.Len() != 0 {
		t.Errorf("a NetDoctor dns row is not a replaced target; log: %s", log.String())
	}
}

func TestResumeSpecFollowsPairs(t *testing.T) {
	var log bytes.Buffer
	spec := ResumeSpec(Spec{Mode: "pod", Protocol: probe.KindTCP},
		[]report.Pair{{Mode: "node", Protocol: "udp"}, {Mode: "node", Protocol: "udp"}}, &log)
	if spec.Mode != "node" || spec.Protocol != probe.KindUDP || !strings.Contains(log.String(), "mode node") {
		t.Errorf("spec %+v log %s", spec, log.String())
	}
	spec = ResumeSpec(Spec{Mode: "pod", Protocol: probe.KindTCP}, []report.Pair{{Mode: "node"}, {Mode: "pod"}}, &log)
	if spec.Mode != "pod" {
		t.Errorf("mixed modes must keep the config's: %+v", spec)
	}
}
