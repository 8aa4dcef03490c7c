package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestCustomizedTargets: customizedTargetIPList x customizedTargetPortList
// are checked from every source agent on top of the mode's pairs. The
// targets are inside the sandbox: the kube-dns Service IPs, on port 53
// (CoreDNS behind kube-proxy: must succeed) and port 1 (no such Service
// port: must fail).
func TestCustomizedTargets(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	dir := workdir(t)
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["customizedTargetIPList"] = c.DNSIPs
	cfg["customizedTargetPortList"] = []any{"53", 1}
	b, _ = json.MarshalIndent(cfg, "", "  ")
	writeFile(t, path, string(b))

	rep, r := check(t, c, dir, "--mode", "pod", "--protocol", "tcp", "--cmd-timeout", "2")
	if r.Code != 1 {
		t.Errorf("exit %d, want 1 (port 1 fails)\n%s", r.Code, r.Stderr)
	}
	type ck struct {
		src, ip string
		port    int
	}
	custom := map[ck]jsonRow{}
	var agentRows jsonReport
	for _, row := range rep.Rows {
		if row.DstNode != "customized" {
			agentRows.Rows = append(agentRows.Rows, row)
			continue
		}
		k := ck{row.SrcNode, row.TargetIP, row.Port}
		if _, dup := custom[k]; dup {
			t.Errorf("customized pair %v appears twice", k)
		}
		custom[k] = row
	}
	// The mode's own pairs are all there and fine.
	got := byResult(t, agentRows)
	sameKeys(t, "agent pairs", got[resultSucceeded], allPairs(c, c, families(c.Family)))
	// Every source x IP x port, 53 succeeding and 1 failing.
	for _, n := range c.Nodes {
		for _, ip := range c.DNSIPs {
			for port, want := range map[int]result{53: resultSucceeded, 1: resultFailed} {
				row, ok := custom[ck{n.Name, ip, port}]
				switch {
				case !ok:
					t.Errorf("missing customized pair %s -> %s", n.Name, fmt.Sprintf("[%s]:%d", ip, port))
				case row.Result != want:
					t.Errorf("%s -> [%s]:%d: %s (%s) %s, want %s", n.Name, ip, port, row.Result, row.Class, row.Log, want)
				}
			}
		}
	}
	if want := len(c.Nodes) * len(c.DNSIPs) * 2; len(custom) != want {
		t.Errorf("%d customized rows, want %d", len(custom), want)
	}
}
