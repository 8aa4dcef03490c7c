package agent

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// Routes and policy rules of every table, both families, read over
// rtnetlink as `ip route show table all` and `ip rule` (and `ip -6 ...`).

// Route table ids and attribute numbers from linux/rtnetlink.h and
// linux/fib_rules.h.
const (
	rtTableMain  = 254
	rtTableLocal = 255
	rtaDst       = 1
	rtaOif       = 4
	rtaGateway   = 5
	rtaPriority  = 6
	rtaMultipath = 9
	rtaTable     = 15
	rtaVia       = 18
	fraDst       = 1
	fraSrc       = 2
	fraIifname   = 3
	fraPriority  = 6
	fraFwmark    = 10
	fraTable     = 15
	fraOifname   = 17
	rtmGetRule   = 34
	rtmNewRule   = 32
)

// routeTypes are RTN_* as `ip route` prints them.
var routeTypes = []string{"unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat", "xresolve"}

// ruleActions are FR_ACT_* as `ip rule` prints them.
var ruleActions = map[uint8]string{1: "lookup", 2: "goto", 3: "nop", 6: "blackhole", 7: "unreachable", 8: "prohibit"}

// RoutingRule is one policy routing rule (`ip rule`).
type RoutingRule struct {
	Family   string `json:"family"` // IPv4 or IPv6
	Priority int    `json:"priority"`
	// Selectors: empty/zero match everything.
	Src    string `json:"src,omitempty"`
	Dst    string `json:"dst,omitempty"`
	Iif    string `json:"iif,omitempty"`
	Oif    string `json:"oif,omitempty"`
	Fwmark uint32 `json:"fwmark,omitempty"`
	// Action: lookup (Table), goto, nop, blackhole, unreachable, prohibit.
	Action string `json:"action"`
	Table  int    `json:"table,omitempty"`
}

// readRoutes dumps the routes of every table of both families. Local,
// broadcast, anycast and multicast routes (the kernel's own per address)
// are left out: they never carry traffic to another node.
func readRoutes(names map[int]string) ([]Route, error) {
	var out []Route
	for _, fam := range []int{syscall.AF_INET, syscall.AF_INET6} {
		msgs, err := dump(syscall.RTM_GETROUTE, fam)
		if err != nil {
			return nil, fmt.Errorf("netlink route dump: %w", err)
		}
		out = append(out, parseRoutes(msgs, names)...)
	}
	return out, nil
}

// parseRoutes decodes RTM_NEWROUTE messages (struct rtmsg, 12 bytes:
// family, dst_len, src_len, tos, table, protocol, scope, type, flags).
func parseRoutes(msgs []syscall.NetlinkMessage, names map[int]string) []Route {
	var out []Route
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWROUTE || len(m.Data) < 12 {
			continue
		}
		fam, dstLen, table, typ := m.Data[0], int(m.Data[1]), int(m.Data[4]), int(m.Data[7])
		if typ >= 2 && typ <= 5 { // local, broadcast, anycast, multicast
			continue
		}
		a := attrs(m.Data[12:])
		if v, ok := a[rtaTable]; ok && len(v) >= 4 {
			table = int(binary.NativeEndian.Uint32(v))
		}
		dst := netip.IPv4Unspecified()
		if fam == syscall.AF_INET6 {
			dst = netip.IPv6Unspecified()
		}
		if v, ok := netip.AddrFromSlice(a[rtaDst]); ok {
			dst = v
		}
		r := Route{Dst: netip.PrefixFrom(dst, dstLen).Masked().String(), Table: table, Reject: typ >= 6 && typ <= 8}
		if typ < len(routeTypes) && typ != 1 {
			r.Type = routeTypes[typ]
		}
		if v, ok := a[rtaOif]; ok && len(v) >= 4 {
			r.Iface = names[int(binary.NativeEndian.Uint32(v))]
		}
		if v, ok := a[rtaPriority]; ok && len(v) >= 4 {
			r.Metric = int(binary.NativeEndian.Uint32(v))
		}
		if gw, ok := netip.AddrFromSlice(a[rtaGateway]); ok {
			r.Gateway = gw.String()
		} else if v := a[rtaVia]; len(v) > 2 {
			if gw, ok := netip.AddrFromSlice(v[2:]); ok {
				r.Gateway = gw.String()
			}
		} else if v := a[rtaMultipath]; len(v) >= 8 {
			// First next hop of a multipath route (struct rtnexthop: len,
			// flags, hops, ifindex; then its attributes).
			r.Iface = names[int(binary.NativeEndian.Uint32(v[4:8]))]
			if l := int(binary.NativeEndian.Uint16(v[0:2])); l >= 8 && l <= len(v) {
				if gw, ok := netip.AddrFromSlice(attrs(v[8:l])[rtaGateway]); ok {
					r.Gateway = gw.String()
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// readRules dumps the policy routing rules of both families.
func readRules() ([]RoutingRule, error) {
	var out []RoutingRule
	for _, fam := range []int{syscall.AF_INET, syscall.AF_INET6} {
		msgs, err := dump(rtmGetRule, fam)
		if err != nil {
			return nil, fmt.Errorf("netlink rule dump: %w", err)
		}
		out = append(out, parseRules(msgs)...)
	}
	return out, nil
}

// parseRules decodes RTM_NEWRULE messages (struct fib_rule_hdr, 12 bytes:
// family, dst_len, src_len, tos, table, res1, res2, action, flags).
func parseRules(msgs []syscall.NetlinkMessage) []RoutingRule {
	var out []RoutingRule
	for _, m := range msgs {
		if m.Header.Type != rtmNewRule || len(m.Data) < 12 {
			continue
		}
		fam, dstLen, srcLen := m.Data[0], int(m.Data[1]), int(m.Data[2])
		a := attrs(m.Data[12:])
		r := RoutingRule{Family: "IPv4", Table: int(m.Data[4]), Action: ruleActions[m.Data[7]]}
		if fam == syscall.AF_INET6 {
			r.Family = "IPv6"
		}
		if r.Action == "" {
			r.Action = fmt.Sprintf("action-%d", m.Data[7])
		}
		u32 := func(t uint16) (uint32, bool) {
			if v, ok := a[t]; ok && len(v) >= 4 {
				return binary.NativeEndian.Uint32(v), true
			}
			return 0, false
		}
		if v, ok := u32(fraTable); ok {
			r.Table = int(v)
		}
		if v, ok := u32(fraPriority); ok {
			r.Priority = int(v)
		}
		r.Fwmark, _ = u32(fraFwmark)
		if v, ok := netip.AddrFromSlice(a[fraDst]); ok {
			r.Dst = netip.PrefixFrom(v, dstLen).String()
		}
		if v, ok := netip.AddrFromSlice(a[fraSrc]); ok {
			r.Src = netip.PrefixFrom(v, srcLen).String()
		}
		r.Iif, r.Oif = cString(a[fraIifname]), cString(a[fraOifname])
		out = append(out, r)
	}
	return out
}
