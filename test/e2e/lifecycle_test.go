package e2e

import (
	"bytes"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestResume: after a fault resume.json holds exactly the failed pairs; after
// the fault is gone, resume re-checks only those, all succeed, and a further
// resume has nothing to do.
func TestResume(t *testing.T) {
	c, dir := faultCluster(t)
	names := c.nodeNames()
	sort.Strings(names)
	c.fault(t, "link", names[0], names[1])
	rep, r := check(t, c, dir, "--mode", "pod", "--protocol", "tcp")
	if r.Code != 1 {
		t.Fatalf("check with a cut link: exit %d", r.Code)
	}
	failed := byResult(t, rep)[resultFailed]
	saved := map[key]bool{}
	for _, p := range readResume(t, dir) {
		k := key{p.SrcNode, p.DstNode, p.Family}
		if saved[k] {
			t.Errorf("resume.json holds %s twice", k)
		}
		saved[k] = true
	}
	sameKeys(t, "resume.json", failed, saved)

	c.unfault(t, "link", names[0], names[1])
	rep2, r2 := decode(t, netctl(t, dir, "resume", "--kubeconfig", c.Kubeconfig, "-o", "json"), []string{"resume"})
	if r2.Code != 0 {
		t.Errorf("resume after the fault is gone: exit %d\n%s", r2.Code, r2.Stderr)
	}
	if len(rep2.Rows) != len(saved) {
		t.Errorf("resume re-checked %d pairs, want exactly the %d saved", len(rep2.Rows), len(saved))
	}
	got := byResult(t, rep2)
	sameKeys(t, "resumed SUCCEEDED", got[resultSucceeded], saved)

	r3 := netctl(t, dir, "resume", "--kubeconfig", c.Kubeconfig)
	if r3.Code != 0 || strings.Contains(r3.Stdout, "SUCCEEDED") {
		t.Errorf("resume with nothing left: exit %d, want 0 and no check run\nstdout:\n%s\nstderr:\n%s", r3.Code, r3.Stdout, r3.Stderr)
	}
}

// TestAutoCleanKeepsUserNamespace: a namespace the user already had survives
// autoClean with its own objects; nothing netctl labelled is left anywhere.
func TestAutoCleanKeepsUserNamespace(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	c.kubectl(t, "create", "namespace", "e2e-owned")
	t.Cleanup(func() { c.kubectlErr("delete", "namespace", "e2e-owned", "--wait=false") })
	c.kubectl(t, "-n", "e2e-owned", "create", "configmap", "keepme", "--from-literal=a=b")
	dir := workdir(t)
	_, r := check(t, c, dir, "--namespace", "e2e-owned", "--auto-clean")
	if r.Code != 0 {
		t.Errorf("exit %d\n%s", r.Code, r.Stderr)
	}
	if left := c.managedObjects(t, "e2e-owned"); len(left) > 0 {
		t.Errorf("autoClean left %v", left)
	}
	c.kubectl(t, "get", "namespace", "e2e-owned")
	c.kubectl(t, "-n", "e2e-owned", "get", "configmap", "keepme")
}

// TestClean: without autoClean the agents stay; `netctl clean` (no config
// file needed) removes exactly them and the namespace netctl created.
func TestClean(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	dir := workdir(t)
	_, r := check(t, c, dir, "--namespace", "e2e-clean")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if len(c.managedObjects(t, "e2e-clean")) == 0 {
		t.Fatal("no netctl objects after a check without autoClean")
	}
	empty := t.TempDir() // no config.json here
	cr := netctl(t, empty, "clean", "--kubeconfig", c.Kubeconfig, "--namespace", "e2e-clean")
	if cr.Code != 0 {
		t.Fatalf("clean: exit %d\n%s%s", cr.Code, cr.Stdout, cr.Stderr)
	}
	// clean returns once what it deleted is gone.
	if left := c.managedObjects(t, "e2e-clean"); len(left) > 0 {
		t.Errorf("clean left %v", left)
	}
	if _, err := c.kubectlErr("get", "namespace", "e2e-clean"); err == nil {
		t.Errorf("namespace e2e-clean (created by netctl) still exists after clean")
	}
	// Without --namespace, clean finds netctl's objects in every namespace
	// (other tests' agents included) and nothing labelled is left anywhere.
	if cr := netctl(t, empty, "clean", "--kubeconfig", c.Kubeconfig); cr.Code != 0 {
		t.Fatalf("clean: exit %d\n%s%s", cr.Code, cr.Stdout, cr.Stderr)
	}
	if left := c.managedObjects(t, ""); len(left) > 0 {
		t.Errorf("clean left %v", left)
	}
}

// TestInterruptCleans: SIGINT in the middle of a check with autoClean leaves
// nothing behind and exits non-zero.
func TestInterruptCleans(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	dir := workdir(t)
	cmd := exec.Command(netctlBin, "check", "--kubeconfig", c.Kubeconfig, "--namespace", "e2e-int", "--auto-clean", "--no-progress")
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the agents exist: the middle of the run.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if o, _ := c.kubectlErr("-n", "e2e-int", "get", "daemonsets", "-o", "name"); strings.Contains(o, "daemonset") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if err == nil {
		t.Errorf("interrupted check exited 0\n%s", out.String())
	}
	if left := c.managedObjects(t, "e2e-int"); len(left) > 0 {
		t.Errorf("interrupted check with autoClean left %v\n%s", left, out.String())
	}
}
