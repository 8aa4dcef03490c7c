package probe

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// udpServer answers each datagram with whatever reply returns (nil = stay
// silent) and records the sizes of what it received.
func udpServer(t *testing.T, addr string, reply func(req []byte) [][]byte) (int, chan int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	sizes := make(chan int, 16)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case sizes <- n:
			default:
			}
			for _, ans := range reply(buf[:n]) {
				pc.WriteTo(ans, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port, sizes
}

func agentEcho(node, pod string) func([]byte) [][]byte {
	return func(req []byte) [][]byte { return [][]byte{EchoAnswer(req, node, pod)} }
}

func TestEchoAnswer(t *testing.T) {
	req := []byte("NDPING abc123 " + strings.Repeat("x", 100))
	ans := EchoAnswer(req, "node-1", "")
	if !strings.HasPrefix(string(ans), "NDPONG abc123 node-1 - ") || len(ans) != len(req) {
		t.Errorf("answer %q (len %d), want NDPONG with nonce, node, '-' for no pod, padded to %d", ans[:30], len(ans), len(req))
	}
	if EchoAnswer([]byte("GET / HTTP/1.1"), "n", "p") != nil {
		t.Error("answered a datagram that is not a ping")
	}
}

func TestUDPProbe(t *testing.T) {
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			lo.need(t)
			t.Run("echo success, full-size datagram", func(t *testing.T) {
				port, sizes := udpServer(t, lo.addr, agentEcho("node-1", "pod-a"))
				r := runProbe(t, Target{Kind: KindUDP, Address: lo.addr, Port: port, ExpectNode: "node-1", ExpectPod: "pod-a"}, 2*time.Second)
				wantResult(t, r, true, ClassNone, "agent node-1/pod-a echoed")
				if r.Responder != "node-1/pod-a" {
					t.Errorf("responder = %q", r.Responder)
				}
				if got, want := <-sizes, DefaultPayloadSize-ipHeaderLen(lo.addr)-udpHeaderLen; got != want {
					t.Errorf("datagram payload %d bytes, want %d (a %d-byte IP packet)", got, want, DefaultPayloadSize)
				}
			})
			t.Run("refused", func(t *testing.T) {
				r := runProbe(t, Target{Kind: KindUDP, Address: lo.addr, Port: freePort(t, "udp", lo.addr)}, 2*time.Second)
				wantResult(t, r, false, ClassRefused, "connection refused")
			})
			t.Run("timeout: silent server", func(t *testing.T) {
				port, _ := udpServer(t, lo.addr, func([]byte) [][]byte { return nil })
				start := time.Now()
				r := runProbe(t, Target{Kind: KindUDP, Address: lo.addr, Port: port}, 300*time.Millisecond)
				wantResult(t, r, false, ClassTimeout, "no answer within")
				if el := time.Since(start); el > time.Second {
					t.Errorf("probe took %s, ignoring its 300ms deadline", el)
				}
			})
			t.Run("wrong nonce ignored", func(t *testing.T) {
				port, _ := udpServer(t, lo.addr, func(req []byte) [][]byte {
					stale := EchoAnswer([]byte("NDPING 0000000000000000 x"), "node-9", "pod-z")
					return [][]byte{stale, EchoAnswer(req, "node-1", "pod-a")}
				})
				r := runProbe(t, Target{Kind: KindUDP, Address: lo.addr, Port: port, ExpectNode: "node-1"}, 2*time.Second)
				wantResult(t, r, true, ClassNone, "node-1/pod-a")
			})
			t.Run("only wrong nonces: timeout", func(t *testing.T) {
				port, _ := udpServer(t, lo.addr, func(req []byte) [][]byte {
					return [][]byte{EchoAnswer([]byte("NDPING 0000000000000000 x"), "node-1", "pod-a")}
				})
				r := runProbe(t, Target{Kind: KindUDP, Address: lo.addr, Port: port}, 300*time.Millisecond)
				wantResult(t, r, false, ClassTimeout)
			})
			t.Run("wrong identity", func(t *testing.T) {
				port, _ := udpServer(t, lo.addr, agentEcho("node-3", "pod-c"))
				r := runProbe(t, Target{Kind: KindUDP, Address: lo.addr, Port: port, ExpectNode: "node-1", ExpectPod: "pod-a"}, 2*time.Second)
				wantResult(t, r, false, ClassWrongResponder,
					fmt.Sprintf("port %d on %s answered, but not as netctl agent node-1/pod-a: got agent node-3/pod-c", port, lo.addr))
			})
			t.Run("wrong responder: plain echo server", func(t *testing.T) {
				port, _ := udpServer(t, lo.addr, func(req []byte) [][]byte { return [][]byte{append([]byte{}, req...)} })
				r := runProbe(t, Target{Kind: KindUDP, Address: lo.addr, Port: port}, 2*time.Second)
				wantResult(t, r, false, ClassWrongResponder, "answered, but not as a netctl agent: got")
			})
		})
	}
}

func TestConnProbes(t *testing.T) {
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			lo.need(t)
			t.Run("conn success", func(t *testing.T) {
				ln, err := net.Listen("tcp", net.JoinHostPort(lo.addr, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				r := runProbe(t, Target{Kind: KindConn, Address: lo.addr, Port: ln.Addr().(*net.TCPAddr).Port}, time.Second)
				wantResult(t, r, true, ClassNone, "connected to")
			})
			t.Run("conn refused", func(t *testing.T) {
				r := runProbe(t, Target{Kind: KindConn, Address: lo.addr, Port: freePort(t, "tcp", lo.addr)}, time.Second)
				wantResult(t, r, false, ClassRefused, "connection refused")
			})
			t.Run("udp-send to silent listener", func(t *testing.T) {
				port, sizes := udpServer(t, lo.addr, func([]byte) [][]byte { return nil })
				r := runProbe(t, Target{Kind: KindUDPSend, Address: lo.addr, Port: port}, time.Second)
				wantResult(t, r, false, ClassUnconfirmed, "no reply within", "delivery unconfirmed")
				select {
				case <-sizes:
				case <-time.After(time.Second):
					t.Error("the listener never received the datagram")
				}
			})
			t.Run("udp-send answered", func(t *testing.T) {
				port, _ := udpServer(t, lo.addr, func(req []byte) [][]byte { return [][]byte{[]byte("ok")} })
				r := runProbe(t, Target{Kind: KindUDPSend, Address: lo.addr, Port: port}, time.Second)
				wantResult(t, r, true, ClassNone, "it answered")
			})
			t.Run("udp-send refused", func(t *testing.T) {
				r := runProbe(t, Target{Kind: KindUDPSend, Address: lo.addr, Port: freePort(t, "udp", lo.addr)}, time.Second)
				wantResult(t, r, false, ClassRefused, "connection refused")
			})
		})
	}
}
