package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMonitorKinds installs the monitor with --kinds=udp,icmp on its own
// cluster (after TestMonitor, which uninstalls) and checks, on real agent
// pods, that every agent probes its peers over exactly those kinds and
// they succeed (udp echo through the pod and host networks; icmp from the
// pod network through ping_group_range and from the host network through
// NET_RAW), that no tcp pair exists, and that `monitor status` and
// /api/v1/findings report a healthy monitor with no finding.
func TestMonitorKinds(t *testing.T) {
	c := sharedCluster(t, monCluster, 3, "dual")
	dir := t.TempDir()
	r := netctl(t, dir, "monitor", "install", "--kubeconfig", c.Kubeconfig, "--kinds=udp,icmp",
		"--interval="+monInterval.String(), "--node-port="+strconv.Itoa(monNodePort), "--timeout=2m")
	t.Cleanup(func() { c.monitorUninstall(t, dir) })
	if r.Code != 0 {
		c.dumpMonitor(t)
		t.Fatalf("monitor install --kinds=udp,icmp: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	srv := c.monitorURL(t)
	// 3 nodes x 2 agents, each probing the 4 agents on the other 2 nodes
	// over 2 families and 2 kinds.
	const want = 6 * 4 * 2 * 2
	monWaitFor(t, "every agent reports udp and icmp pairs, all succeeding", time.Minute, func() (bool, string) {
		var m jsonMatrix
		if err := monTryJSON(srv+"/api/v1/matrix", &m); err != nil {
			return false, err.Error()
		}
		kinds := map[string]int{}
		var bad []string
		for _, p := range m.Pairs {
			kinds[string(p.Kind)]++
			if !p.OK {
				bad = append(bad, fmt.Sprintf("%s->%s %s %s: %s", p.Source, p.Target, p.Kind, p.Address, p.Class))
			}
		}
		sort.Strings(bad)
		return len(m.Pairs) == want && kinds["udp"] == want/2 && kinds["icmp"] == want/2 && len(bad) == 0,
			fmt.Sprintf("%d pairs (want %d), by kind %v, failing %v", len(m.Pairs), want, kinds, bad)
	})
	var f struct {
		Findings []jsonFinding `json:"findings"`
	}
	if err := monTryJSON(srv+"/api/v1/findings", &f); err != nil || len(f.Findings) != 0 {
		t.Errorf("/api/v1/findings on a healthy monitor: %+v %v", f.Findings, err)
	}
	st := netctl(t, dir, "monitor", "status", "--kubeconfig", c.Kubeconfig)
	if st.Code != 0 || !strings.Contains(st.Stdout, "0 failing") || strings.Contains(st.Stdout, "Findings:") {
		t.Errorf("monitor status: exit %d\n%s%s", st.Code, st.Stdout, st.Stderr)
	}
}
