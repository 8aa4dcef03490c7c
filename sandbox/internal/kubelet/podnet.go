package kubelet

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// podNet is the network of one pod-network pod.
type podNet struct {
	netns    string // namespace name under /run/netns
	hostVeth string // node-side veth name
	ips      []netip.Addr
	mtu      int // both veth ends; 0 = kernel default
}

var ipv6Gateway = netip.MustParseAddr("fe80::1")

const nodadFlag = unix.IFA_F_NODAD

func hostPrefix(ip netip.Addr) *net.IPNet {
	return &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ip.BitLen(), ip.BitLen())}
}

// setupPodNetwork creates the pod's namespace and a veth pair into its node:
// the pod side (eth0) holds the pod addresses as /32 and /128 with default
// routes via the node side, which holds the IPv4 gateway /32 and fe80::1 and
// a host route to each pod address. IPv6 addresses skip DAD, or they would
// stay tentative for seconds.
func setupPodNetwork(node *nodeState, pn *podNet) (err error) {
	if err := createNetns(pn.netns); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = deleteNetns(pn.netns) // takes the veth pair with it
		}
	}()
	nodeNs, err := netns.GetFromPath(node.netnsPath)
	if err != nil {
		return fmt.Errorf("opening node netns %s: %w", node.Netns, err)
	}
	defer nodeNs.Close()
	podNs, err := netns.GetFromPath(netnsPath(pn.netns))
	if err != nil {
		return fmt.Errorf("opening pod netns: %w", err)
	}
	defer podNs.Close()
	nh, err := netlink.NewHandleAt(nodeNs)
	if err != nil {
		return fmt.Errorf("netlink in node netns: %w", err)
	}
	defer nh.Close()
	ph, err := netlink.NewHandleAt(podNs)
	if err != nil {
		return fmt.Errorf("netlink in pod netns: %w", err)
	}
	defer ph.Close()

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: pn.hostVeth, MTU: pn.mtu},
		PeerName:      "eth0",
		PeerMTU:       uint32(pn.mtu),
		PeerNamespace: netlink.NsFd(int(podNs)),
	}
	if err := nh.LinkAdd(veth); err != nil {
		return fmt.Errorf("adding veth %s in node %s: %w", pn.hostVeth, node.Name, err)
	}
	host, err := nh.LinkByName(pn.hostVeth)
	if err != nil {
		return fmt.Errorf("finding veth %s: %w", pn.hostVeth, err)
	}
	eth0, err := ph.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("finding pod eth0: %w", err)
	}

	var has4, has6 bool
	for _, ip := range pn.ips {
		if ip.Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	// Node side: gateway addresses.
	if has4 {
		for _, gw := range node.gateways {
			if err := nh.AddrAdd(host, &netlink.Addr{IPNet: hostPrefix(gw)}); err != nil {
				return fmt.Errorf("adding gateway %s on %s: %w", gw, pn.hostVeth, err)
			}
		}
	}
	if has6 {
		ll := &net.IPNet{IP: ipv6Gateway.AsSlice(), Mask: net.CIDRMask(64, 128)}
		if err := nh.AddrAdd(host, &netlink.Addr{IPNet: ll, Flags: nodadFlag}); err != nil {
			return fmt.Errorf("adding fe80::1 on %s: %w", pn.hostVeth, err)
		}
	}
	if err := nh.LinkSetUp(host); err != nil {
		return fmt.Errorf("setting %s up: %w", pn.hostVeth, err)
	}

	// Pod side: addresses, link up, default routes.
	for _, ip := range pn.ips {
		a := &netlink.Addr{IPNet: hostPrefix(ip)}
		if ip.Is6() {
			a.Flags = nodadFlag
		}
		if err := ph.AddrAdd(eth0, a); err != nil {
			return fmt.Errorf("adding %s to pod eth0: %w", ip, err)
		}
	}
	if err := ph.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("setting pod eth0 up: %w", err)
	}
	if has4 && len(node.gateways) > 0 {
		gw := node.gateways[0]
		if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: hostPrefix(gw), Scope: netlink.SCOPE_LINK}); err != nil {
			return fmt.Errorf("adding route to gateway %s: %w", gw, err)
		}
		if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw.AsSlice(),
			Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}); err != nil {
			return fmt.Errorf("adding IPv4 default route: %w", err)
		}
	}
	if has6 {
		if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: ipv6Gateway.AsSlice(),
			Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}); err != nil {
			return fmt.Errorf("adding IPv6 default route: %w", err)
		}
	}

	// Node side: host routes to the pod.
	for _, ip := range pn.ips {
		if err := nh.RouteAdd(&netlink.Route{LinkIndex: host.Attrs().Index, Dst: hostPrefix(ip), Scope: netlink.SCOPE_LINK}); err != nil {
			return fmt.Errorf("adding node route to %s: %w", ip, err)
		}
	}
	return nil
}

// teardownPodNetwork deletes the node-side veth (its routes go with it) and
// the pod namespace. Missing pieces are fine.
func teardownPodNetwork(node *nodeState, pn *podNet) error {
	if nodeNs, err := netns.GetFromPath(node.netnsPath); err == nil {
		if nh, err := netlink.NewHandleAt(nodeNs); err == nil {
			if l, err := nh.LinkByName(pn.hostVeth); err == nil {
				_ = nh.LinkDel(l)
			}
			nh.Close()
		}
		nodeNs.Close()
	}
	return deleteNetns(pn.netns)
}
