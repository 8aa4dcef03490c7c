package agent

import (
	"strings"
	"testing"
	"time"
)

// Real /dev/kmsg records (format of Documentation/ABI/testing/dev-kmsg),
// the lines these kernels print for each kind of trouble.
var kmsgLines = []string{
	"4,2301,7390000000,-;nf_conntrack: nf_conntrack: table full, dropping packet\n",
	"4,2302,7391000000,-;nf_conntrack: nf_conntrack: table full, dropping packet\n",
	"6,2303,7392000000,-;neighbour: arp_cache: neighbor table overflow!\n",
	"4,2304,7393000000,-;IPv4: martian source 10.244.2.5 from 10.244.1.1, on dev eth0\n SUBSYSTEM=net\n DEVICE=n2\n",
	"6,2305,7394000000,-;ndbr0: port 3(ndv3) entered disabled state\n",
	"6,2306,6000000000,-;e1000e: eth1 NIC Link is Down\n", // older than the window
	"6,2307,7395000000,-;TCP: request_sock_TCP: Possible SYN flooding on port 8080. Sending cookies.\n",
	"6,2308,7396000000,-;total_swap 0\n",
}

func TestKernelLogMatch(t *testing.T) {
	var recs []kmsgRecord
	for _, l := range kmsgLines {
		r, ok := parseKmsg(l)
		if !ok {
			t.Fatalf("not parsed: %q", l)
		}
		recs = append(recs, r)
	}
	if recs[3].text != "IPv4: martian source 10.244.2.5 from 10.244.1.1, on dev eth0" || recs[3].since != 7393*time.Second {
		t.Errorf("record %+v", recs[3])
	}
	now := 7400 * time.Second
	got := matchKernelLines(recs, now, 15*time.Minute)
	want := map[string]int{"conntrack-table-full": 2, "neighbour-table-overflow": 1, "martian-packet": 1, "link-flap": 1, "syn-flood": 1}
	if len(got) != len(want) {
		t.Fatalf("kinds %+v", got)
	}
	for _, m := range got {
		if want[m.Kind] != m.Count {
			t.Errorf("%s: %d lines, want %d", m.Kind, m.Count, want[m.Kind])
		}
		if m.Kind == "conntrack-table-full" && (m.AgeSeconds != 9 || !strings.Contains(m.Line, "table full")) {
			t.Errorf("last line %+v", m)
		}
	}
	// A window that ends before every line: nothing.
	if got := matchKernelLines(recs, 9000*time.Second, time.Minute); len(got) != 0 {
		t.Errorf("outside the window: %+v", got)
	}
}

func TestKernelLogSyslogFormat(t *testing.T) {
	recs := parseSyslog(strings.NewReader("<4>[ 7390.123456] nf_conntrack: table full, dropping packet\n<6>[    1.000000] Linux version 6.18\nno prefix\n"))
	if len(recs) != 2 || recs[0].text != "nf_conntrack: table full, dropping packet" || recs[0].since != 7390*time.Second+123456*time.Microsecond {
		t.Errorf("%+v", recs)
	}
	if got := matchKernelLines(recs, 7400*time.Second, time.Minute); len(got) != 1 || got[0].Kind != "conntrack-table-full" {
		t.Errorf("%+v", got)
	}
}

func TestKernelLogUnreadable(t *testing.T) {
	if _, err := readKmsg(t.TempDir() + "/kmsg"); err == nil {
		t.Error("a missing /dev/kmsg reads without error")
	}
	if h := restrictHint(1); !strings.Contains(h, "CAP_SYSLOG") {
		t.Errorf("hint %q", h)
	}
}

// TestKernelLogNetns: 6.x kernels name the namespace of a full conntrack
// table (line from a 6.18 kernel): lines of different namespaces stay apart.
func TestKernelLogNetns(t *testing.T) {
	var recs []kmsgRecord
	for _, l := range []string{
		"4,3001,30636290466,-;nf_conntrack: nf_conntrack: table full in netns 4026532897, dropping packet\n",
		"4,3002,30637304796,-;nf_conntrack: nf_conntrack: table full in netns 4026532897, dropping packet\n",
		"4,3003,30638328754,-;nf_conntrack: nf_conntrack: table full in netns 4026533001, dropping packet\n",
		"4,3004,30638400000,-;nf_conntrack: nf_conntrack: table full, dropping packet\n",
	} {
		r, ok := parseKmsg(l)
		if !ok {
			t.Fatalf("not parsed: %q", l)
		}
		recs = append(recs, r)
	}
	got := matchKernelLines(recs, 30640*time.Second, time.Minute)
	want := []struct {
		netns uint64
		count int
	}{{0, 1}, {4026532897, 2}, {4026533001, 1}}
	if len(got) != len(want) {
		t.Fatalf("messages %+v", got)
	}
	for i, w := range want {
		if got[i].Kind != "conntrack-table-full" || got[i].Netns != w.netns || got[i].Count != w.count {
			t.Errorf("message %d: %+v, want netns %d count %d", i, got[i], w.netns, w.count)
		}
	}
}
