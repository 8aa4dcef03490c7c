package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// FillConntrackCommand is the hidden subcommand that keeps the conntrack
// table of the namespace it runs in full (conntrack-full fault).
const FillConntrackCommand = controlplane.FillConntrackCommand

// Filler entries: TCP flows 127.128.x.y:sport -> 127.0.0.1:9 that exist
// only in the table (no packet is ever sent). They are ESTABLISHED and
// ASSURED so the kernel can not evict them to make room: neither the
// allocation path's early_drop nor the garbage collector's early drop
// touch assured established TCP entries. The count they add up to is the
// namespace's own (nf_conntrack_count is per netns) while the limit is the
// host-wide nf_conntrack_max: one namespace reaches "table full" alone.
var (
	FillerSrc = net.IPNet{IP: net.IPv4(127, 128, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}
	fillerDst = net.IPv4(127, 0, 0, 1).To4()
)

const (
	fillerDstPort = 9
	fillerPorts   = 64000 // source ports 1024-65023 per source address
	fillerSpace   = 65536 * fillerPorts
	// fillerTimeout bounds how long an entry outlives a filler killed
	// without cleanup (and the fault's span: expired entries are
	// replaced by new ones).
	fillerTimeout = 86400
	ipsSeenReply  = 1 << 1 // IPS_SEEN_REPLY
	ipsAssured    = 1 << 2 // IPS_ASSURED
	// IPS_CONFIRMED: the kernel refuses (EBUSY) a status that would
	// change it, and a created entry is confirmed.
	ipsConfirmed   = 1 << 3
	tcpEstablished = 3 // TCP_CONNTRACK_ESTABLISHED
	// MaxFill is the largest nf_conntrack_max the fault fills (about 350
	// MiB of kernel memory at ~330 bytes an entry); above it the fault is
	// skipped rather than load the machine.
	MaxFill = 1 << 20
)

// fillerFlow is the i-th filler entry's netlink attributes.
func fillerFlow(i int) []nl.NetlinkRequestData {
	src := make(net.IP, 4)
	copy(src, FillerSrc.IP)
	a := i / fillerPorts
	src[2], src[3] = byte(a>>8), byte(a)
	sport := uint16(1024 + i%fillerPorts)
	tuple := func(kind int, s, d net.IP, sp, dp uint16) *nl.RtAttr {
		t := nl.NewRtAttr(unix.NLA_F_NESTED|kind, nil)
		ip := t.AddRtAttr(unix.NLA_F_NESTED|nl.CTA_TUPLE_IP, nil)
		ip.AddRtAttr(nl.CTA_IP_V4_SRC, s)
		ip.AddRtAttr(nl.CTA_IP_V4_DST, d)
		p := t.AddRtAttr(unix.NLA_F_NESTED|nl.CTA_TUPLE_PROTO, nil)
		p.AddRtAttr(nl.CTA_PROTO_NUM, nl.Uint8Attr(unix.IPPROTO_TCP))
		p.AddRtAttr(nl.CTA_PROTO_SRC_PORT, nl.BEUint16Attr(sp))
		p.AddRtAttr(nl.CTA_PROTO_DST_PORT, nl.BEUint16Attr(dp))
		return t
	}
	info := nl.NewRtAttr(unix.NLA_F_NESTED|nl.CTA_PROTOINFO, nil)
	tcp := info.AddRtAttr(unix.NLA_F_NESTED|nl.CTA_PROTOINFO_TCP, nil)
	tcp.AddRtAttr(nl.CTA_PROTOINFO_TCP_STATE, nl.Uint8Attr(tcpEstablished))
	return []nl.NetlinkRequestData{
		&nl.Nfgenmsg{NfgenFamily: unix.AF_INET, Version: nl.NFNETLINK_V0},
		tuple(nl.CTA_TUPLE_ORIG, src, fillerDst, sport, fillerDstPort),
		tuple(nl.CTA_TUPLE_REPLY, fillerDst, src, fillerDstPort, sport),
		nl.NewRtAttr(nl.CTA_STATUS, nl.BEUint32Attr(ipsSeenReply|ipsAssured|ipsConfirmed)),
		nl.NewRtAttr(nl.CTA_TIMEOUT, nl.BEUint32Attr(fillerTimeout)),
		info,
	}
}

// conntrackSocket opens a ctnetlink socket in the current namespace.
func conntrackSocket() (map[int]*nl.SocketHandle, error) {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening a conntrack netlink socket: %w", err)
	}
	return map[int]*nl.SocketHandle{unix.NETLINK_NETFILTER: {Socket: s}}, nil
}

// insertFiller creates filler entry i. The kernel answers ENOMEM when
// the namespace's count is at the host-wide nf_conntrack_max and nothing
// could be evicted, EEXIST when the entry exists.
func insertFiller(socks map[int]*nl.SocketHandle, i int) error {
	req := nl.NewNetlinkRequest(int(netlink.ConntrackTable)<<8|nl.IPCTNL_MSG_CT_NEW, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	req.Sockets = socks
	for _, d := range fillerFlow(i) {
		req.AddData(d)
	}
	_, err := req.Execute(unix.NETLINK_NETFILTER, 0)
	return err
}

// FillConntrack fills the current namespace's conntrack table up to the
// host-wide limit, reports it on out, then every interval adds entries
// where others expired, until ctx ends. It stops at exactly the limit
// (the kernel refuses an entry only above it), so the "table full" lines
// in the kernel log are those of real packets the kernel dropped. The
// entries stay after it returns: the fault's remove deletes them.
func FillConntrack(ctx context.Context, out io.Writer, interval time.Duration) error {
	max, err := readProcInt(ctMaxPath)
	if err != nil {
		return err
	}
	if max <= 0 || max > MaxFill {
		return fmt.Errorf("nf_conntrack_max is %d: filling is done only for 1-%d", max, MaxFill)
	}
	socks, err := conntrackSocket()
	if err != nil {
		return err
	}
	defer socks[unix.NETLINK_NETFILTER].Close()
	start, next := time.Now(), 0
	for round := 0; ; round++ {
		count, err := readProcInt(ctCountPath)
		if err != nil {
			return err
		}
		for ; count < max; next = (next + 1) % fillerSpace {
			err := insertFiller(socks, next)
			switch {
			case err == nil:
				count++
			case errors.Is(err, syscall.EEXIST):
			case errors.Is(err, syscall.ENOMEM):
				count = max // others took the room meanwhile
			default:
				return fmt.Errorf("creating conntrack entry %d: %w", next, err)
			}
		}
		if round == 0 {
			fmt.Fprintf(out, "conntrack table full: %d of %d entries after %s\n", count, max, time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

const (
	ctMaxPath   = "/proc/sys/net/netfilter/nf_conntrack_max"
	ctCountPath = "/proc/sys/net/netfilter/nf_conntrack_count"
)

// readProcInt reads an integer file of /proc (the namespace's own view).
func readProcInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
