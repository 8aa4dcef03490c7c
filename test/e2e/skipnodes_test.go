package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSkipsNodesThatCannotRunAgents: on a cluster with a windows and a
// virtual-kubelet node, a check covers the Linux nodes only, lists each of
// the two once as skipped with the reason, and exits 0 (no agent-not-ready
// finding). Needs the sandbox's `up --windows-nodes/--virtual-nodes`.
func TestSkipsNodesThatCannotRunAgents(t *testing.T) {
	c := ownCluster(t, "e2eskip", 2, "ipv4", "--windows-nodes", "1", "--virtual-nodes", "1")
	var linux []string
	var nl struct {
		Items []struct {
			Metadata struct {
				Name   string
				Labels map[string]string
			}
			Spec struct{ Taints []struct{ Key string } }
		}
	}
	c.kubectlJSON(t, &nl, "get", "nodes")
	skip := map[string]string{}
	for _, n := range nl.Items {
		virtual := n.Metadata.Labels["type"] == "virtual-kubelet"
		for _, tn := range n.Spec.Taints {
			virtual = virtual || tn.Key == "virtual-kubelet.io/provider"
		}
		switch {
		case n.Metadata.Labels["kubernetes.io/os"] == "windows":
			skip[n.Metadata.Name] = "windows"
		case virtual:
			skip[n.Metadata.Name] = "virtual-kubelet"
		default:
			linux = append(linux, n.Metadata.Name)
		}
	}
	if len(skip) != 2 || len(linux) != 2 {
		t.Fatalf("cluster nodes: linux %v, others %v; want 2 and 2", linux, skip)
	}
	dir := workdir(t)
	r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "-o", "json", "--no-progress", "--pod-wait-time", "60")
	var rep struct {
		Rows []struct {
			SrcNode string `json:"srcNodeName"`
			DstNode string `json:"dstNodeName"`
			Result  string `json:"result"`
		}
		Findings     []struct{ Kind string }
		SkippedNodes []struct{ Node, Reason string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("exit %d, stdout not JSON: %v\n%s", r.Code, err, r.Stderr)
	}
	if r.Code != 0 {
		t.Errorf("exit %d, want 0\n%s", r.Code, r.Stderr)
	}
	for _, row := range rep.Rows {
		if skip[row.SrcNode] != "" || skip[row.DstNode] != "" || row.Result != "SUCCEEDED" {
			t.Errorf("row %+v: want only Linux nodes, SUCCEEDED", row)
		}
	}
	if len(rep.Rows) != len(linux)*len(linux) {
		t.Errorf("%d rows, want %d", len(rep.Rows), len(linux)*len(linux))
	}
	got := map[string]int{}
	for _, s := range rep.SkippedNodes {
		got[s.Node]++
		if want := skip[s.Node]; want == "" || !strings.Contains(s.Reason, want) {
			t.Errorf("skipped %s: reason %q, want one naming %q", s.Node, s.Reason, want)
		}
	}
	for n := range skip {
		if got[n] != 1 {
			t.Errorf("node %s listed %d times as skipped, want once", n, got[n])
		}
	}
	for _, f := range rep.Findings {
		if f.Kind == "agent-not-ready" {
			t.Errorf("finding %s: skipped nodes are not agents that failed", f.Kind)
		}
	}
}
