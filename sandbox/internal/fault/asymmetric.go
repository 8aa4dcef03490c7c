package fault

import (
	"context"
	"fmt"

	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// asymLink is the name, in one node's namespace, of the direct link
// rp-filter-asymmetric adds towards node index peer.
func asymLink(peer int) string { return fmt.Sprintf("ndasym%d", peer) }

// rpFilterKey is the sysctl rp-filter-asymmetric makes strict.
var rpFilterKey = "net.ipv4.conf." + netcfg.NodeLink + ".rp_filter"

// rpFilterAsymmetric makes IPv4 routing between NODE and PEER asymmetric
// and NODE's reverse-path filter strict on its link to the switch, the
// classic "second NIC" incident:
//
//   - a veth pair joins NODE's and PEER's namespaces directly (no
//     addresses: it carries only addresses of the sandbox's own ranges, so
//     no new range and no guard route);
//   - NODE routes PEER's IPv4 pod CIDR over it (`via <PEER's node IP> dev
//     ndasym<PEER> onlink`); PEER keeps routing NODE's pods over the
//     switch, so replies come back to NODE on eth0;
//   - net.ipv4.conf.eth0.rp_filter = 1 in NODE (strict, RFC 3704): a packet
//     from PEER's pods arriving on eth0, where NODE's route back to its
//     source leaves by the direct link, is dropped.
//
// Every IPv4 flow between PEER's pods and NODE (its pods, itself) breaks in
// both directions; with rp_filter 0 or 2 the same asymmetric routes carry
// it. IPv6 and all other pairs are untouched. Remove writes back the old
// rp_filter, NODE's route over the switch, then deletes the pair.
func (a *applier) rpFilterAsymmetric(ctx context.Context, name, peerName string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	p, err := a.node(peerName)
	if err != nil {
		return err
	}
	if a.st.Overlay != "" {
		return bad("fault rp-filter-asymmetric needs a routed cluster (no --overlay): pod CIDRs are routed over eth0 there")
	}
	if a.st.IPFamily == plan.IPv6 {
		return bad("fault rp-filter-asymmetric needs IPv4 (rp_filter is IPv4 only): cluster %s is IPv6-only", a.st.Name)
	}
	var route string // NODE's route to PEER's IPv4 pod CIDR over the switch
	for _, r := range netcfg.PodRouteLines(&a.st.Plan, *p) {
		if !netcfg.IsV6(r) {
			route = r[len("route add "):]
			break
		}
	}
	cidr, peerIP := p.PodCIDRs[0], p.IPs[0] // IPv4 is listed first
	here, there := asymLink(p.Index), asymLink(n.Index)
	if err := netcfg.Batch(ctx, n.Netns, []string{fmt.Sprintf("link add %s type veth peer name %s netns %s", here, there, p.Netns)}, false); err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "link", Link: here})
	// PEER's end only receives NODE's traffic (its replies leave by eth0):
	// never filter there, whatever PEER's default rp_filter is.
	if err := netcfg.SetSysctls(ctx, p.Netns, []string{"net.ipv4.conf." + there + ".rp_filter=0"}); err != nil {
		return err
	}
	if err := netcfg.Batch(ctx, p.Netns, []string{"link set " + there + " up"}, false); err != nil {
		return err
	}
	if err := netcfg.Batch(ctx, n.Netns, []string{
		"link set " + here + " up",
		fmt.Sprintf("route replace %s via %s dev %s onlink", cidr, peerIP, here),
	}, false); err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "route-replace", Route: route})
	old, err := nsSysctl(ctx, n.Netns, rpFilterKey)
	if err != nil {
		return err
	}
	if err := netcfg.SetSysctls(ctx, n.Netns, []string{rpFilterKey + "=1"}); err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "sysctl", Key: rpFilterKey, Value: fmt.Sprint(old)})
	return nil
}
