package e2e

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCleanAndMonitorCoexist: with the monitor and a check both installed,
// `netctl clean` removes the check and leaves the monitor working (same
// objects, connectivity_check still 200), and `netctl monitor uninstall`
// removes the monitor and leaves the check's agents.
func TestCleanAndMonitorCoexist(t *testing.T) {
	c := ownCluster(t, "e2ecoexist", 2, "ipv4")
	dir := workdir(t)
	const checkNS = "e2e-coexist"
	if r := netctl(t, dir, "monitor", "install", "--kubeconfig", c.Kubeconfig, "--interval=2s", "--timeout=2m"); r.Code != 0 {
		t.Fatalf("monitor install: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	t.Cleanup(func() {
		netctl(t, dir, "monitor", "uninstall", "--kubeconfig", c.Kubeconfig)
		netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig)
	})
	healthy := func(what string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			out, err := c.kubectlErr("get", "--raw", "/api/v1/namespaces/netdoctor-monitor/services/netdoctor-monitor:8081/proxy/api/v1/connectivity_check")
			if err == nil && strings.Contains(out, "successfully reported") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: monitor connectivity_check not 200 within 1m: %v %s", what, err, out)
			}
			time.Sleep(time.Second)
		}
	}
	healthy("after install")
	monitorUIDs := c.uids(t, "netdoctor-monitor", "app.kubernetes.io/part-of=netdoctor-monitor")
	if len(monitorUIDs) < 5 {
		t.Fatalf("monitor objects: %v", monitorUIDs)
	}

	if r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--namespace", checkNS, "--no-progress"); r.Code != 0 {
		t.Fatalf("check: exit %d\n%s", r.Code, r.Stderr)
	}
	if r := netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
		t.Fatalf("clean: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if left := c.managedObjects(t, ""); len(left) > 0 {
		t.Errorf("clean left check objects %v", left)
	}
	if got := c.uids(t, "netdoctor-monitor", "app.kubernetes.io/part-of=netdoctor-monitor"); !sameStrings(got, monitorUIDs) {
		t.Errorf("clean changed the monitor's objects:\n got %v\nwant %v", got, monitorUIDs)
	}
	// Agents report every 2s: some reports later they still do.
	time.Sleep(5 * time.Second)
	healthy("after netctl clean")

	if r := netctl(t, dir, "check", "--kubeconfig", c.Kubeconfig, "--namespace", checkNS, "--no-progress"); r.Code != 0 {
		t.Fatalf("second check: exit %d\n%s", r.Code, r.Stderr)
	}
	checkUIDs := c.uids(t, checkNS, "app.kubernetes.io/managed-by=netctl")
	if len(checkUIDs) < 3 {
		t.Fatalf("check objects: %v", checkUIDs)
	}
	if r := netctl(t, dir, "monitor", "uninstall", "--kubeconfig", c.Kubeconfig); r.Code != 0 {
		t.Fatalf("monitor uninstall: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := c.uids(t, checkNS, "app.kubernetes.io/managed-by=netctl"); !sameStrings(got, checkUIDs) {
		t.Errorf("monitor uninstall changed the check's objects:\n got %v\nwant %v", got, checkUIDs)
	}
	if out := c.kubectl(t, "get", "daemonsets,deployments,secrets,serviceaccounts", "-A", "-l", "app.kubernetes.io/part-of=netdoctor-monitor", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("monitor uninstall left %s", out)
	}
}

// uids lists kind/name=uid of the DaemonSets, Deployments, Secrets and
// ServiceAccounts in ns matching selector.
func (c *cluster) uids(t *testing.T, ns, selector string) []string {
	t.Helper()
	var list struct {
		Items []struct {
			Kind     string
			Metadata struct{ Name, UID string }
		}
	}
	c.kubectlJSON(t, &list, "-n", ns, "get", "daemonsets,deployments,secrets,serviceaccounts", "-l", selector)
	var out []string
	for _, it := range list.Items {
		out = append(out, it.Kind+"/"+it.Metadata.Name+"="+it.Metadata.UID)
	}
	sort.Strings(out)
	return out
}

func sameStrings(a, b []string) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
