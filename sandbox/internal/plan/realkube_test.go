package plan

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAddAgentlessAddresses(t *testing.T) {
	p, err := New("c", 2, 3, Dual, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddAgentless(2, 1); err != nil {
		t.Fatal(err)
	}
	if len(p.AgentlessNodes) != 3 {
		t.Fatalf("%d agentless nodes, want 3", len(p.AgentlessNodes))
	}
	used := map[string]string{}
	for _, n := range p.Nodes {
		for _, ip := range n.IPs {
			used[ip] = n.Name
		}
	}
	for i, n := range p.AgentlessNodes {
		wantKind, wantName := KindWindows, []string{"c-win-1", "c-win-2", "c-virtual-1"}[i]
		if i == 2 {
			wantKind = KindVirtual
		}
		if n.Kind != wantKind || n.Name != wantName || n.Index != 4+i {
			t.Errorf("agentless %d: %+v; want kind %s name %s index %d", i, n, wantKind, wantName, 4+i)
		}
		if len(n.IPs) != 2 {
			t.Errorf("%s: IPs %v, want one per family", n.Name, n.IPs)
		}
		for _, ip := range n.IPs {
			if o, dup := used[ip]; dup {
				t.Errorf("%s: IP %s also used by %s", n.Name, ip, o)
			}
			used[ip] = n.Name
			a := netip.MustParseAddr(ip)
			in := false
			for _, nn := range p.NodeNets {
				in = in || netip.MustParsePrefix(nn).Contains(a)
			}
			if !in {
				t.Errorf("%s: IP %s outside the node network %v", n.Name, ip, p.NodeNets)
			}
		}
		if (n.Kind == KindWindows) != (len(n.PodCIDRs) == 2) {
			t.Errorf("%s: pod CIDRs %v (Windows nodes get one per family, virtual none)", n.Name, n.PodCIDRs)
		}
		if n.Zone != "zone-a" && n.Zone != "zone-b" {
			t.Errorf("%s: zone %q", n.Name, n.Zone)
		}
	}
}

func TestValidateRealism(t *testing.T) {
	for _, c := range []struct {
		level                   string
		nodes, windows, virtual int
		want                    string
	}{
		{"", 3, 0, 0, ""},
		{"privileged", 3, 1, 1, ""},
		{"baseline", 1, 0, 0, ""},
		{"restricted", 251, 1, 1, ""},
		{"Baseline", 3, 0, 0, "--pod-security"},
		{"none", 3, 0, 0, "--pod-security"},
		{"", 3, -1, 0, "--windows-nodes"},
		{"", 3, 0, -1, "--virtual-nodes"},
		{"", 250, 2, 2, "at most 253"},
	} {
		err := ValidateRealism(c.level, c.nodes, c.windows, c.virtual)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("ValidateRealism(%q, %d, %d, %d) = %v; want %q", c.level, c.nodes, c.windows, c.virtual, err, c.want)
		}
	}
}
