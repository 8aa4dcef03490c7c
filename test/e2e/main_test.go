// Package e2e drives the built netctl binary, as a user would, against real
// local clusters started by netdoctor-sandbox (real API server, controllers,
// scheduler and kube-proxy; nodes and pods are network namespaces).
//
// It needs root (network namespaces) and the two binaries built by
// `make netctl sandbox`. Without them every test skips with the reason;
// NETDOCTOR_E2E=require (set by .ci/run) turns a skip into a failure.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	repoRoot   string
	netctlBin  string
	sandboxBin string
	// skipReason is set when the suite cannot run here.
	skipReason string

	clustersMu sync.Mutex
	clusters   = map[string]*cluster{} // started by this test binary, downed in TestMain
)

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	bin := filepath.Join(repoRoot, "_output", "bin", runtime.GOOS, runtime.GOARCH)
	netctlBin = filepath.Join(bin, "netctl")
	sandboxBin = filepath.Join(bin, "netdoctor-sandbox")
	switch {
	case os.Geteuid() != 0:
		skipReason = "needs root for network namespaces (run as root or via .ci/run)"
	case !exists(netctlBin) || !exists(sandboxBin):
		skipReason = fmt.Sprintf("needs %s and %s: run `make netctl sandbox` first", netctlBin, sandboxBin)
	}
	if _, err := exec.LookPath("kubectl"); err != nil && skipReason == "" {
		skipReason = "needs kubectl on PATH (Debian package kubectl)"
	}
	code := m.Run()
	clustersMu.Lock()
	for _, c := range clusters {
		c.down()
	}
	clustersMu.Unlock()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// requireE2E skips (or fails, when NETDOCTOR_E2E=require) if the suite cannot run.
func requireE2E(t *testing.T) {
	t.Helper()
	if skipReason == "" {
		return
	}
	if os.Getenv("NETDOCTOR_E2E") == "require" {
		t.Fatalf("e2e required but cannot run: %s", skipReason)
	}
	t.Skip(skipReason)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
