package probe

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsTestHandler answers a small fixed zone:
//
//	ok.test.      A 10.96.0.1, AAAA fd00::1
//	v4only.test.  A 10.96.0.2 (AAAA: NOERROR, empty)
//	noaddr.test.  exists, but neither A nor AAAA (NOERROR, empty)
//	nx.test.      NXDOMAIN
//	fail.test.    SERVFAIL
//	refuse.test.  REFUSED
//	big.test.     40 A records: truncated over UDP, whole over TCP
func dnsTestHandler(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	rr := func(s string) dns.RR { r, _ := dns.NewRR(s); return r }
	switch q.Name {
	case "ok.test.":
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, rr("ok.test. 30 IN A 10.96.0.1"))
		} else if q.Qtype == dns.TypeAAAA {
			m.Answer = append(m.Answer, rr("ok.test. 30 IN AAAA fd00::1"))
		}
	case "v4only.test.":
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, rr("v4only.test. 30 IN A 10.96.0.2"))
		}
	case "noaddr.test.":
		// NOERROR with an empty answer for every type.
	case "nx.test.":
		m.Rcode = dns.RcodeNameError
	case "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case "refuse.test.":
		m.Rcode = dns.RcodeRefused
	case "big.test.":
		for i := 1; i <= 40; i++ {
			m.Answer = append(m.Answer, rr("big.test. 30 IN A 10.1.0."+itoa(i)))
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Answer = m.Answer[:1]
			m.Truncated = true
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// dnsServer starts UDP and TCP miekg/dns servers on the same loopback port.
func dnsServer(t *testing.T, addr string) int {
	t.Helper()
	for attempt := 0; attempt < 10; attempt++ {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, itoa(port)))
		if err != nil {
			pc.Close()
			continue // port taken for TCP: try another
		}
		h := dns.HandlerFunc(dnsTestHandler)
		udp := &dns.Server{PacketConn: pc, Handler: h}
		tcp := &dns.Server{Listener: ln, Handler: h}
		go udp.ActivateAndServe()
		go tcp.ActivateAndServe()
		t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
		return port
	}
	t.Fatal("no free port for a UDP+TCP DNS server")
	return 0
}

func TestDNSProbe(t *testing.T) {
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			lo.need(t)
			port := dnsServer(t, lo.addr)
			tests := []struct {
				name     string
				host     string
				family   Family
				ok       bool
				class    FailureClass
				fragment string
			}{
				{"A", "ok.test", IPv4, true, ClassNone, "ok.test A 10.96.0.1 from " + lo.addr + " in "},
				{"AAAA", "ok.test", IPv6, true, ClassNone, "ok.test AAAA fd00::1 from " + lo.addr},
				{"no family asks A first", "ok.test.", "", true, ClassNone, "ok.test A 10.96.0.1"},
				{"no family falls back to AAAA", "v4only.test", "", true, ClassNone, "v4only.test A 10.96.0.2"},
				{"IPv6 falls back to A when the name has no AAAA", "v4only.test", IPv6, true, ClassNone, "v4only.test A 10.96.0.2"},
				{"no address of either type", "noaddr.test", IPv6, false, ClassDNSNoAnswer, "noaddr.test AAAA: no record of that type"},
				{"NXDOMAIN", "nx.test", IPv4, false, ClassDNSNXDomain, "nx.test A: no such name (NXDOMAIN) from " + lo.addr},
				{"SERVFAIL", "fail.test", IPv4, false, ClassDNSServFail, "fail.test A: server failure (SERVFAIL)"},
				{"REFUSED", "refuse.test", IPv4, false, ClassDNSRefused, "(REFUSED)"},
				{"truncated over UDP retried over TCP", "big.test", IPv4, true, ClassNone, "big.test A 10.1.0.1,10.1.0.2,10.1.0.3 (+37 more) from"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := runProbe(t, Target{Kind: KindDNS, Address: lo.addr, Port: port, Name: tc.host, Family: tc.family}, 2*time.Second)
					wantResult(t, r, tc.ok, tc.class, tc.fragment)
				})
			}
			t.Run("timeout: silent server", func(t *testing.T) {
				pc, err := net.ListenPacket("udp", net.JoinHostPort(lo.addr, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				start := time.Now()
				r := runProbe(t, Target{Kind: KindDNS, Address: lo.addr, Port: pc.LocalAddr().(*net.UDPAddr).Port, Name: "ok.test", Family: IPv4}, 300*time.Millisecond)
				wantResult(t, r, false, ClassTimeout, "dns ok.test A at", "no answer within")
				if el := time.Since(start); el > time.Second {
					t.Errorf("took %s, ignoring the 300ms deadline", el)
				}
			})
			t.Run("refused: no server on the port", func(t *testing.T) {
				r := runProbe(t, Target{Kind: KindDNS, Address: lo.addr, Port: freePort(t, "udp", lo.addr), Name: "ok.test", Family: IPv4}, time.Second)
				wantResult(t, r, false, ClassRefused)
			})
			t.Run("longer timeout than miekg's 2s default is honoured", func(t *testing.T) {
				if testing.Short() {
					t.Skip("slow")
				}
				ctxTimeout := 2500 * time.Millisecond
				pc, err := net.ListenPacket("udp", net.JoinHostPort(lo.addr, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				r := runProbe(t, Target{Kind: KindDNS, Address: lo.addr, Port: pc.LocalAddr().(*net.UDPAddr).Port, Name: "ok.test", Family: IPv4}, ctxTimeout)
				if r.Timings.Total < 2400*time.Millisecond || !strings.Contains(r.Reason, "no answer within") {
					t.Errorf("gave up after %s (%s), want about %s", r.Timings.Total, r.Reason, ctxTimeout)
				}
			})
		})
	}
}
