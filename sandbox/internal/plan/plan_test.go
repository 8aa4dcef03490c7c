package plan

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNewDualRangesDisjointAcrossSlots(t *testing.T) {
	a, err := New("east", 0, 100, Dual, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("west", 1, 100, Dual, 3)
	if err != nil {
		t.Fatal(err)
	}
	var all []netip.Prefix
	for _, p := range []*Plan{a, b} {
		for _, l := range [][]string{p.NodeNets, p.ClusterCIDR, p.ServiceCIDR} {
			for _, s := range l {
				all = append(all, netip.MustParsePrefix(s))
			}
		}
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].Overlaps(all[j]) {
				t.Errorf("%s overlaps %s", all[i], all[j])
			}
		}
	}
	if got := a.ServiceIP(10); got[0] != "100.80.0.10" || got[1] != "fd0d:0:2::a" {
		t.Errorf("ServiceIP(10) = %v", got)
	}
	if a.DNSIPs[0] != "100.80.0.10" || netip.MustParseAddr(a.DNSIPs[1]) != netip.MustParseAddr("fd0d:0:2::a") {
		t.Errorf("DNSIPs = %v", a.DNSIPs)
	}
}

func TestEveryAddressIsGuarded(t *testing.T) {
	p, err := New("demo", 5, 253, Dual, 2)
	if err != nil {
		t.Fatal(err)
	}
	var guards []netip.Prefix
	for _, g := range p.Guards {
		guards = append(guards, netip.MustParsePrefix(g))
	}
	covered := func(s string) bool {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			pf = netip.PrefixFrom(netip.MustParseAddr(s), netip.MustParseAddr(s).BitLen())
		}
		for _, g := range guards {
			if g.Bits() <= pf.Bits() && g.Contains(pf.Addr()) {
				return true
			}
		}
		return false
	}
	var addrs []string
	addrs = append(addrs, p.BridgeIPs...)
	addrs = append(addrs, p.ServiceCIDR...)
	addrs = append(addrs, p.ClusterCIDR...)
	addrs = append(addrs, p.DNSIPs...)
	for _, n := range p.Nodes {
		addrs = append(addrs, n.IPs...)
		addrs = append(addrs, n.PodCIDRs...)
	}
	for _, a := range addrs {
		if !covered(a) {
			t.Errorf("%s is not covered by any guard %v", a, p.Guards)
		}
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	tests := map[string]struct {
		name   string
		slot   int
		nodes  int
		family string
		zones  int
		want   string
	}{
		"dash in name": {"a-b", 0, 1, Dual, 1, `--name "a-b": must be 1-12 lowercase letters or digits, starting with a letter`},
		"zero nodes":   {"a", 0, 0, Dual, 1, "--nodes 0: must be between 1 and 253"},
		"family":       {"a", 0, 1, "ipv5", 1, `--ip-family "ipv5": must be ipv4, ipv6 or dual`},
		"zones":        {"a", 0, 1, Dual, 27, "--zones 27: must be between 1 and 26"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.name, tc.slot, tc.nodes, tc.family, tc.zones)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAddressesCanonical: every address the plan writes is in the form the
// API server and the kubelet print (slot 0 is where "fd0d:0::2" would differ).
func TestAddressesCanonical(t *testing.T) {
	p, err := New("canon", 0, 3, Dual, 1)
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(append(append(append([]string{}, p.BridgeIPs...), p.NodeNets...), p.ClusterCIDR...), p.ServiceCIDR...), p.DNSIPs...)
	all = append(all, p.Guards...)
	for _, n := range p.Nodes {
		all = append(append(all, n.IPs...), n.PodCIDRs...)
	}
	for _, s := range all {
		if c := canon(s); c != s {
			t.Errorf("%q is not canonical (%q)", s, c)
		}
	}
	if p.Nodes[0].IPs[1] != "fd0d::2" {
		t.Errorf("node 1 IPv6 = %q, want fd0d::2", p.Nodes[0].IPs[1])
	}
}

func TestSetNetwork(t *testing.T) {
	for _, tc := range []struct {
		family, overlay string
		mtu             int
		wantMTU, under  int
		errHas          string
	}{
		{Dual, "", 0, 0, 0, ""},
		{Dual, "none", 1400, 1400, 1400, ""},
		{Dual, "vxlan", 0, 1450, 1500, ""},
		{IPv4, "vxlan", 0, 1450, 1500, ""},
		{IPv6, "vxlan", 0, 1450, 1520, ""},
		{Dual, "vxlan", 8950, 8950, 9000, ""},
		{IPv4, "vxlan", 1000, 1000, 1500, ""},
		{Dual, "vxlan", 1000, 0, 0, "--mtu 1000: must be between 1280 and 9000"},
		{IPv4, "", 9001, 0, 0, "--mtu 9001"},
		{Dual, "geneve", 0, 0, 0, `--overlay "geneve": must be vxlan`},
	} {
		p, err := New("x", 1, 2, tc.family, 1)
		if err != nil {
			t.Fatal(err)
		}
		err = p.SetNetwork(tc.overlay, tc.mtu)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%+v: err %v, want %q", tc, err, tc.errHas)
			}
			continue
		}
		if err != nil || p.MTU != tc.wantMTU || p.UnderlayMTU() != tc.under {
			t.Errorf("%+v: MTU %d underlay %d err %v", tc, p.MTU, p.UnderlayMTU(), err)
		}
	}
}

func TestVTEP(t *testing.T) {
	p, _ := New("x", 3, 2, Dual, 1)
	n := p.Nodes[1]
	if got := strings.Join(n.VTEPIPs(), " "); got != "100.99.2.0 fd0d:3:1:2::" {
		t.Errorf("VTEPIPs = %s", got)
	}
	if got := p.VTEPMAC(n); got != "0e:dd:03:00:02:01" {
		t.Errorf("VTEPMAC = %s", got)
	}
	if p.VTEPMAC(p.Nodes[0]) == p.VTEPMAC(n) {
		t.Error("two nodes share a MAC")
	}
}
