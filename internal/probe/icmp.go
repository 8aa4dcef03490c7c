package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// icmpHeaderLen is the echo header between the IP header and the data.
const icmpHeaderLen = 8

// Protocol numbers for icmp.ParseMessage.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// icmpSocket is an open ICMP endpoint. Datagram ("unprivileged ping")
// sockets take a *net.UDPAddr and the kernel owns the echo id; raw sockets
// take a *net.IPAddr and see every ICMP packet of the host.
type icmpSocket struct {
	conn     net.PacketConn
	datagram bool
}

func (s icmpSocket) kind() string {
	if s.datagram {
		return "unprivileged ICMP socket"
	}
	return "raw socket"
}

func (s icmpSocket) addr(ip net.IP) net.Addr {
	if s.datagram {
		return &net.UDPAddr{IP: ip}
	}
	return &net.IPAddr{IP: ip}
}

// icmpProber sends one full-size ICMP echo request with Don't-Fragment set
// and waits for the matching reply. It prefers unprivileged datagram ICMP
// sockets (allowed by net.ipv4.ping_group_range) and falls back to raw
// sockets (CAP_NET_RAW); with neither, the probe is skipped, never passed.
type icmpProber struct{}

func (icmpProber) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	ip, bad := validAddress(t)
	if bad != nil {
		return *bad
	}
	v6 := ip.To4() == nil
	sock, err := openICMP(v6)
	if err != nil {
		return Result{Class: ClassSkipped, Reason: err.Error()}
	}
	defer sock.conn.Close()
	stop := context.AfterFunc(ctx, func() { sock.conn.SetDeadline(time.Now()) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		sock.conn.SetDeadline(d)
	}

	id, seq := int(rand.Uint32()&0xffff), int(rand.Uint32()&0xffff)
	nonce := make([]byte, 8)
	binary.BigEndian.PutUint64(nonce, rand.Uint64())
	data := append([]byte{}, nonce...)
	if n := payloadSize(t) - ipHeaderLen(t.Address) - icmpHeaderLen; n > len(data) {
		data = append(data, bytes.Repeat([]byte("netdoctor"), n/9+1)[:n-len(data)]...)
	}
	var typ icmp.Type = ipv4.ICMPTypeEcho
	proto := protoICMP
	if v6 {
		typ, proto = ipv6.ICMPTypeEchoRequest, protoICMPv6
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}
	wire, err := msg.Marshal(nil) // ICMPv6 checksum is filled by the kernel
	if err != nil {
		return Result{Class: ClassAgentError, Reason: fmt.Sprintf("building ICMP echo: %v", err)}
	}
	size := len(wire) + ipHeaderLen(t.Address)
	doing := fmt.Sprintf("ping %s (%d bytes, don't fragment)", t.Address, size)
	// ENOBUFS means a local queue or device dropped the packet (a veth
	// whose peer has a smaller MTU does that). Raw and UDP sockets hide it
	// from senders; datagram ICMP sockets report it. Treat it like any
	// other loss: wait, and time out if no reply comes.
	if _, err := sock.conn.WriteTo(wire, sock.addr(ip)); err != nil && !errors.Is(err, syscall.ENOBUFS) {
		return failed(ctx, err, start, doing)
	}

	buf := make([]byte, 65536)
	for {
		n, from, err := sock.conn.ReadFrom(buf)
		if err != nil {
			return failed(ctx, err, start, doing)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		switch body := m.Body.(type) {
		case *icmp.Echo:
			if m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply {
				continue // a raw socket also sees requests, ours included on loopback
			}
			// Datagram sockets rewrite the id; the sequence and our nonce still match.
			if body.Seq != seq || (!sock.datagram && body.ID != id) || !bytes.HasPrefix(body.Data, nonce) {
				continue
			}
			total := time.Since(start)
			return Result{
				OK:      true,
				Reason:  fmt.Sprintf("echo reply from %s in %s (%d bytes, %s)", t.Address, roundDuration(total), size, sock.kind()),
				Timings: Timings{Total: total},
			}
		case *icmp.DstUnreach:
			if !quotesOurEcho(body.Data, v6, id, seq, sock.datagram) {
				continue
			}
			return icmpError(m, from, doing, start, 0)
		case *icmp.PacketTooBig:
			if !quotesOurEcho(body.Data, v6, id, seq, sock.datagram) {
				continue
			}
			return icmpError(m, from, doing, start, body.MTU)
		case *icmp.TimeExceeded:
			if !quotesOurEcho(body.Data, v6, id, seq, sock.datagram) {
				continue
			}
			return icmpError(m, from, doing, start, 0)
		}
	}
}

// quotesOurEcho reports whether an ICMP error quotes our echo request: the
// error carries the original IP header plus the first 8 bytes of our ICMP
// header (type, code, checksum, id, seq).
func quotesOurEcho(quoted []byte, v6 bool, id, seq int, datagram bool) bool {
	hdr := 40
	if !v6 {
		if len(quoted) < 1 {
			return false
		}
		hdr = int(quoted[0]&0x0f) * 4
	}
	if len(quoted) < hdr+8 {
		return false
	}
	echo := quoted[hdr:]
	return int(binary.BigEndian.Uint16(echo[6:8])) == seq &&
		(datagram || int(binary.BigEndian.Uint16(echo[4:6])) == id)
}

// icmpError turns an ICMP error about our echo into a result.
func icmpError(m *icmp.Message, from net.Addr, doing string, start time.Time, mtu int) Result {
	r := Result{Class: ClassUnreachable, Timings: Timings{Total: time.Since(start)}}
	sender := addrIP(from)
	switch {
	case m.Type == ipv4.ICMPTypeDestinationUnreachable && m.Code == 4:
		// "fragmentation needed and DF set": the v4 form of packet-too-big.
		r.Class = ClassMessageTooLong
		r.Reason = fmt.Sprintf("%s: %s says the packet is larger than the path MTU", doing, sender)
	case m.Type == ipv6.ICMPTypePacketTooBig:
		r.Class = ClassMessageTooLong
		r.Reason = fmt.Sprintf("%s: %s says the path MTU is %d", doing, sender, mtu)
	case m.Type == ipv4.ICMPTypeTimeExceeded || m.Type == ipv6.ICMPTypeTimeExceeded:
		r.Reason = fmt.Sprintf("%s: time to live exceeded at %s (routing loop?)", doing, sender)
	default:
		r.Reason = fmt.Sprintf("%s: destination unreachable (ICMP code %d from %s)", doing, m.Code, sender)
	}
	return r
}

func addrIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.IPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	case nil:
		return "?"
	}
	return a.String()
}
