package plan

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidateProxyMode(t *testing.T) {
	for _, m := range []string{"", ProxyIPTables, ProxyNFTables} {
		if err := ValidateProxyMode(m); err != nil {
			t.Errorf("%q: %v", m, err)
		}
	}
	if err := ValidateProxyMode(ProxyIPVS); err == nil || !strings.Contains(err.Error(), "no IPVS") {
		t.Errorf("ipvs: %v", err)
	}
	if err := ValidateProxyMode("userspace"); err == nil || !strings.Contains(err.Error(), "--proxy-mode") {
		t.Errorf("userspace: %v", err)
	}
}

// The second segment's ranges are guarded and disjoint from every other
// range of every slot.
func TestAddSegment(t *testing.T) {
	var all []string
	for s := 0; s < MaxSlots; s++ {
		p, err := New("c", s, 2, Dual, 1)
		if err != nil {
			t.Fatal(err)
		}
		before := len(p.Guards)
		p.AddSegment()
		if p.Segment.Bridge == p.Bridge || len(p.Guards) != before+2 {
			t.Errorf("slot %d: %+v guards %v", s, p.Segment, p.Guards)
		}
		all = append(all, p.NodeNets[0], p.ClusterCIDR[0], p.ServiceCIDR[0], p.Segment.Ranges[0])
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			if netip.MustParsePrefix(a).Overlaps(netip.MustParsePrefix(b)) {
				t.Errorf("ranges %s and %s overlap", a, b)
			}
		}
	}
}
