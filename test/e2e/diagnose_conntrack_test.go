package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// connectLoopback opens a TCP connection inside ns to kube-proxy's
// metrics port on 127.0.0.1 (the sandbox binds it there): loopback traffic
// is conntracked in a node namespace (kube-proxy's nat rules), so the SYN
// needs a new entry. It returns the connect error.
func connectLoopback(ns string) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/10249").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ctSysctl(t *testing.T, ns, key string) int {
	t.Helper()
	v, err := strconv.Atoi(inNetns(t, ns, "sysctl", "-n", key))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDiagnoseConntrackFull: the sandbox fault conntrack-full fills one
// node's conntrack table (its namespace's own count up to the host-wide
// nf_conntrack_max): new connections in that node are dropped with the
// kernel's "table full" line, the other node and the host are not
// touched, and diagnose names that node. Its own cluster: the kernel's
// drop counters of a namespace never go back to zero, so the node keeps
// its conntrack-drops finding for the namespace's life and the shared
// clusters' "healthy" cases would fail after it.
func TestDiagnoseConntrackFull(t *testing.T) {
	// Shared (kept up to the end), not ownCluster: the kernel names the
	// node's namespace by inode in its "table full" lines, and a later
	// cluster's node could get the freed inode and inherit those lines.
	c := sharedCluster(t, "e2edct", 2, "dual")
	names := c.nodeNames()
	sort.Strings(names)
	dir := t.TempDir()
	x, y := names[1], names[0]
	xns, yns := c.netnsOf(t, x), c.netnsOf(t, y)
	const count, max = "net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_max"

	if out, r := diagnoseKernel(t, c, dir); r.Code != 0 || len(out.Findings) != 0 {
		t.Fatalf("healthy cluster: exit %d, findings %+v\n%s", r.Code, out.Findings, r.Stderr)
	}
	hostMax, _ := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	c.fault(t, "conntrack-full", x)
	if b, _ := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max"); string(b) != string(hostMax) {
		t.Fatalf("host nf_conntrack_max changed: %s -> %s", hostMax, b)
	}
	limit := ctSysctl(t, xns, max)
	if got := ctSysctl(t, xns, count); got < limit {
		t.Errorf("%s: %d conntrack entries, want the limit %d", x, got, limit)
	}
	if got := ctSysctl(t, yns, count); got*2 > limit {
		t.Errorf("%s (no fault): %d conntrack entries of %d", y, got, limit)
	}
	if err := connectLoopback(xns); err == nil {
		t.Errorf("a new connection in %s succeeded with its conntrack table full", x)
	}
	if err := connectLoopback(yns); err != nil {
		t.Errorf("a new connection in %s (no fault) failed: %v", y, err)
	}
	// The kernel said so, naming x's namespace.
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+xns, &st); err != nil {
		t.Fatal(err)
	}
	dmesg, _ := exec.Command("dmesg").Output()
	if !strings.Contains(string(dmesg), fmt.Sprintf("table full in netns %d, dropping packet", st.Ino)) {
		t.Errorf("no \"table full in netns %d\" line in the kernel log", st.Ino)
	}

	// While full, every finding names x only (observed: conntrack-near-full,
	// conntrack-drops, kernel-log, dns-node-failing; facts-unavailable
	// instead where x's agent could not be reached).
	out, r := diagnoseKernel(t, c, dir)
	if r.Code != 1 || len(out.Findings) == 0 {
		t.Errorf("table full: exit %d, findings %+v\n%s", r.Code, out.Findings, r.Stderr)
	}
	for _, f := range out.Findings {
		if !reflect.DeepEqual(f.Nodes, []string{x}) {
			t.Errorf("table full on %s: finding %+v names other nodes", x, f)
		}
	}
	t.Logf("while full: %+v", out.Findings)

	c.unfault(t, "conntrack-full", x)
	if got := ctSysctl(t, xns, count); got*2 > limit {
		t.Errorf("after remove %s still has %d conntrack entries", x, got)
	}
	if err := connectLoopback(xns); err != nil {
		t.Errorf("after remove a new connection in %s failed: %v", x, err)
	}
	// Removed: the table is not near full any more; what stays is the
	// history, on x only: the drops the kernel counted and its log line
	// (attributed by the namespace it names).
	out, r = diagnoseKernel(t, c, dir)
	if r.Code != 1 {
		t.Errorf("after remove: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	var got []kernelFinding
	for _, f := range out.Findings {
		if f.Kind == "kernel-log" && !strings.Contains(f.Summary, "table full in netns") {
			t.Errorf("kernel-log summary lacks the kernel's line: %s", f.Summary)
		}
		f.Summary = ""
		got = append(got, f)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Kind < got[j].Kind })
	want := []kernelFinding{{Kind: "conntrack-drops", Nodes: []string{x}}, {Kind: "kernel-log", Nodes: []string{x}, Target: "conntrack-table-full"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after remove: findings %+v, want %+v", got, want)
	}
}
