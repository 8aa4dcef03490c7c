package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// npReport is the part of `check -o json` this test reads.
type npReport struct {
	Rows []struct {
		Result, Log string
	}
	Findings []struct {
		Kind, Summary, Target string
	}
}

// TestNetworkPolicyDefaultDeny: with a default-deny (ingress and egress)
// NetworkPolicy in the check namespace of a cluster that enforces
// NetworkPolicy (kube-router's firewall), a check with networkPolicy none
// fails and the finding names the default-deny policy, not the network;
// with auto netctl creates its labelled policy, and clean removes it and
// keeps the user's.
//
// Not asserted (2026-11-30): that auto makes the check pass. On the
// sandbox's kube-router v2.1.0 it does not (cross-node IPv4 rejected, IPv6
// dropped: kube-router leaves the policy's pod sets empty for pods created
// after it), which is why networkPolicy defaults to none
// (docs/configuration.md).
func TestNetworkPolicyDefaultDeny(t *testing.T) {
	c := sharedCluster(t, "e2enp", 3, "dual", "--network-policy")
	const ns = "e2e-np"
	c.kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { c.kubectlErr("delete", "namespace", ns, "--wait=false") })
	dir := workdir(t)
	deny := filepath.Join(dir, "deny.yaml")
	writeFile(t, deny, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: `+ns+`
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`)
	c.kubectl(t, "apply", "-f", deny)

	run := func(proto, policy string) (npReport, run) {
		r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--namespace", ns, "--mode", "pod", "--protocol", proto,
			"--network-policy", policy, "--cmd-timeout", "2", "-o", "json", "--no-progress")
		var rep npReport
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			t.Fatalf("%s with --network-policy %s: exit %d, stdout not JSON: %v\n%s", proto, policy, r.Code, err, r.Stderr)
		}
		return rep, r
	}
	// auto: netctl's labelled policy exists while its agents run.
	run("tcp", "auto")
	if got := c.kubectl(t, "-n", ns, "get", "networkpolicy", "netdoctor-agent", "-o", "jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}"); got != "netctl" {
		t.Errorf("netctl's NetworkPolicy labelled managed-by=%q", got)
	}

	// none: netctl's own policy must go first, or it still admits the traffic.
	if r := netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig, "--namespace", ns); r.Code != 0 {
		t.Fatalf("clean: exit %d\n%s", r.Code, r.Stderr)
	}
	rep, r := run("tcp", "none")
	if r.Code != 1 {
		t.Errorf("tcp with none under default-deny: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	failed := 0
	for _, row := range rep.Rows {
		if row.Result == "FAILED" {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("tcp with none under default-deny: no FAILED row (%d rows)", len(rep.Rows))
	}
	if len(rep.Findings) == 0 || rep.Findings[0].Kind != "network-policy" || !strings.Contains(rep.Findings[0].Summary, ns+"/default-deny") {
		t.Errorf("with none, want a network-policy finding naming %s/default-deny first; findings %+v", ns, rep.Findings)
	}
	for _, f := range rep.Findings {
		switch f.Kind {
		case "node-isolated", "link-down", "scattered-failures", "inbound-blocked", "outbound-blocked":
			t.Errorf("with none, a finding blames the network: %+v", f)
		}
	}
	if got := c.kubectl(t, "-n", ns, "get", "networkpolicy", "-o", "name"); strings.Contains(got, "netdoctor-agent") {
		t.Errorf("networkPolicy none created netctl's policy: %s", got)
	}

	// auto again, then clean: netctl's policy goes, the user's stays.
	run("tcp", "auto")
	if got := c.kubectl(t, "-n", ns, "get", "networkpolicy", "-o", "name"); !strings.Contains(got, "netdoctor-agent") {
		t.Errorf("networkPolicy auto created no policy of netctl's: %s", got)
	}
	if r := netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig, "--namespace", ns); r.Code != 0 {
		t.Fatalf("clean: exit %d\n%s", r.Code, r.Stderr)
	}
	if got := strings.Fields(c.kubectl(t, "-n", ns, "get", "networkpolicy", "-o", "name")); len(got) != 1 || got[0] != "networkpolicy.networking.k8s.io/default-deny" {
		t.Errorf("after clean, NetworkPolicies in %s: %v; want only the user's default-deny", ns, got)
	}
	if left := c.managedObjects(t, ns); len(left) > 0 {
		t.Errorf("clean left %v", left)
	}
}
