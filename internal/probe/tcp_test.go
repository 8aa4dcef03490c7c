package probe

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the bytes the server reads, so a test can check
// the size of the probe's request on the wire.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.read}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// identityServer is a stand-in agent answering /identity as node/pod.
func identityServer(t *testing.T, addr, node, pod string) (*countingListener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != IdentityPath {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"node": node, "pod": pod, "namespace": "ns"})
	})}
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })
	return cl, ln.Addr().(*net.TCPAddr).Port
}

func TestTCPProbe(t *testing.T) {
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			lo.need(t)
			ln, port := identityServer(t, lo.addr, "node-1", "pod-a")

			t.Run("success with identity and full-size request", func(t *testing.T) {
				ln.read.Store(0)
				r := runProbe(t, Target{Kind: KindTCP, Address: lo.addr, Port: port, ExpectNode: "node-1", ExpectPod: "pod-a"}, 2*time.Second)
				wantResult(t, r, true, ClassNone, "agent node-1/pod-a answered")
				if r.Responder != "node-1/pod-a" {
					t.Errorf("responder = %q", r.Responder)
				}
				if r.Timings.Connect <= 0 || r.Timings.FirstByte <= 0 {
					t.Errorf("phase timings missing: %+v", r.Timings)
				}
				want := DefaultPayloadSize - ipHeaderLen(lo.addr) - tcpHeaderLen
				if got := int(ln.read.Load()); got < want-16 || got > want+16 {
					t.Errorf("request was %d bytes on the wire, want about %d (a full-size packet)", got, want)
				}
			})
			t.Run("custom payload size", func(t *testing.T) {
				ln.read.Store(0)
				r := runProbe(t, Target{Kind: KindTCP, Address: lo.addr, Port: port, PayloadSize: 1000}, 2*time.Second)
				wantResult(t, r, true, ClassNone)
				want := 1000 - ipHeaderLen(lo.addr) - tcpHeaderLen
				if got := int(ln.read.Load()); got < want-16 || got > want+16 {
					t.Errorf("request was %d bytes, want about %d", got, want)
				}
			})
			t.Run("wrong identity", func(t *testing.T) {
				r := runProbe(t, Target{Kind: KindTCP, Address: lo.addr, Port: port, ExpectNode: "node-2", ExpectPod: "pod-x"}, 2*time.Second)
				wantResult(t, r, false, ClassWrongResponder,
					fmt.Sprintf("port %d on %s answered, but not as netctl agent node-2/pod-x: got agent node-1/pod-a", port, lo.addr))
				if r.Responder != "node-1/pod-a" {
					t.Errorf("responder = %q", r.Responder)
				}
			})
			t.Run("refused", func(t *testing.T) {
				p := freePort(t, "tcp", lo.addr)
				r := runProbe(t, Target{Kind: KindTCP, Address: lo.addr, Port: p}, 2*time.Second)
				wantResult(t, r, false, ClassRefused, "connection refused")
			})
			t.Run("timeout: accepts but never answers", func(t *testing.T) {
				silent, err := net.Listen("tcp", net.JoinHostPort(lo.addr, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer silent.Close()
				go func() {
					for {
						c, err := silent.Accept()
						if err != nil {
							return
						}
						defer c.Close()
					}
				}()
				start := time.Now()
				r := runProbe(t, Target{Kind: KindTCP, Address: lo.addr, Port: silent.Addr().(*net.TCPAddr).Port}, 300*time.Millisecond)
				wantResult(t, r, false, ClassTimeout, "connected to", "but got no HTTP answer within")
				if el := time.Since(start); el > time.Second {
					t.Errorf("probe took %s, ignoring its 300ms deadline", el)
				}
			})
			for name, h := range map[string]http.HandlerFunc{
				"wrong responder: plain text": func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from nginx") },
				"wrong responder: 404":        http.NotFound,
				"wrong responder: other JSON": func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) },
			} {
				t.Run(name, func(t *testing.T) {
					ln, err := net.Listen("tcp", net.JoinHostPort(lo.addr, "0"))
					if err != nil {
						t.Fatal(err)
					}
					srv := httptest.NewUnstartedServer(h)
					srv.Listener.Close()
					srv.Listener = ln
					srv.Start()
					defer srv.Close()
					p := ln.Addr().(*net.TCPAddr).Port
					r := runProbe(t, Target{Kind: KindTCP, Address: lo.addr, Port: p, ExpectNode: "node-1"}, 2*time.Second)
					wantResult(t, r, false, ClassWrongResponder, "answered, but not as netctl agent on node-1: got")
				})
			}
		})
	}
}

func TestTCPProbeIgnoresProxyEnvironment(t *testing.T) {
	// A proxy that would answer as the right agent: the probe must not use it.
	proxy, proxyPort := identityServer(t, "127.0.0.1", "node-1", "pod-a")
	_ = proxy
	t.Setenv("HTTP_PROXY", fmt.Sprintf("http://127.0.0.1:%d", proxyPort))
	t.Setenv("http_proxy", fmt.Sprintf("http://127.0.0.1:%d", proxyPort))
	p := freePort(t, "tcp", "127.0.0.1")
	r := runProbe(t, Target{Kind: KindTCP, Address: "127.0.0.1", Port: p}, 2*time.Second)
	wantResult(t, r, false, ClassRefused)
	if strings.Contains(r.Reason, fmt.Sprint(proxyPort)) {
		t.Errorf("reason mentions the proxy: %q", r.Reason)
	}
}
