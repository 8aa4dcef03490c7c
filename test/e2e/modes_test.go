package e2e

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/netdoctor/netdoctor/internal/probe"
)

var (
	modes     = []string{"pod", "node", "node-to-pod", "pod-to-node"}
	protocols = []string{"tcp", "udp", "icmp", "dns"}
)

// TestModesProtocols: init then check in every mode x protocol on IPv4-only,
// IPv6-only and dual-stack clusters. Every expected pair is present exactly
// once, all SUCCEEDED, exit 0, and the addresses are what the mode says.
func TestModesProtocols(t *testing.T) {
	for _, stack := range []struct{ name, family string }{
		{"e2edual", "dual"}, {"e2ev4", "ipv4"}, {"e2ev6", "ipv6"},
	} {
		t.Run(stack.family, func(t *testing.T) {
			nodes := 3
			if stack.family == "dual" {
				nodes = 4
			}
			// The single-stack clusters serve only this test.
			get := ownCluster
			if stack.name == "e2edual" {
				get = sharedCluster
			}
			c := get(t, stack.name, nodes, stack.family)
			dir := workdir(t)
			for _, mode := range modes {
				for _, proto := range protocols {
					t.Run(mode+"/"+proto, func(t *testing.T) {
						rep, r := check(t, c, dir, "--mode", mode, "--protocol", proto)
						if r.Code != 0 {
							t.Errorf("exit code %d, want 0\nstderr:\n%s", r.Code, r.Stderr)
						}
						assertModePairs(t, c, mode, proto, families(stack.family), rep)
					})
				}
			}
		})
	}
}

// TestFamilyFlag: on a dual-stack cluster --ip-family narrows to one family.
func TestFamilyFlag(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	dir := workdir(t)
	for _, fam := range []struct {
		flag string
		want probe.Family
	}{{"ipv4", probe.IPv4}, {"ipv6", probe.IPv6}} {
		t.Run(fam.flag, func(t *testing.T) {
			rep, r := check(t, c, dir, "--mode", "pod", "--protocol", "tcp", "--ip-family", fam.flag)
			if r.Code != 0 {
				t.Errorf("exit %d\n%s", r.Code, r.Stderr)
			}
			assertModePairs(t, c, "pod", "tcp", []probe.Family{fam.want}, rep)
		})
	}
}

func assertModePairs(t *testing.T, c *cluster, mode, proto string, fams []probe.Family, rep jsonReport) {
	t.Helper()
	got := byResult(t, rep)
	var want map[key]bool
	if proto == "dns" {
		want = map[key]bool{}
		for _, n := range c.Nodes {
			for _, ip := range c.DNSIPs {
				a := netip.MustParseAddr(ip)
				if slices.Contains(fams, familyOf(a)) {
					want[key{n.Name, "cluster-dns", familyOf(a)}] = true
				}
			}
		}
	} else {
		want = allPairs(c, c, fams)
	}
	all := map[key]jsonRow{}
	for _, rows := range got {
		for k, r := range rows {
			all[k] = r
		}
	}
	sameKeys(t, "pairs", all, want)
	for k, r := range all {
		if r.Result != resultSucceeded {
			t.Errorf("%s: %s (%s) %s", k, r.Result, r.Class, r.Log)
		}
	}
	srcIsNode := mode == "node" || mode == "node-to-pod"
	dstIsNode := mode == "node" || mode == "pod-to-node"
	for k, r := range all {
		src := netip.MustParseAddr(r.SrcIP)
		if familyOf(src) != k.Family {
			t.Errorf("%s: source address %s is not %s", k, src, k.Family)
		}
		sn := c.node(k.Src)
		if srcIsNode && !isNodeIP(sn, src) {
			t.Errorf("%s: mode %s must start in the node's network namespace, but source %s is not a node IP of %s", k, mode, src, k.Src)
		}
		if !srcIsNode && !inAny(src, sn.PodCIDRs) {
			t.Errorf("%s: mode %s must start in a pod, but source %s is outside %s's pod CIDRs %v", k, mode, src, k.Src, sn.PodCIDRs)
		}
		dst := netip.MustParseAddr(r.TargetIP)
		if familyOf(dst) != k.Family {
			t.Errorf("%s: target %s is not %s", k, dst, k.Family)
		}
		if proto == "dns" {
			if !slices.Contains(c.DNSIPs, r.TargetIP) {
				t.Errorf("%s: dns target %s is not a kube-dns Service IP %v", k, dst, c.DNSIPs)
			}
			continue
		}
		dn := c.node(k.Dst)
		if dstIsNode && !isNodeIP(dn, dst) {
			t.Errorf("%s: mode %s must target node IPs, but %s is not a node IP of %s", k, mode, dst, k.Dst)
		}
		if !dstIsNode && !inAny(dst, dn.PodCIDRs) {
			t.Errorf("%s: mode %s must target pod IPs, but %s is outside %s's pod CIDRs %v", k, mode, dst, k.Dst, dn.PodCIDRs)
		}
	}
}
