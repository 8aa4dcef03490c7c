package agent

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// rtattr builds one netlink attribute.
func rtattr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { b := make([]byte, 4); binary.NativeEndian.PutUint32(b, v); return b }

func TestParseRoutesAndRules(t *testing.T) {
	// 10.244.2.0/24 via 10.0.0.3 dev eth0 table 100; a blackhole in main; a local route (left out).
	r1 := append([]byte{syscall.AF_INET, 24, 0, 0, 100, 3, 0, 1, 0, 0, 0, 0},
		append(append(rtattr(rtaDst, []byte{10, 244, 2, 0}), rtattr(rtaGateway, []byte{10, 0, 0, 3})...), rtattr(rtaOif, u32(2))...)...)
	r2 := append([]byte{syscall.AF_INET, 24, 0, 0, 254, 3, 0, 6, 0, 0, 0, 0}, rtattr(rtaDst, []byte{10, 244, 3, 0})...)
	r3 := append([]byte{syscall.AF_INET, 32, 0, 0, 255, 2, 0, 2, 0, 0, 0, 0}, rtattr(rtaDst, []byte{10, 0, 0, 1})...)
	var msgs []syscall.NetlinkMessage
	for _, d := range [][]byte{r1, r2, r3} {
		msgs = append(msgs, syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWROUTE}, Data: d})
	}
	got := parseRoutes(msgs, map[int]string{2: "eth0"})
	want := []Route{{Dst: "10.244.2.0/24", Gateway: "10.0.0.3", Iface: "eth0", Table: 100}, {Dst: "10.244.3.0/24", Table: 254, Type: "blackhole", Reject: true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("routes\n got %+v\nwant %+v", got, want)
	}
	// from 10.244.1.0/24 lookup 100, priority 1000.
	rule := append([]byte{syscall.AF_INET, 0, 24, 0, 100, 0, 0, 1, 0, 0, 0, 0},
		append(rtattr(fraSrc, []byte{10, 244, 1, 0}), rtattr(fraPriority, u32(1000))...)...)
	rules := parseRules([]syscall.NetlinkMessage{{Header: syscall.NlMsghdr{Type: rtmNewRule}, Data: rule}})
	if len(rules) != 1 || rules[0] != (RoutingRule{Family: "IPv4", Priority: 1000, Src: "10.244.1.0/24", Action: "lookup", Table: 100}) {
		t.Errorf("rules %+v", rules)
	}
}

// TestReadRoutesLive dumps this namespace's real tables: every kernel has
// the three default rules (local, main, default) in each family.
func TestReadRoutesLive(t *testing.T) {
	if _, err := readRoutes(map[int]string{}); err != nil {
		t.Fatal(err)
	}
	rules, err := readRules()
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]bool{}
	for _, r := range rules {
		if r.Action == "lookup" {
			tables[r.Family+"/"+map[int]string{255: "local", 254: "main", 253: "default"}[r.Table]] = true
		}
	}
	for _, want := range []string{"IPv4/local", "IPv4/main"} {
		if !tables[want] {
			t.Errorf("no rule %s in %+v", want, rules)
		}
	}
}
