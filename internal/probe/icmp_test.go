package probe

import (
	"os"
	"testing"
	"time"
)

func TestICMPProbeLoopback(t *testing.T) {
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			lo.need(t)
			for _, size := range []int{0, 100, 9000} {
				r := runProbe(t, Target{Kind: KindICMP, Address: lo.addr, PayloadSize: size}, 2*time.Second)
				if r.Class == ClassSkipped {
					if os.Geteuid() == 0 {
						t.Fatalf("skipped although running as root: %s", r.Reason)
					}
					t.Skipf("no ICMP permission here: %s", r.Reason)
				}
				want := size
				if want == 0 {
					want = DefaultPayloadSize
				}
				wantResult(t, r, true, ClassNone, "echo reply from "+lo.addr, "("+itoa(want)+" bytes")
			}
		})
	}
}

func itoa(n int) string {
	b := []byte{}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
