package agent

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// The kernel's own view of links and neighbours, read over rtnetlink (as
// `ip -d -s link` and `ip neigh` do) in the agent's network namespace.

// Attribute numbers from linux/if_link.h and linux/neighbour.h.
const (
	iflaLink      = 5
	iflaOperstate = 16
	iflaLinkinfo  = 18
	iflaStats64   = 23
	iflaInfoKind  = 1
	ndaDst        = 1
	ndaLladdr     = 2
)

// operStates are IF_OPER_* (RFC 2863) as `ip link` prints them.
var operStates = []string{"UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"}

// neighStates are the NUD_* bits as `ip neigh` prints them.
var neighStates = []struct {
	bit  uint16
	name string
}{{0x01, "INCOMPLETE"}, {0x02, "REACHABLE"}, {0x04, "STALE"}, {0x08, "DELAY"}, {0x10, "PROBE"}, {0x20, "FAILED"}, {0x40, "NOARP"}, {0x80, "PERMANENT"}}

// LinkStats are the error and drop counters of a link (rtnl_link_stats64).
type LinkStats struct {
	RxErrors  uint64 `json:"rxErrors"`
	TxErrors  uint64 `json:"txErrors"`
	RxDropped uint64 `json:"rxDropped"`
	TxDropped uint64 `json:"txDropped"`
}

// linkInfo is what netlink adds to net.Interfaces: kind, peer, operstate.
type linkInfo struct {
	kind      string
	peer      int // IFLA_LINK: for a veth, the peer's ifindex (in its namespace)
	operstate string
	stats     *LinkStats
}

// attrs splits a run of rtattrs (4-byte aligned) into type -> value.
func attrs(b []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff // drop NLA_F_NESTED / NET_BYTEORDER
		if l < 4 || l > len(b) {
			break
		}
		out[t] = b[4:l]
		al := (l + 3) &^ 3
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return out
}

// dump sends one RTM_GET* dump request and returns the messages' bodies.
func dump(typ, family int) ([]syscall.NetlinkMessage, error) {
	raw, err := syscall.NetlinkRIB(typ, family)
	if err != nil {
		return nil, err
	}
	return syscall.ParseNetlinkMessage(raw)
}

// readLinkInfo maps ifindex -> kind, peer, operstate and counters.
func readLinkInfo() (map[int]linkInfo, error) {
	msgs, err := dump(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("netlink link dump: %w", err)
	}
	out := map[int]linkInfo{}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		idx := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
		a := attrs(m.Data[syscall.SizeofIfInfomsg:])
		li := linkInfo{}
		if v, ok := a[iflaLink]; ok && len(v) >= 4 {
			li.peer = int(int32(binary.NativeEndian.Uint32(v)))
		}
		if v, ok := a[iflaOperstate]; ok && len(v) >= 1 && int(v[0]) < len(operStates) {
			li.operstate = operStates[v[0]]
		}
		if v, ok := a[iflaLinkinfo]; ok {
			if k, ok := attrs(v)[iflaInfoKind]; ok {
				li.kind = cString(k)
			}
		}
		if v, ok := a[iflaStats64]; ok && len(v) >= 64 {
			u := func(i int) uint64 { return binary.NativeEndian.Uint64(v[i*8:]) }
			li.stats = &LinkStats{RxErrors: u(4), TxErrors: u(5), RxDropped: u(6), TxDropped: u(7)}
		}
		out[idx] = li
	}
	return out, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// NeighState is one neighbour entry of either family, as `ip neigh` shows it.
type NeighState struct {
	IP    string `json:"ip"`
	MAC   string `json:"mac,omitempty"`
	Iface string `json:"iface"`
	// State is the NUD state: REACHABLE, STALE, DELAY, PROBE, INCOMPLETE,
	// FAILED, NOARP, PERMANENT (several joined by "," when the kernel sets more).
	State string `json:"state"`
}

// readNeighbours dumps the IPv4 and IPv6 neighbour tables over netlink.
func readNeighbours(names map[int]string) ([]NeighState, error) {
	var out []NeighState
	for _, fam := range []int{syscall.AF_INET, syscall.AF_INET6} {
		msgs, err := dump(syscall.RTM_GETNEIGH, fam)
		if err != nil {
			return nil, fmt.Errorf("netlink neighbour dump: %w", err)
		}
		out = append(out, parseNeigh(msgs, names)...)
	}
	return out, nil
}

// parseNeigh decodes RTM_NEWNEIGH messages (struct ndmsg is 12 bytes:
// family, pad, pad, ifindex, state, flags, type).
func parseNeigh(msgs []syscall.NetlinkMessage, names map[int]string) []NeighState {
	var out []NeighState
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWNEIGH || len(m.Data) < 12 {
			continue
		}
		idx := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
		state := binary.NativeEndian.Uint16(m.Data[8:10])
		a := attrs(m.Data[12:])
		ip, ok := netip.AddrFromSlice(a[ndaDst])
		if !ok {
			continue
		}
		n := NeighState{IP: ip.Unmap().String(), Iface: names[idx], State: nudString(state)}
		if mac := a[ndaLladdr]; len(mac) > 0 {
			n.MAC = net.HardwareAddr(mac).String()
		}
		out = append(out, n)
	}
	return out
}

func nudString(s uint16) string {
	out := ""
	for _, n := range neighStates {
		if s&n.bit != 0 {
			if out != "" {
				out += ","
			}
			out += n.name
		}
	}
	if out == "" {
		return "NONE"
	}
	return out
}
