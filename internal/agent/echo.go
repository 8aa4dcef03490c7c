package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// echoConn answers from the address a ping was sent to. On a multi-homed
// node (hostNetwork agents) the routing table could pick another source
// address, and the prober's connected UDP socket would drop that answer.
type echoConn interface {
	net.PacketConn
	readPing(b []byte) (n int, dst net.IP, src net.Addr, err error)
	writePong(b []byte, src net.IP, dst net.Addr) error
}

type echo4 struct {
	net.PacketConn
	p *ipv4.PacketConn
}

func (c echo4) readPing(b []byte) (int, net.IP, net.Addr, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	var dst net.IP
	if cm != nil {
		dst = cm.Dst
	}
	return n, dst, src, err
}

func (c echo4) writePong(b []byte, src net.IP, dst net.Addr) error {
	_, err := c.p.WriteTo(b, &ipv4.ControlMessage{Src: src}, dst)
	return err
}

type echo6 struct {
	net.PacketConn
	p *ipv6.PacketConn
}

func (c echo6) readPing(b []byte) (int, net.IP, net.Addr, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	var dst net.IP
	if cm != nil {
		dst = cm.Dst
	}
	return n, dst, src, err
}

func (c echo6) writePong(b []byte, src net.IP, dst net.Addr) error {
	cm := &ipv6.ControlMessage{Src: src}
	if ua, ok := dst.(*net.UDPAddr); ok && ua.IP.IsLinkLocalUnicast() {
		cm.Src = nil // link-local answers need the zone, which the kernel knows
	}
	_, err := c.p.WriteTo(b, cm, dst)
	return err
}

// listenUDP opens the echo on port for IPv4 and, when the kernel has it,
// IPv6 (a separate IPv6-only socket, so each family gets its own pktinfo).
func listenUDP(port int, log *slog.Logger) ([]net.PacketConn, error) {
	p := strconv.Itoa(port)
	pc4, err := net.ListenPacket("udp4", "0.0.0.0:"+p)
	if err != nil {
		return nil, fmt.Errorf("listening on udp port %d: %w", port, err)
	}
	c4 := ipv4.NewPacketConn(pc4)
	if err := c4.SetControlMessage(ipv4.FlagDst, true); err != nil {
		pc4.Close()
		return nil, fmt.Errorf("udp port %d: asking for destination addresses: %w", port, err)
	}
	conns := []net.PacketConn{echo4{pc4, c4}}
	pc6, err := net.ListenPacket("udp6", "[::]:"+p)
	if err != nil {
		log.Warn("no IPv6 UDP echo (IPv4 only)", "port", port, "error", err.Error())
		return conns, nil
	}
	c6 := ipv6.NewPacketConn(pc6)
	if err := c6.SetControlMessage(ipv6.FlagDst, true); err != nil {
		pc4.Close()
		pc6.Close()
		return nil, fmt.Errorf("udp6 port %d: asking for destination addresses: %w", port, err)
	}
	return append(conns, echo6{pc6, c6}), nil
}

// serveEcho answers udp probe pings until the socket is closed.
func (s *Server) serveEcho(pc net.PacketConn) {
	c := pc.(echoConn)
	buf := make([]byte, 65536)
	for {
		n, dst, src, err := c.readPing(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("udp echo read", "error", err.Error())
			continue
		}
		ans := probe.EchoAnswer(buf[:n], s.opts.Identity.Node, s.opts.Identity.Pod)
		if ans == nil {
			continue // not a ping: stay silent like any closed service would
		}
		if err := c.writePong(ans, dst, src); err != nil {
			s.log.Debug("udp echo write", "to", src.String(), "error", err.Error())
		}
	}
}
