package diagnose

import (
	"reflect"
	"strings"
	"testing"
)

// dnsMatrix: every node in nodes queries the VIP and replicas p1 (on a), p2 (on b);
// fail says which "node>server" fail.
func dnsMatrix(nodes []string, fail ...string) []NodeDNSQuery {
	var out []NodeDNSQuery
	for _, n := range nodes {
		for _, s := range []struct{ ip, pod, node string }{{"10.96.0.10", "", ""}, {"10.244.1.2", "kube-system/p1", "a"}, {"10.244.2.2", "kube-system/p2", "b"}} {
			ok := true
			for _, f := range fail {
				if f == n+">"+s.ip || f == "*>"+s.ip || f == n+">*" {
					ok = false
				}
			}
			out = append(out, NodeDNSQuery{Node: n, Server: s.ip, Pod: s.pod, PodNode: s.node, OK: ok, Reason: "no answer within 3s"})
		}
	}
	return out
}

func TestNodeDNS(t *testing.T) {
	all := []string{"a", "b", "c"}
	if f := AnalyzeNodeDNS(dnsMatrix(all)); len(f) != 0 {
		t.Errorf("healthy: %+v", f)
	}
	// Replica p2 answers nobody (the VIP fails sometimes, because of it).
	f := AnalyzeNodeDNS(dnsMatrix(all, "*>10.244.2.2", "c>10.96.0.10"))
	if len(f) != 1 || f[0].Kind != KindDNSReplicaFailing || f[0].Target != "kube-system/p2" || !reflect.DeepEqual(f[0].Nodes, []string{"b"}) {
		t.Errorf("replica: %+v", f)
	}
	// Node c gets no answer at all: c is named, the replicas are not.
	f = AnalyzeNodeDNS(dnsMatrix(all, "c>*"))
	if len(f) != 1 || f[0].Kind != KindDNSNodeFailing || !reflect.DeepEqual(f[0].Nodes, []string{"c"}) || !strings.Contains(f[0].Summary, "no DNS answer") {
		t.Errorf("dead node: %+v", f)
	}
	// Node c's Service-IP queries fail, both replicas answer it: its Service rules.
	f = AnalyzeNodeDNS(dnsMatrix(all, "c>10.96.0.10"))
	if len(f) != 1 || f[0].Kind != KindDNSNodeFailing || !strings.Contains(f[0].Summary, "Service rules") {
		t.Errorf("vip only: %+v", f)
	}
	// p2 fails from c only: a path, not the replica (other rules name it).
	if f := AnalyzeNodeDNS(dnsMatrix(all, "c>10.244.2.2")); len(f) != 0 {
		t.Errorf("one path: %+v", f)
	}
	// One asking node (--node) cannot tell a dead replica from a path.
	if f := AnalyzeNodeDNS(dnsMatrix([]string{"a"}, "a>10.244.2.2")); len(f) != 0 {
		t.Errorf("one node: %+v", f)
	}
}
