package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// isoReport is the part of `check -o json` this test reads.
type isoReport struct {
	Rows []struct {
		SrcNode, DstNode, Result, Log string
	}
}

// TestIsolatedControlPlane: on a cluster whose API server cannot reach pod
// IPs (`--isolated-control-plane`: the pod proxy answers 503 "no route to
// host"), every mode passes with agentAccess auto (pod-network agents are
// reached through port-forwards, said once on stderr); with
// --agent-access proxy the pod-network agents' rows are EXCEPTION quoting
// the proxy's error; --agent-access port-forward passes too.
func TestIsolatedControlPlane(t *testing.T) {
	c := ownCluster(t, "e2eiso", 3, "dual", "--isolated-control-plane")
	dir := workdir(t)
	const note = "reaching agents it cannot reach through port-forwards instead"
	decode := func(what string, r run) isoReport {
		var rep isoReport
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			t.Fatalf("%s: exit %d, stdout not JSON: %v\n%s", what, r.Code, err, r.Stderr)
		}
		return rep
	}
	for _, mode := range modes {
		for _, proto := range []string{"tcp", "udp"} {
			what := mode + "/" + proto
			r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--mode", mode, "--protocol", proto, "-o", "json", "--no-progress")
			rep := decode(what, r)
			if r.Code != 0 || len(rep.Rows) == 0 {
				t.Errorf("%s isolated, auto: exit %d, %d rows\n%s", what, r.Code, len(rep.Rows), r.Stderr)
			}
			for _, row := range rep.Rows {
				if row.Result != "SUCCEEDED" {
					t.Errorf("%s isolated, auto: %s->%s %s %s", what, row.SrcNode, row.DstNode, row.Result, row.Log)
				}
			}
			n := strings.Count(r.Stderr, note)
			// Only pod-network sources (modes pod, pod-to-node) need a
			// port-forward: the proxy reaches host-network agents (node
			// addresses), the sources of node and node-to-pod.
			if want := mode == "pod" || mode == "pod-to-node"; (n == 1) != want || n > 1 {
				t.Errorf("%s isolated, auto: port-forward note %d times, want %v once\n%s", what, n, want, r.Stderr)
			}
		}
	}

	r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--mode", "pod", "--agent-access", "proxy", "--cmd-timeout", "2", "-o", "json", "--no-progress")
	rep := decode("pod, proxy", r)
	if r.Code != 1 || len(rep.Rows) == 0 {
		t.Errorf("pod isolated, proxy: exit %d (want 1), %d rows\n%s", r.Code, len(rep.Rows), r.Stderr)
	}
	for _, row := range rep.Rows {
		if row.Result != "EXCEPTION" || !strings.Contains(row.Log, "no route to host") {
			t.Errorf("pod isolated, proxy: %s->%s %s %q; want EXCEPTION quoting the proxy's no route to host", row.SrcNode, row.DstNode, row.Result, row.Log)
			break
		}
	}
	if strings.Contains(r.Stderr, note) {
		t.Errorf("proxy: a port-forward was used\n%s", r.Stderr)
	}

	r = netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--mode", "pod", "--agent-access", "port-forward", "-o", "json", "--no-progress")
	rep = decode("pod, port-forward", r)
	if r.Code != 0 || len(rep.Rows) == 0 {
		t.Errorf("pod isolated, port-forward: exit %d, %d rows\n%s", r.Code, len(rep.Rows), r.Stderr)
	}
	for _, row := range rep.Rows {
		if row.Result != "SUCCEEDED" {
			t.Errorf("pod isolated, port-forward: %s->%s %s %s", row.SrcNode, row.DstNode, row.Result, row.Log)
		}
	}
	if r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--agent-access", "ssh", "--no-progress"); r.Code != 2 || !strings.Contains(r.Stderr, "agentAccess") {
		t.Errorf("--agent-access ssh: exit %d, want 2 naming agentAccess\n%s", r.Code, r.Stderr)
	}
	if r := netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
		t.Errorf("clean: exit %d\n%s", r.Code, r.Stderr)
	}
}
