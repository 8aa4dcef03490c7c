package probe

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// routeMTU asks the kernel (netlink RTM_GETROUTE, what `ip route get`
// does) which interface the route toward dst leaves by, and returns that
// interface's MTU and name. The interface MTU, not the route's cached path
// MTU: a black hole must still be probed with what the interface claims.
func routeMTU(dst net.IP) (int, string, error) {
	family, addr := unix.AF_INET, dst.To4()
	if addr == nil {
		family, addr = unix.AF_INET6, dst.To16()
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, "", err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(1e9))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	attrLen := unix.SizeofRtAttr + len(addr)
	b := make([]byte, unix.SizeofNlMsghdr+unix.SizeofRtMsg+(attrLen+3)&^3)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.RTM_GETROUTE)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], 1) // seq
	rt := b[unix.SizeofNlMsghdr:]
	rt[0] = byte(family)
	rt[1] = byte(len(addr) * 8) // dst_len
	at := rt[unix.SizeofRtMsg:]
	ne.PutUint16(at[0:], uint16(attrLen))
	ne.PutUint16(at[2:], unix.RTA_DST)
	copy(at[unix.SizeofRtAttr:], addr)
	if err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, "", err
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, "", err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, "", err
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := int32(ne.Uint32(m.Data)); errno != 0 {
					return 0, "", syscall.Errno(-errno)
				}
			}
		case unix.RTM_NEWROUTE:
			attrs, err := syscall.ParseNetlinkRouteAttr(&m)
			if err != nil {
				return 0, "", err
			}
			for _, a := range attrs {
				if a.Attr.Type == unix.RTA_OIF && len(a.Value) >= 4 {
					ifc, err := net.InterfaceByIndex(int(ne.Uint32(a.Value)))
					if err != nil {
						return 0, "", err
					}
					return ifc.MTU, ifc.Name, nil
				}
			}
		}
	}
	return 0, "", fmt.Errorf("no route toward %s", dst)
}
