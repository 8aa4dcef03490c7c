package probe

import (
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dontFragment is a net.Dialer Control function: it sets Don't-Fragment
// (path MTU discovery "do") so a packet larger than the path MTU is dropped
// or refused with EMSGSIZE instead of being fragmented, which would hide an
// MTU black hole.
func dontFragment(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = setDontFragment(int(fd), strings.HasSuffix(network, "6")) })
	if err != nil {
		return err
	}
	return serr
}

func setDontFragment(fd int, v6 bool) error {
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO); err != nil {
			return err
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
}

// udpControl prepares a probe's UDP socket: Don't-Fragment, and RECVERR so
// that every ICMP error (host unreachable too, which Linux otherwise keeps
// from UDP sockets) comes back as a read error.
func udpControl(network, address string, c syscall.RawConn) error {
	if err := dontFragment(network, address, c); err != nil {
		return err
	}
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if strings.HasSuffix(network, "6") {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	var serr error
	if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, 1) }); err != nil {
		return err
	}
	return serr
}
