package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// KernelLogWindow is how far back the kernel log is read: messages older
// than this (by the kernel's own timestamp) are not reported.
const KernelLogWindow = 15 * time.Minute

// KernelLog is what the node's kernel log says about network trouble in
// the last KernelLogWindow. The kernel log belongs to the kernel, not to a
// network namespace: nodes that share one kernel (same BootID: the
// sandbox's namespaces, or containers on one host) see the same lines.
type KernelLog struct {
	// Source is /dev/kmsg or syslog(2) (SYSLOG_ACTION_READ_ALL).
	Source string `json:"source,omitempty"`
	// Skipped says why the log could not be read (the rule is then
	// inconclusive): /dev/kmsg is absent from unprivileged containers, and
	// with kernel.dmesg_restrict=1 both sources need CAP_SYSLOG.
	Skipped string `json:"skipped,omitempty"`
	// BootID is /proc/sys/kernel/random/boot_id: which kernel this is.
	BootID string `json:"bootID,omitempty"`
	// Netns is the inode of the agent's network namespace (the node's):
	// kernels since 6.x name the namespace in conntrack lines ("table full
	// in netns N"), which tells exactly whose line it is on a shared kernel.
	Netns         uint64          `json:"netns,omitempty"`
	WindowSeconds int             `json:"windowSeconds"`
	Messages      []KernelMessage `json:"messages,omitempty"`
}

// KernelMessage is one kind of network trouble the log names, with the
// last matching line, how many lines matched and how long ago the last
// was logged.
type KernelMessage struct {
	// Kind: conntrack-table-full, neighbour-table-overflow, martian-packet,
	// link-flap, syn-flood.
	Kind       string  `json:"kind"`
	Line       string  `json:"line"`
	Count      int     `json:"count"`
	AgeSeconds float64 `json:"ageSeconds"`
	// Netns is the network namespace inode the line names (0: none);
	// lines of one kind from different namespaces are separate messages.
	Netns uint64 `json:"netns,omitempty"`
}

// kernelPatterns name the lines an engineer greps dmesg for.
var kernelPatterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	// 6.x: "nf_conntrack: nf_conntrack: table full in netns 4026532897, dropping packet".
	{"conntrack-table-full", regexp.MustCompile(`nf_conntrack: (nf_conntrack: )?table full( in netns \d+)?, dropping packet`)},
	{"neighbour-table-overflow", regexp.MustCompile(`neighbo(u)?r table overflow`)},
	{"martian-packet", regexp.MustCompile(`martian (source|destination)`)},
	{"link-flap", regexp.MustCompile(`(NIC )?[Ll]ink is [Dd]own|entered disabled state`)},
	{"syn-flood", regexp.MustCompile(`Possible SYN flooding`)},
}

// kmsgRecord is one kernel log line with its timestamp since boot.
type kmsgRecord struct {
	since time.Duration
	text  string
}

// ReadKernelLog reads the kernel log (procRoot for boot_id and
// dmesg_restrict) and keeps the network-trouble lines of the last window.
func ReadKernelLog(procRoot string) *KernelLog {
	out := &KernelLog{WindowSeconds: int(KernelLogWindow / time.Second)}
	if b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/random/boot_id")); err == nil {
		out.BootID = strings.TrimSpace(string(b))
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		out.Skipped = fmt.Sprintf("reading the monotonic clock: %v", err)
		return out
	}
	now := time.Duration(ts.Nano())
	recs, kmsgErr := readKmsg("/dev/kmsg")
	out.Source = "/dev/kmsg"
	if kmsgErr != nil {
		var err error
		recs, err = readSyslog()
		out.Source = "syslog(2)"
		if err != nil {
			restrict := readInt(filepath.Join(procRoot, "sys/kernel/dmesg_restrict"))
			out.Source = ""
			out.Skipped = fmt.Sprintf("the kernel log could not be read: /dev/kmsg: %v; syslog(2): %v (kernel.dmesg_restrict=%d: %s)",
				kmsgErr, err, restrict, restrictHint(restrict))
			return out
		}
	}
	out.Messages = matchKernelLines(recs, now, KernelLogWindow)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(procRoot, "self/ns/net"), &st); err == nil {
		out.Netns = st.Ino
	}
	return out
}

// netnsInLine is the namespace a kernel line names.
var netnsInLine = regexp.MustCompile(` in netns (\d+)`)

func restrictHint(v int) string {
	if v == 1 {
		return "reading needs CAP_SYSLOG; /dev/kmsg must also be present in the agent's container (privileged, or the device mounted)"
	}
	return "/dev/kmsg must be present in the agent's container (privileged, or the device mounted), or syslog(2) allowed by its seccomp profile"
}

// matchKernelLines groups the lines of the last window by kind and the
// network namespace they name.
func matchKernelLines(recs []kmsgRecord, now, window time.Duration) []KernelMessage {
	type key struct {
		kind  string
		netns uint64
	}
	byKind := map[key]*KernelMessage{}
	for _, r := range recs {
		if r.since > now || now-r.since > window {
			continue
		}
		for _, p := range kernelPatterns {
			if p.re.MatchString(r.text) {
				k := key{kind: p.kind}
				if sm := netnsInLine.FindStringSubmatch(r.text); sm != nil {
					k.netns, _ = strconv.ParseUint(sm[1], 10, 64)
				}
				m := byKind[k]
				if m == nil {
					m = &KernelMessage{Kind: p.kind, Netns: k.netns}
					byKind[k] = m
				}
				m.Count++
				m.Line = r.text
				m.AgeSeconds = (now - r.since).Seconds()
				break
			}
		}
	}
	out := make([]KernelMessage, 0, len(byKind))
	for _, m := range byKind {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Netns < out[j].Netns
	})
	return out
}

// readKmsg reads every record /dev/kmsg holds now, without waiting for new
// ones. A record is "PRIO,SEQ,USEC,FLAGS[,...];TEXT" then " KEY=VALUE"
// continuation lines (Documentation/ABI/testing/dev-kmsg).
func readKmsg(path string) ([]kmsgRecord, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []kmsgRecord
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return out, nil
		case errors.Is(err, syscall.EPIPE):
			continue // overwritten while reading: the next read resumes
		case err != nil:
			return out, err
		case n == 0:
			return out, nil
		}
		if r, ok := parseKmsg(string(buf[:n])); ok {
			out = append(out, r)
		}
	}
}

func parseKmsg(rec string) (kmsgRecord, bool) {
	head, text, ok := strings.Cut(rec, ";")
	if !ok {
		return kmsgRecord{}, false
	}
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return kmsgRecord{}, false
	}
	usec, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return kmsgRecord{}, false
	}
	text, _, _ = strings.Cut(text, "\n")
	return kmsgRecord{since: time.Duration(usec) * time.Microsecond, text: text}, true
}

// readSyslog reads the kernel ring buffer through syslog(2)
// SYSLOG_ACTION_READ_ALL (non-destructive, as `dmesg -S`): lines
// "<PRIO>[SECONDS.MICROS] TEXT" (timestamps need CONFIG_PRINTK_TIME).
func readSyslog() ([]kmsgRecord, error) {
	size, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return nil, err
	}
	return parseSyslog(strings.NewReader(string(buf[:n]))), nil
}

var syslogLine = regexp.MustCompile(`^<\d+>\[\s*(\d+)\.(\d+)\]\s?(.*)$`)

func parseSyslog(r io.Reader) []kmsgRecord {
	var out []kmsgRecord
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := syslogLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		frac, _ := strconv.ParseFloat("0."+m[2], 64)
		out = append(out, kmsgRecord{since: time.Duration(sec)*time.Second + time.Duration(frac*float64(time.Second)), text: m[3]})
	}
	return out
}
