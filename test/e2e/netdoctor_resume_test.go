package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// ndRow is the part of a `netctl -o json` row this test reads (its own
// type: the test must not depend on netctl's).
type ndRow struct {
	Protocol string `json:"protocol"`
	Family   string `json:"family"`
	SrcNode  string `json:"srcNodeName"`
	DstNode  string `json:"dstNodeName"`
	TargetIP string `json:"targetIP"`
	Port     int    `json:"port"`
	Result   string `json:"result"`
}

// TestResumeNetDoctorFiles: `netctl resume` reads resume.json as NetDoctor
// wrote it (Status 0 EXCEPTION, 1 SUCCEEDED, 2 FAILED; dns rows and
// customized-target rows whose targetIP is not an IP) and re-checks exactly
// the pairs it lists that did not succeed.
func TestResumeNetDoctorFiles(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	names := c.nodeNames()
	sort.Strings(names)
	n0, n1, n2 := c.node(names[0]), c.node(names[1]), c.node(names[2])
	dir := workdir(t)
	path := filepath.Join(dir, "config.json")
	var cfg map[string]any
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg["mode"] = "node"
	cfg["customizedTargetIPList"] = []string{n2.IPs[0].String()}
	cfg["customizedTargetPortList"] = []string{"8889"}
	b, _ = json.MarshalIndent(cfg, "", "  ")
	writeFile(t, path, string(b))

	resume := func(file string, flags ...string) []ndRow {
		t.Helper()
		writeFile(t, filepath.Join(dir, "resume.json"), file)
		args := append([]string{"resume", "--kubeconfig", c.Kubeconfig, "-o", "json", "--no-progress"}, flags...)
		r := netctl(t, dir, args...)
		var rep struct{ Rows []ndRow }
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			t.Fatalf("netctl %s: exit %d, stdout not JSON (%v)\n%s\n%s", strings.Join(args, " "), r.Code, err, r.Stdout, r.Stderr)
		}
		if r.Code != 0 {
			t.Errorf("netctl %s: exit %d, want 0\n%s", strings.Join(args, " "), r.Code, r.Stderr)
		}
		for _, row := range rep.Rows {
			if row.Result != "SUCCEEDED" {
				t.Errorf("row %+v: want SUCCEEDED", row)
			}
		}
		return rep.Rows
	}
	keys := func(rows []ndRow) string {
		var ks []string
		for _, r := range rows {
			ks = append(ks, fmt.Sprintf("%s %s->%s %s:%d %s", r.Protocol, r.SrcNode, r.DstNode, r.TargetIP, r.Port, r.Family))
		}
		sort.Strings(ks)
		return strings.Join(ks, "\n")
	}

	t.Run("node pairs and customized targets", func(t *testing.T) {
		file := fmt.Sprintf(`[
  {"Status": 2, "ResultStr": "curl: (28) timed out", "srcNodeName": %q, "dstNodeName": %q, "targetIP": %q},
  {"Status": 0, "ResultStr": "command terminated with exit code 126", "srcNodeName": %q, "dstNodeName": %q, "targetIP": %q},
  {"Status": 1, "ResultStr": "", "srcNodeName": %q, "dstNodeName": %q, "targetIP": %q},
  {"Status": 2, "ResultStr": "nc: timed out", "srcNodeName": %q, "dstNodeName": %q, "targetIP": "IPs: %s; Ports: 8889"}
]`, n0.Name, n1.Name, n1.IPs[0], n1.Name, n0.Name, n0.IPs[len(n0.IPs)-1], n0.Name, n0.Name, n0.IPs[0], n0.Name, n0.Name, n2.IPs[0])
		want := []ndRow{
			{Protocol: "tcp", SrcNode: n0.Name, DstNode: n1.Name, TargetIP: n1.IPs[0].String(), Port: 8889, Family: family(n1.IPs[0].Is6())},
			{Protocol: "tcp", SrcNode: n1.Name, DstNode: n0.Name, TargetIP: n0.IPs[len(n0.IPs)-1].String(), Port: 8889, Family: family(n0.IPs[len(n0.IPs)-1].Is6())},
			{Protocol: "tcp", SrcNode: n0.Name, DstNode: "customized", TargetIP: n2.IPs[0].String(), Port: 8889, Family: family(n2.IPs[0].Is6())},
		}
		if got := keys(resume(file)); got != keys(want) {
			t.Errorf("re-checked\n%s\nwant exactly\n%s", got, keys(want))
		}
	})

	t.Run("dns rows", func(t *testing.T) {
		file := fmt.Sprintf(`[{"Status": 2, "ResultStr": ";; connection timed out", "srcNodeName": %q, "dstNodeName": %q,
  "targetIP": "host: dns:kubernetes.default.svc.cluster.local; dns: coredns"}]`, n1.Name, n1.Name)
		var want []ndRow
		for _, ip := range c.DNSIPs {
			a := mustAddr(ip)
			want = append(want, ndRow{Protocol: "dns", SrcNode: n1.Name, DstNode: "cluster-dns", TargetIP: ip, Family: family(a.Is6())})
		}
		// The config says tcp; the rows say dns, and resume follows them.
		if got := keys(resume(file)); got != keys(want) {
			t.Errorf("re-checked\n%s\nwant exactly\n%s", got, keys(want))
		}
	})
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}
