package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAPIServerDown: a kubeconfig whose server refuses connections gives a
// clear error within 10 s and exit 2.
func TestAPIServerDown(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	b, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback: nothing listens there.
	dead := regexp.MustCompile(`server: https://[^\s]+`).ReplaceAllString(string(b), "server: https://127.0.0.1:1")
	kc := filepath.Join(t.TempDir(), "dead.kubeconfig")
	writeFile(t, kc, dead)
	dir := workdir(t)
	r := netctl(t, dir, "check", "--kubeconfig", kc)
	if r.Code != 2 {
		t.Errorf("exit %d, want 2\n%s", r.Code, r.Stderr)
	}
	if r.Elapsed > 10*time.Second {
		t.Errorf("took %s to report a dead API server, want < 10s", r.Elapsed)
	}
	if !strings.Contains(r.Stderr, "127.0.0.1:1") {
		t.Errorf("error does not name the API server address:\n%s", r.Stderr)
	}
}

// TestMissingPermission: a user who may not create DaemonSets gets an error
// naming the missing permission, exit 2, and nothing is created.
func TestMissingPermission(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	c.kubectl(t, "-n", "default", "create", "serviceaccount", "e2e-limited")
	t.Cleanup(func() { c.kubectlErr("-n", "default", "delete", "serviceaccount", "e2e-limited") })
	c.kubectl(t, "create", "clusterrole", "e2e-limited", "--verb=get,list,watch", "--resource=nodes,pods,namespaces,services")
	c.kubectl(t, "create", "clusterrolebinding", "e2e-limited", "--clusterrole=e2e-limited", "--serviceaccount=default:e2e-limited")
	t.Cleanup(func() {
		c.kubectlErr("delete", "clusterrolebinding", "e2e-limited")
		c.kubectlErr("delete", "clusterrole", "e2e-limited")
	})
	token := strings.TrimSpace(c.kubectl(t, "-n", "default", "create", "token", "e2e-limited"))
	b, _ := os.ReadFile(c.Kubeconfig)
	kc := filepath.Join(t.TempDir(), "limited.kubeconfig")
	writeFile(t, kc, string(b))
	// Switch the current user's credentials to the limited token.
	if out, err := c.kubectlErr("--kubeconfig", kc, "config", "set-credentials", "limited", "--token", token); err != nil {
		t.Fatal(out)
	}
	ctx := strings.TrimSpace(c.kubectl(t, "--kubeconfig", kc, "config", "current-context"))
	if out, err := c.kubectlErr("--kubeconfig", kc, "config", "set-context", ctx, "--user", "limited"); err != nil {
		t.Fatal(out)
	}
	dir := workdir(t)
	r := netctl(t, dir, "check", "--kubeconfig", kc, "--namespace", "e2e-limited")
	if r.Code != 2 {
		t.Errorf("exit %d, want 2\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "daemonsets") && !strings.Contains(r.Stderr, "namespaces") {
		t.Errorf("error does not name the missing permission:\n%s", r.Stderr)
	}
	if _, err := c.kubectlErr("get", "namespace", "e2e-limited"); err == nil {
		t.Errorf("namespace e2e-limited was created although the check could not run")
	}
}

// TestImageMissing: an image that does not exist gives EXCEPTION rows naming
// the pull failure, within podWaitTime, and exit 1.
func TestImageMissing(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	dir := workdir(t)
	rep, r := check(t, c, dir, "--namespace", "e2e-badimage", "--image-repository", "registry.invalid/nothing",
		"--pod-wait-time", "10", "--auto-clean")
	if r.Code != 1 {
		t.Errorf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	if len(rep.Rows) == 0 {
		t.Fatal("no rows")
	}
	for _, row := range rep.Rows {
		if row.Result != resultException || !(strings.Contains(row.Log, "ImagePullBackOff") || strings.Contains(row.Log, "ErrImagePull")) {
			t.Errorf("%s -> %s: %s %q, want EXCEPTION naming the image pull failure", row.SrcNode, row.DstNode, row.Result, row.Log)
		}
	}
	if r.Elapsed > 10*time.Second+30*time.Second {
		t.Errorf("took %s with podWaitTime 10s", r.Elapsed)
	}
}
