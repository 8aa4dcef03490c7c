package e2e

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// overlayRow is the part of a -o json row these tests read.
type overlayRow struct {
	SrcNode    string `json:"srcNodeName"`
	DstNode    string `json:"dstNodeName"`
	Result     string `json:"result"`
	Class      string `json:"class"`
	Log        string `json:"log"`
	PacketSize int    `json:"packetSize"`
	Note       string `json:"note"`
}

func checkRows(t *testing.T, c *cluster, dir string, args ...string) ([]overlayRow, run) {
	t.Helper()
	args = append([]string{"check", "--kubeconfig", c.Kubeconfig, "-o", "json", "--no-progress"}, args...)
	r := netctl(t, dir, args...)
	var rep struct{ Rows []overlayRow }
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("netctl %s: exit %d, stdout not JSON: %v\n%s", strings.Join(args, " "), r.Code, err, r.Stderr)
	}
	return rep.Rows, r
}

// TestOverlayMTU: on a VXLAN overlay (pod MTU 1450) tcp, udp, icmp and dns
// all succeed, the rows show the size probed (the pods' route MTU, not
// 1500), and the MTU black-hole fault is still found there. Needs the
// sandbox's `up --overlay vxlan` and `fault add mtu` (h-net).
func TestOverlayMTU(t *testing.T) {
	c := ownCluster(t, "e2evxlan", 3, "dual", "--overlay", "vxlan")
	dir := workdir(t)
	for _, proto := range []string{"tcp", "udp", "icmp", "dns"} {
		rows, r := checkRows(t, c, dir, "--mode", "pod", "--protocol", proto)
		if r.Code != 0 || len(rows) == 0 {
			t.Errorf("%s on vxlan: exit %d, %d rows\n%s", proto, r.Code, len(rows), r.Stderr)
		}
		for _, row := range rows {
			if row.Result != "SUCCEEDED" {
				t.Errorf("%s on vxlan: %+v", proto, row)
				break
			}
			// A pod probing its own IP goes through lo (MTU 65536): full size.
			// Every other pair leaves by the pod's 1450-byte eth0.
			if proto != "dns" && row.SrcNode != row.DstNode && (row.PacketSize == 0 || row.PacketSize >= 1500 || !strings.Contains(row.Note, "probed with")) {
				t.Errorf("%s on vxlan: row probed %d bytes, note %q; want the overlay MTU and a note", proto, row.PacketSize, row.Note)
				break
			}
		}
	}
	names := c.nodeNames()
	sort.Strings(names)
	n := names[len(names)-1]
	c.fault(t, "mtu", n, "1280")
	rows, r := checkRows(t, c, dir, "--mode", "pod", "--protocol", "tcp", "--cmd-timeout", "3")
	if r.Code != 1 {
		t.Errorf("black hole on %s: exit %d, want 1\n%s", n, r.Code, r.Stderr)
	}
	for _, row := range rows {
		touches := row.SrcNode == n || row.DstNode == n
		if touches && row.SrcNode != row.DstNode && row.Result != "FAILED" {
			t.Errorf("black hole on %s not found: %+v", n, row)
		}
		if !touches && row.Result != "SUCCEEDED" {
			t.Errorf("row away from %s: %+v", n, row)
		}
	}
}

// TestHostPortTaken: a probe port another process holds on a node makes
// that node's host-network agent an EXCEPTION naming the port and the node.
// Needs the sandbox's `fault add host-port NODE PORT` (h-net).
func TestHostPortTaken(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	names := c.nodeNames()
	sort.Strings(names)
	n := names[1]
	dir := workdir(t)
	c.fault(t, "host-port", n, "18889")
	t.Cleanup(func() { netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig, "--namespace", "e2e-hostport") })
	rows, r := checkRows(t, c, dir, "--mode", "node", "--port", "18889", "--namespace", "e2e-hostport", "--pod-wait-time", "30")
	if r.Code != 1 {
		t.Errorf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	named := false
	for _, row := range rows {
		if row.SrcNode == n || row.DstNode == n {
			if row.Result != "EXCEPTION" {
				t.Errorf("row %+v: want EXCEPTION", row)
			}
			named = named || (strings.Contains(row.Log, "18889") && strings.Contains(row.Log, n))
		}
	}
	if !named {
		t.Errorf("no EXCEPTION names port 18889 and node %s", n)
	}
}
