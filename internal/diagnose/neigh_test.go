package diagnose

import (
	"reflect"
	"testing"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/probe"
)

func withNeigh(facts map[string]agent.NodeFacts, node string, n ...agent.NeighState) {
	f := facts[node]
	f.NeighStates = append(f.NeighStates, n...)
	facts[node] = f
}

func TestNeighbourHealthyAndInconclusive(t *testing.T) {
	nodes, facts := factsCluster()
	// nil states (older agent): nothing concluded; REACHABLE/STALE and
	// FAILED entries for non-node addresses are fine.
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Fatalf("no neighbour states: %+v", fs)
	}
	withNeigh(facts, "a", agent.NeighState{IP: "10.0.0.2", Iface: "eth0", State: "REACHABLE"},
		agent.NeighState{IP: "fd00::3", Iface: "eth0", State: "STALE"},
		agent.NeighState{IP: "10.0.0.99", Iface: "eth0", State: "FAILED"},
		agent.NeighState{IP: "10.0.0.1", Iface: "eth0", State: "FAILED"}) // its own IP is no peer
	if fs := AnalyzeFacts(nodes, facts, nil); len(fs) != 0 {
		t.Errorf("healthy neighbours: %+v", fs)
	}
}

func TestNeighbourFailedBothFamilies(t *testing.T) {
	nodes, facts := factsCluster()
	withNeigh(facts, "a", agent.NeighState{IP: "10.0.0.3", Iface: "eth0", State: "FAILED"},
		agent.NeighState{IP: "fd00::3", Iface: "eth0", State: "INCOMPLETE"},
		agent.NeighState{IP: "10.0.0.2", Iface: "eth0", State: "REACHABLE"})
	withNeigh(facts, "b", agent.NeighState{IP: "fd00::1", Iface: "eth0", State: "FAILED"})
	fs := AnalyzeFacts(nodes, facts, nil)
	if len(fs) != 2 {
		t.Fatalf("findings %+v", fs)
	}
	if f := fs[0]; f.Kind != KindNeighbourFailed || !reflect.DeepEqual(f.Nodes, []string{"a", "c"}) || f.Target != "10.0.0.3,fd00::3" || f.Family != "" || f.Failed != 2 {
		t.Errorf("a: %+v", f)
	}
	if f := fs[1]; !reflect.DeepEqual(f.Nodes, []string{"b", "a"}) || f.Target != "fd00::1" || f.Family != probe.IPv6 {
		t.Errorf("b: %+v", f)
	}
}
