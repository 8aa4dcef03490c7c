package fault

import (
	"errors"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
)

func TestParse(t *testing.T) {
	tests := map[string]struct {
		words  []string
		wantID string
		errHas string
	}{
		"port default tcp": {words: []string{"port", "n1", "80"}, wantID: "port n1 80 tcp"},
		"loss normalized":  {words: []string{"loss", "n1", "10"}, wantID: "loss n1 10%"},
		"dns-down":         {words: []string{"dns-down"}, wantID: "dns-down"},
		"unknown kind":     {words: []string{"explode"}, errHas: `unknown fault "explode"`},
		"missing args":     {words: []string{"link", "a"}, errHas: "fault link takes arguments: A B"},
		"same node":        {words: []string{"link", "a", "a"}, errHas: "A and B must be different nodes"},
		"bad port":         {words: []string{"port", "n1", "70000"}, errHas: `PORT "70000" must be 1-65535`},
		"bad proto":        {words: []string{"port", "n1", "80", "sctp"}, errHas: `protocol "sctp" must be tcp or udp`},
		"bad mtu":          {words: []string{"mtu", "n1", "100"}, errHas: `BYTES "100" must be 576-9000`},
		"bad delay":        {words: []string{"delay", "n1", "soon"}, errHas: `DURATION "soon"`},
		"host-port tcp":    {words: []string{"host-port", "n1", "8080"}, wantID: "host-port n1 8080 tcp"},
		"host-port proto":  {words: []string{"host-port", "n1", "53", "sctp"}, errHas: `fault host-port: protocol "sctp"`},
		"kube-proxy-stop":  {words: []string{"kube-proxy-stop", "n1"}, wantID: "kube-proxy-stop n1"},
		"conntrack-full":   {words: []string{"conntrack-full"}, errHas: "fault conntrack-full takes arguments: NODE"},
		"loss over 100":    {words: []string{"loss", "n1", "101"}, errHas: `PERCENT "101"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sp, err := Parse(tc.words)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || !errors.Is(err, cluster.ErrBadInput) {
					t.Fatalf("err = %v, want bad input containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil || sp.ID() != tc.wantID {
				t.Fatalf("ID = %q, err %v; want %q", sp.ID(), err, tc.wantID)
			}
		})
	}
}

func TestMatchAddrSplitsFamilies(t *testing.T) {
	got := matchAddr("daddr", []string{"10.0.0.0/24", "fd00::/64", "10.0.1.1"}, "drop")
	want := []string{"ip daddr { 10.0.0.0/24, 10.0.1.1 } drop", "ip6 daddr { fd00::/64 } drop"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLossRules(t *testing.T) {
	got := lossRules("30%")
	if len(got) != 2 || got[1] != `oifname "eth0" numgen random mod 10000 < 3000 drop` {
		t.Fatalf("lossRules(30%%) = %q", got)
	}
	if got := lossRules("0.5%"); got[1] != `oifname "eth0" numgen random mod 10000 < 50 drop` {
		t.Fatalf("lossRules(0.5%%) = %q", got)
	}
}
