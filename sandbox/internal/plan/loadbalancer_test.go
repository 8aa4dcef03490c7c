package plan

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestAddLoadBalancer(t *testing.T) {
	p, err := New("c", 5, 3, Dual, 1)
	if err != nil {
		t.Fatal(err)
	}
	guards := len(p.Guards)
	if err := p.AddLoadBalancer(); err != nil {
		t.Fatal(err)
	}
	lb := p.LoadBalancer
	want := &LoadBalancer{Pools: []string{"100.64.37.0/24", "fd0d:5:3::/112"}, OutsideNetns: "nd-c-outside",
		OutsideVeth: "nd5o", OutsideIPs: []string{"100.64.5.254", "fd0d:5::fe"}}
	if !reflect.DeepEqual(lb, want) {
		t.Fatalf("load balancer plan %+v, want %+v", lb, want)
	}
	if !reflect.DeepEqual(p.Guards[guards:], lb.Pools) {
		t.Errorf("guards %v do not end with the pools", p.Guards)
	}
	// Pools never overlap the slot's other ranges; the outside client is on the node network.
	for _, pool := range lb.Pools {
		pp := netip.MustParsePrefix(pool)
		for _, r := range append(append(append([]string{}, p.NodeNets...), p.ClusterCIDR...), p.ServiceCIDR...) {
			if pp.Overlaps(netip.MustParsePrefix(r)) {
				t.Errorf("pool %s overlaps %s", pool, r)
			}
		}
	}
	for i, ip := range lb.OutsideIPs {
		if !netip.MustParsePrefix(p.NodeNets[i]).Contains(netip.MustParseAddr(ip)) {
			t.Errorf("outside %s not in node network %s", ip, p.NodeNets[i])
		}
	}
	// IPv4-only clusters get one pool; the last node address must stay free.
	p4, _ := New("d", 0, 252, IPv4, 1)
	if err := p4.AddLoadBalancer(); err != nil || len(p4.LoadBalancer.Pools) != 1 || p4.LoadBalancer.OutsideIPs[0] != "100.64.0.254" {
		t.Errorf("ipv4 252 nodes: %v %+v", err, p4.LoadBalancer)
	}
	full, _ := New("e", 0, 253, Dual, 1)
	if err := full.AddLoadBalancer(); err == nil || !strings.Contains(err.Error(), "--load-balancer") {
		t.Errorf("253 nodes with --load-balancer: %v, want an error naming the flag", err)
	}
}
