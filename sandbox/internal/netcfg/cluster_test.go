package netcfg

import (
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

func TestVXLANNodeLines(t *testing.T) {
	p, err := plan.New("x", 2, 3, plan.Dual, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetNetwork("vxlan", 0); err != nil {
		t.Fatal(err)
	}
	n := p.Nodes[0]
	got := strings.Join(NodeLines(p, n), "\n")
	for _, want := range []string{
		"link add vxlan0 address 0e:dd:02:00:01:01 mtu 1450 type vxlan id 1 local 100.64.2.2 dev eth0 dstport 8472 nolearning",
		"addr add 100.98.1.0/32 dev vxlan0\n",
		"addr add fd0d:2:1:1::/128 dev vxlan0 nodad",
		"neigh replace 100.98.2.0 lladdr 0e:dd:02:00:02:01 dev vxlan0 nud permanent",
		"neigh replace fd0d:2:1:3:: lladdr 0e:dd:02:00:03:01 dev vxlan0 nud permanent",
		"route add 100.98.2.0/24 via 100.98.2.0 dev vxlan0 onlink",
		"route add fd0d:2:1:3::/64 via fd0d:2:1:3:: dev vxlan0 onlink",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("node lines miss %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "via 100.64.2.3") {
		t.Errorf("overlay node routes pods via the underlay:\n%s", got)
	}
	fdb := strings.Join(FDBLines(p, n), "\n")
	if want := "fdb append 0e:dd:02:00:02:01 dev vxlan0 dst 100.64.2.3 self permanent"; !strings.Contains(fdb, want) || len(FDBLines(p, n)) != 2 {
		t.Errorf("fdb lines %q, want 2 with %q", fdb, want)
	}
	routed, _ := plan.New("x", 2, 3, plan.Dual, 1)
	if l := strings.Join(NodeLines(routed, routed.Nodes[0]), "\n"); strings.Contains(l, "vxlan") || !strings.Contains(l, "route add 100.98.2.0/24 via 100.64.2.3 dev eth0") {
		t.Errorf("routed node lines changed:\n%s", l)
	}
	if FDBLines(routed, routed.Nodes[0]) != nil {
		t.Error("routed cluster has fdb lines")
	}
}
