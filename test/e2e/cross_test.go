package e2e

import (
	"testing"
)

// TestCrossCluster: two sandbox clusters with disjoint ranges, routed to each
// other. Every source in one reaches every target in the other; a cut
// between them is found.
func TestCrossCluster(t *testing.T) {
	src := sharedCluster(t, "e2exa", 3, "dual")
	dst := sharedCluster(t, "e2exb", 3, "dual", "--peer", "e2exa")
	dir := workdir(t)
	fams := families("dual")
	all := allPairs(src, dst, fams)
	rep, r := check(t, src, dir, "--dst-kubeconfig", dst.Kubeconfig, "--mode", "pod", "--protocol", "tcp")
	if r.Code != 0 {
		t.Errorf("exit %d\n%s", r.Code, r.Stderr)
	}
	got := byResult(t, rep)
	sameKeys(t, "cross-cluster SUCCEEDED", got[resultSucceeded], all)
	for _, row := range rep.Rows {
		if !inAny(mustAddr(row.TargetIP), dst.node(row.DstNode).PodCIDRs) {
			t.Errorf("%s -> %s: target %s is not a pod IP of the destination cluster", row.SrcNode, row.DstNode, row.TargetIP)
		}
	}

	// Cut one destination node off from the other cluster: isolate its agent pod.
	victim := dst.Nodes[0].Name
	pod := agentPod(t, dst, "netdoctor-system", victim)
	dst.fault(t, "isolate", "netdoctor-system/"+pod)
	rep, r = check(t, src, dir, "--dst-kubeconfig", dst.Kubeconfig, "--mode", "pod", "--protocol", "tcp")
	if r.Code != 1 {
		t.Errorf("exit %d with a cut, want 1", r.Code)
	}
	got = byResult(t, rep)
	sameKeys(t, "cross-cluster FAILED", got[resultFailed], pairsWhere(all, func(k key) bool { return k.Dst == victim }))
}
