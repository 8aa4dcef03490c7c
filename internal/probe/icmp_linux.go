package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openICMP opens an ICMP socket with Don't-Fragment set: an unprivileged
// datagram socket when net.ipv4.ping_group_range includes our group, else a
// raw socket (needs CAP_NET_RAW). The error explains what to change.
func openICMP(v6 bool) (icmpSocket, error) {
	conn, dgErr := openDatagramICMP(v6)
	if dgErr == nil {
		return icmpSocket{conn: conn, datagram: true}, nil
	}
	network, addr := "ip4:icmp", "0.0.0.0"
	if v6 {
		network, addr = "ip6:ipv6-icmp", "::"
	}
	lc := net.ListenConfig{Control: dontFragment}
	conn, rawErr := lc.ListenPacket(context.Background(), network, addr)
	if rawErr == nil {
		return icmpSocket{conn: conn}, nil
	}
	if errors.Is(rawErr, syscall.EPERM) || errors.Is(rawErr, syscall.EACCES) {
		return icmpSocket{}, fmt.Errorf("no ICMP permission: unprivileged ICMP sockets are not allowed for this group (sysctl net.ipv4.ping_group_range) and raw sockets need CAP_NET_RAW")
	}
	return icmpSocket{}, fmt.Errorf("cannot open an ICMP socket: datagram: %v; raw: %v", oneLine(innermost(dgErr).Error()), oneLine(innermost(rawErr).Error()))
}

// openDatagramICMP opens a SOCK_DGRAM ICMP socket (what unprivileged
// `ping` uses). It is created by hand rather than with icmp.ListenPacket
// so Don't-Fragment can be set on the descriptor.
func openDatagramICMP(v6 bool) (net.PacketConn, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
	if err != nil {
		return nil, fmt.Errorf("datagram ICMP socket: %w", err)
	}
	if err := setDontFragment(fd, v6); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting don't-fragment: %w", err)
	}
	// Without RECVERR the kernel drops ICMP errors (unreachable, too big)
	// for an unconnected ping socket; with it they come back as read errors.
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if v6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("asking for ICMP errors: %w", err)
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close() // FilePacketConn holds its own duplicate
	return net.FilePacketConn(f)
}
