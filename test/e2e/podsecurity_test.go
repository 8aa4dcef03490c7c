package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPodSecurityRestricted: in a namespace enforcing Pod Security
// "restricted" (PodSecurity admission is built into kube-apiserver), pod
// mode passes for every protocol; node mode (hostNetwork agent) exits 2
// quoting the admission message and the label that fixes it, and creates
// nothing. A namespace netctl creates enforces the least level its agents
// need.
func TestPodSecurityRestricted(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	const ns = "e2e-restricted"
	c.kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { c.kubectlErr("delete", "namespace", ns, "--wait=false") })
	c.kubectl(t, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
	dir := workdir(t)
	for _, proto := range []string{"tcp", "udp", "icmp", "dns"} {
		r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--namespace", ns, "--mode", "pod", "--protocol", proto, "-o", "json", "--no-progress")
		var rep struct {
			Rows []struct{ Result, Log string }
		}
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			t.Fatalf("pod %s under restricted: exit %d, stdout not JSON: %v\n%s", proto, r.Code, err, r.Stderr)
		}
		if r.Code != 0 || len(rep.Rows) == 0 {
			t.Errorf("pod %s under restricted: exit %d, %d rows\n%s", proto, r.Code, len(rep.Rows), r.Stderr)
		}
		for _, row := range rep.Rows {
			if row.Result != "SUCCEEDED" {
				t.Errorf("pod %s under restricted: %s %s", proto, row.Result, row.Log)
				break
			}
		}
	}
	if r := netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig, "--namespace", ns); r.Code != 0 {
		t.Fatalf("clean: exit %d\n%s", r.Code, r.Stderr)
	}

	r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--namespace", ns, "--mode", "node", "--no-progress")
	if r.Code != 2 {
		t.Errorf("node mode under restricted: exit %d, want 2\n%s", r.Code, r.Stderr)
	}
	for _, want := range []string{`violates PodSecurity "restricted:latest"`, "hostNetwork", "kubectl label namespace " + ns + " pod-security.kubernetes.io/enforce=privileged --overwrite"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("node mode under restricted: stderr does not contain %q:\n%s", want, r.Stderr)
		}
	}
	if left := c.managedObjects(t, ns); len(left) > 0 {
		t.Errorf("a rejected check left %v", left)
	}
	if got := c.kubectl(t, "get", "namespace", ns, "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}"); got != "restricted" {
		t.Errorf("the user's namespace label changed to %q", got)
	}

	// A namespace netctl creates: restricted for pod mode, privileged once
	// node mode needs the host-network agent.
	const own = "e2e-psa-own"
	t.Cleanup(func() { netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig, "--namespace", own) })
	for _, m := range []struct{ mode, level string }{{"pod", "restricted"}, {"node", "privileged"}} {
		if r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--namespace", own, "--mode", m.mode, "--no-progress"); r.Code != 0 {
			t.Errorf("%s mode in a namespace netctl creates: exit %d\n%s", m.mode, r.Code, r.Stderr)
		}
		if got := c.kubectl(t, "get", "namespace", own, "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}"); got != m.level {
			t.Errorf("%s mode: namespace netctl created enforces %q, want %q", m.mode, got, m.level)
		}
	}
}
