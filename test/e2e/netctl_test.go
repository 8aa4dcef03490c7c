package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// run is one netctl invocation.
type run struct {
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

// workdir makes a directory holding the config.json `netctl init` writes.
func workdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	r := netctl(t, dir, "init")
	if r.Code != 0 {
		t.Fatalf("netctl init: exit %d\n%s", r.Code, r.Stderr)
	}
	return dir
}

// netctl runs the binary in dir with a clean environment (no KUBECONFIG, so
// only what the test passes reaches a cluster).
func netctl(t *testing.T, dir string, args ...string) run {
	t.Helper()
	r, err := netctlRun(dir, withRegistry(dir, args)...)
	if err != nil {
		t.Fatalf("netctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// netctlRaw runs netctl without a test (image build/push from helpers);
// a failure to start shows as exit code -1.
func netctlRaw(dir string, args ...string) run {
	r, err := netctlRun(dir, args...)
	if err != nil {
		r.Code, r.Stderr = -1, err.Error()
	}
	return r
}

func netctlRun(dir string, args ...string) (run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, netctlBin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		return r, err
	}
	return r, nil
}

// check runs `netctl check -o json` against c with extra flags and decodes it.
func check(t *testing.T, c *cluster, dir string, flags ...string) (jsonReport, run) {
	t.Helper()
	args := append([]string{"check", "--kubeconfig", c.Kubeconfig, "-o", "json"}, flags...)
	return decode(t, netctl(t, dir, args...), args)
}

func decode(t *testing.T, r run, args []string) (jsonReport, run) {
	t.Helper()
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("netctl %s: exit %d, stdout is not a JSON report (%v)\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), r.Code, err, r.Stdout, r.Stderr)
	}
	return rep, r
}

// key names a pair the way the tests reason about it: which node's agent
// probed which node's target, on which family.
type key struct {
	Src, Dst string
	Family   probe.Family
}

func (k key) String() string { return fmt.Sprintf("%s->%s/%s", k.Src, k.Dst, k.Family) }

func keyOf(r jsonRow) key { return key{r.SrcNode, r.DstNode, r.Family} }

// families is what a cluster of the given stack checks with --ip-family auto.
func families(stack string) []probe.Family {
	switch stack {
	case "ipv4":
		return []probe.Family{probe.IPv4}
	case "ipv6":
		return []probe.Family{probe.IPv6}
	}
	return []probe.Family{probe.IPv4, probe.IPv6}
}

func familyOf(a netip.Addr) probe.Family {
	if a.Unmap().Is4() {
		return probe.IPv4
	}
	return probe.IPv6
}

// allPairs is every src x dst x family key over the cluster's nodes.
func allPairs(src, dst *cluster, fams []probe.Family) map[key]bool {
	m := map[key]bool{}
	for _, s := range src.Nodes {
		for _, d := range dst.Nodes {
			for _, f := range fams {
				m[key{s.Name, d.Name, f}] = true
			}
		}
	}
	return m
}

// byResult splits rows by RESULT and fails on a pair that appears twice.
func byResult(t *testing.T, rep jsonReport) map[result]map[key]jsonRow {
	t.Helper()
	out := map[result]map[key]jsonRow{}
	seen := map[key]bool{}
	for _, r := range rep.Rows {
		k := keyOf(r)
		if seen[k] {
			t.Errorf("pair %s appears more than once", k)
		}
		seen[k] = true
		if out[r.Result] == nil {
			out[r.Result] = map[key]jsonRow{}
		}
		out[r.Result][k] = r
	}
	return out
}

// sameKeys reports the difference between the keys of got and want.
func sameKeys[V any](t *testing.T, what string, got map[key]V, want map[key]bool) {
	t.Helper()
	var missing, extra []string
	for k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k.String())
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Errorf("%s: %d missing %v, %d unexpected %v", what, len(missing), missing, len(extra), extra)
	}
}

// pairsWhere is the subset of all pairs for which pred holds.
func pairsWhere(all map[key]bool, pred func(k key) bool) map[key]bool {
	m := map[key]bool{}
	for k := range all {
		if pred(k) {
			m[k] = true
		}
	}
	return m
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func isNodeIP(n node, a netip.Addr) bool {
	for _, ip := range n.IPs {
		if ip == a {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readResume(t *testing.T, dir string) []jsonPair {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "resume.json"))
	if err != nil {
		t.Fatalf("reading resume.json: %v", err)
	}
	var pairs []jsonPair
	if err := json.Unmarshal(b, &pairs); err != nil {
		t.Fatalf("resume.json: %v\n%s", err, b)
	}
	return pairs
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
