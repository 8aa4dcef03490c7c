package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestReadFactsFixture(t *testing.T) {
	f := ReadFacts("node-1", "testdata/facts/proc")
	if len(f.Errors) != 0 {
		t.Fatalf("errors: %v", f.Errors)
	}
	if f.Conntrack != (Usage{Count: 1234, Max: 262144}) {
		t.Errorf("conntrack %+v", f.Conntrack)
	}
	if f.NeighGC4 != [3]int{128, 256, 512} || f.NeighGC6 != [3]int{-1, -1, -1} {
		t.Errorf("gc thresholds v4 %v v6 %v (want 128 256 512 and unknown)", f.NeighGC4, f.NeighGC6)
	}
	if len(f.Neighbours) != 2 || f.Neighbours[0] != (Neighbour{IP: "10.0.0.2", MAC: "02:fc:00:00:00:05", Iface: "eth0", Flags: "0x2"}) {
		t.Errorf("neighbours %+v", f.Neighbours)
	}
	if f.ConntrackStats == nil || *f.ConntrackStats != (ConntrackStats{InsertFailed: 5, Drop: 16, EarlyDrop: 11}) {
		t.Errorf("conntrack stats %+v, want insert_failed 3+2, drop 0x10, early_drop 1+0xa", f.ConntrackStats)
	}
	wantS := Sysctls{IPForward: 1, IPv6Forwarding: 1, RPFilterAll: 0, RPFilterDef: 1, BridgeNFCallIPTables: -1, BridgeNFCallIP6Tables: -1}
	if f.Sysctls == nil || *f.Sysctls != wantS {
		t.Errorf("sysctls %+v, want %+v", f.Sysctls, wantS)
	}
	// Interfaces are this test's own namespace (netlink): loopback is always
	// there; its rp_filter comes from the fixture's conf/lo.
	var lo bool
	for _, i := range f.Interfaces {
		if i.Name == "lo" {
			lo = i.MTU > 0 && i.Index > 0 && i.OperState != "" && i.Stats != nil && i.RPFilter != nil && *i.RPFilter == 2
		}
	}
	if !lo {
		t.Errorf("interfaces %+v lack lo with MTU, index, operstate, counters and rp_filter 2", f.Interfaces)
	}
}

func TestReadFactsMissingFilesAreUnknown(t *testing.T) {
	f := ReadFacts("n", t.TempDir())
	if f.ConntrackStats != nil {
		t.Errorf("no stat file: %+v", f.ConntrackStats)
	}
	if d := ReadFactsFor("n", t.TempDir(), []netip.Addr{netip.MustParseAddr("10.96.0.10")}).ConntrackDst; len(d) != 1 || d[0].Count != -1 || !strings.Contains(d[0].Skipped, "does not exist") {
		t.Errorf("no nf_conntrack: %+v", d)
	}
	if f.Sysctls == nil || *f.Sysctls != (Sysctls{-1, -1, -1, -1, -1, -1}) {
		t.Errorf("empty proc sysctls: %+v", f.Sysctls)
	}
	if f.Conntrack != (Usage{-1, -1}) || f.NeighGC4 != [3]int{-1, -1, -1} || len(f.Errors) != 0 {
		t.Errorf("empty proc: %+v", f)
	}
}

func TestFactsEndpoint(t *testing.T) {
	s := NewServer(Options{Identity: testIdentity(), Token: testToken, ProcRoot: "testdata/facts/proc"})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx := context.Background()

	f, err := Facts(ctx, srv.Client(), srv.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if f.Node != "node-1" || f.Conntrack.Count != 1234 {
		t.Errorf("facts over HTTP: %+v", f)
	}
	// Entries toward an IP: original-direction dst only (the third line
	// has 10.96.0.10 as reply dst, not counted); IPv6 too.
	f, err = FactsFor(ctx, srv.Client(), srv.URL, testToken, []string{"10.96.0.10", "fd00:96::a", "10.0.0.9"})
	want := []ConntrackDst{{IP: "10.96.0.10", Count: 2}, {IP: "fd00:96::a", Count: 1}, {IP: "10.0.0.9", Count: 0}}
	if err != nil || !reflect.DeepEqual(f.ConntrackDst, want) {
		t.Errorf("conntrackDst: %v %+v, want %+v", err, f.ConntrackDst, want)
	}
	var he0 *HTTPError
	if _, err := FactsFor(ctx, srv.Client(), srv.URL, testToken, []string{"not-an-ip"}); !errors.As(err, &he0) || he0.StatusCode != http.StatusBadRequest {
		t.Errorf("bad conntrackDst: %v, want 400", err)
	}
	var he *HTTPError
	if _, err := Facts(ctx, srv.Client(), srv.URL, "wrong"); !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %v, want HTTP 401", err)
	}
	// The data port of a split agent does not serve facts.
	data := httptest.NewServer(s.dataHandler())
	defer data.Close()
	if _, err := Facts(ctx, data.Client(), data.URL, testToken); !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Errorf("facts on the data port: %v, want 404", err)
	}
	api := httptest.NewServer(s.apiHandler())
	defer api.Close()
	if _, err := Facts(ctx, api.Client(), api.URL, testToken); err != nil {
		t.Errorf("facts on the API port: %v", err)
	}
	noToken := httptest.NewServer(NewServer(Options{Identity: testIdentity()}).Handler())
	defer noToken.Close()
	if _, err := Facts(ctx, noToken.Client(), noToken.URL, ""); !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("agent without token: %v, want 503", err)
	}
}

func TestParseNeigh(t *testing.T) {
	msg := func(family byte, ifindex int32, state uint16, dst, mac []byte) syscall.NetlinkMessage {
		b := make([]byte, 12)
		b[0] = family
		binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
		binary.NativeEndian.PutUint16(b[8:], state)
		attr := func(typ uint16, v []byte) {
			a := make([]byte, (4+len(v)+3)&^3)
			binary.NativeEndian.PutUint16(a[0:], uint16(4+len(v)))
			binary.NativeEndian.PutUint16(a[2:], typ)
			copy(a[4:], v)
			b = append(b, a...)
		}
		attr(ndaDst, dst)
		if mac != nil {
			attr(ndaLladdr, mac)
		}
		return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWNEIGH}, Data: b}
	}
	got := parseNeigh([]syscall.NetlinkMessage{
		msg(syscall.AF_INET, 2, 0x02, []byte{10, 0, 0, 2}, []byte{2, 0, 0, 0, 0, 5}),
		msg(syscall.AF_INET6, 2, 0x20, net.ParseIP("fd00::3").To16(), nil),
		msg(syscall.AF_INET, 9, 0x01|0x80, []byte{10, 0, 0, 7}, nil),
		{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWLINK}, Data: make([]byte, 32)},
	}, map[int]string{2: "eth0"})
	want := []NeighState{{IP: "10.0.0.2", MAC: "02:00:00:00:00:05", Iface: "eth0", State: "REACHABLE"},
		{IP: "fd00::3", Iface: "eth0", State: "FAILED"}, {IP: "10.0.0.7", State: "INCOMPLETE,PERMANENT"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
