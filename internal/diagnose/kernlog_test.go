package diagnose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
)

func kernelFacts(boot string, msgs ...agent.KernelMessage) agent.NodeFacts {
	return agent.NodeFacts{Conntrack: agent.Usage{Count: 10, Max: 1000},
		Interfaces: []agent.Interface{{Name: "eth0"}},
		KernelLog:  &agent.KernelLog{Source: "/dev/kmsg", BootID: boot, WindowSeconds: 900, Messages: msgs}}
}

var ctFull = agent.KernelMessage{Kind: "conntrack-table-full", Line: "nf_conntrack: nf_conntrack: table full, dropping packet", Count: 3, AgeSeconds: 4}

func TestKernelLogForeignInterface(t *testing.T) {
	// One node (--node, or its own kernel): a bridge port it does not have is not its link.
	flap := agent.KernelMessage{Kind: "link-flap", Line: "cni0: port 3(veth1234) entered disabled state", Count: 2}
	if f, _ := AnalyzeKernelLog([]kube.Node{{Name: "a"}}, map[string]agent.NodeFacts{"a": kernelFacts("boot-a", flap)}); len(f) != 0 {
		t.Errorf("deleted veth: %+v", f)
	}
	own := agent.KernelMessage{Kind: "link-flap", Line: "eth0: Link is Down", Count: 1}
	if f, _ := AnalyzeKernelLog([]kube.Node{{Name: "a"}}, map[string]agent.NodeFacts{"a": kernelFacts("boot-a", own)}); len(f) != 1 {
		t.Errorf("own link: %+v", f)
	}
}

func TestKernelLogOwnKernel(t *testing.T) {
	facts := map[string]agent.NodeFacts{"a": kernelFacts("boot-a", ctFull), "b": kernelFacts("boot-b")}
	f, inc := AnalyzeKernelLog([]kube.Node{{Name: "a"}, {Name: "b"}}, facts)
	if len(inc) != 0 || len(f) != 1 || f[0].Kind != KindKernelLog || f[0].Target != "conntrack-table-full" || !reflect.DeepEqual(f[0].Nodes, []string{"a"}) ||
		!strings.Contains(f[0].Summary, "table full") || strings.Contains(f[0].Evidence, "share") {
		t.Errorf("findings %+v inconclusive %+v", f, inc)
	}
}

func TestKernelLogSharedKernel(t *testing.T) {
	nodes := []kube.Node{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	facts := map[string]agent.NodeFacts{"a": kernelFacts("boot", ctFull), "b": kernelFacts("boot", ctFull), "c": kernelFacts("boot", ctFull)}
	// No node's table is near full: the line came from another namespace.
	if f, _ := AnalyzeKernelLog(nodes, facts); len(f) != 0 {
		t.Errorf("unattributable conntrack line: %+v", f)
	}
	b := facts["b"]
	b.Conntrack = agent.Usage{Count: 950, Max: 1000}
	facts["b"] = b
	f, _ := AnalyzeKernelLog(nodes, facts)
	if len(f) != 1 || !reflect.DeepEqual(f[0].Nodes, []string{"b"}) || !strings.Contains(f[0].Evidence, "share one kernel") || !strings.Contains(f[0].Evidence, "attributed to b") {
		t.Errorf("attributed: %+v", f)
	}
	// A line that names no interface nor table: all nodes of the kernel, said so.
	ov := agent.KernelMessage{Kind: "neighbour-table-overflow", Line: "neighbour: arp_cache: neighbor table overflow!", Count: 1}
	for _, n := range []string{"a", "b", "c"} {
		facts[n] = kernelFacts("boot", ov)
	}
	f, _ = AnalyzeKernelLog(nodes, facts)
	if len(f) != 1 || len(f[0].Nodes) != 3 || !strings.Contains(f[0].Evidence, "does not say which") {
		t.Errorf("shared: %+v", f)
	}
	// A link of another namespace (the host's bridge port): none of them.
	flap := agent.KernelMessage{Kind: "link-flap", Line: "ndbr0: port 3(ndv3) entered disabled state", Count: 1}
	for _, n := range []string{"a", "b", "c"} {
		facts[n] = kernelFacts("boot", flap)
	}
	if f, _ := AnalyzeKernelLog(nodes, facts); len(f) != 0 {
		t.Errorf("foreign link: %+v", f)
	}
}

func TestKernelLogInconclusive(t *testing.T) {
	facts := map[string]agent.NodeFacts{"a": {KernelLog: &agent.KernelLog{Skipped: "the kernel log could not be read: /dev/kmsg: no such file"}}, "b": {}}
	f, inc := AnalyzeKernelLog([]kube.Node{{Name: "a"}, {Name: "b"}}, facts)
	if len(f) != 0 || len(inc) != 1 || inc[0].Nodes[0] != "a" || !strings.Contains(inc[0].Reason, "/dev/kmsg") {
		t.Errorf("findings %+v inconclusive %+v", f, inc)
	}
}

// TestKernelLogNetns: a line naming a network namespace belongs to the
// node whose namespace it is, whatever the tables say; another
// namespace's line (another cluster on the same kernel) to none.
func TestKernelLogNetns(t *testing.T) {
	nodes := []kube.Node{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	line := agent.KernelMessage{Kind: "conntrack-table-full", Line: "nf_conntrack: nf_conntrack: table full in netns 4026532897, dropping packet", Count: 2, Netns: 4026532897}
	facts := map[string]agent.NodeFacts{}
	for i, n := range []string{"a", "b", "c"} {
		f := kernelFacts("boot", line)
		f.KernelLog.Netns = uint64(4026532896 + i)
		facts[n] = f
	}
	// c counted drops (a DNS insert race): the namespace still says b.
	c := facts["c"]
	c.ConntrackStats = &agent.ConntrackStats{InsertFailed: 3}
	facts["c"] = c
	f, _ := AnalyzeKernelLog(nodes, facts)
	if len(f) != 1 || !reflect.DeepEqual(f[0].Nodes, []string{"b"}) || !strings.Contains(f[0].Evidence, "namespace 4026532897") {
		t.Fatalf("findings %+v", f)
	}
	// One node alone (its own kernel): a line of another namespace is not its.
	f, _ = AnalyzeKernelLog([]kube.Node{{Name: "a"}}, map[string]agent.NodeFacts{"a": facts["a"]})
	if len(f) != 0 {
		t.Errorf("another namespace's line: %+v", f)
	}
	// Agents that do not report their namespace: the table heuristic.
	for _, n := range []string{"a", "b", "c"} {
		f := facts[n]
		f.KernelLog.Netns = 0
		facts[n] = f
	}
	if f, _ := AnalyzeKernelLog(nodes, facts); len(f) != 1 || !reflect.DeepEqual(f[0].Nodes, []string{"c"}) {
		t.Errorf("without namespaces: %+v", f)
	}
}
