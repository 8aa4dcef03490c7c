package agent

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ConntrackStats are the kernel's conntrack drop counters summed over CPUs
// (/proc/net/stat/nf_conntrack: a header line, then one line per CPU of
// hex columns). Counters are cumulative since the namespace was made.
type ConntrackStats struct {
	InsertFailed uint64 `json:"insertFailed"`
	Drop         uint64 `json:"drop"`
	EarlyDrop    uint64 `json:"earlyDrop"`
}

// ConntrackDst counts the conntrack entries whose original destination is
// IP (/proc/net/nf_conntrack); Count is -1 and Skipped says why when the
// table cannot be listed.
type ConntrackDst struct {
	IP      string `json:"ip"`
	Count   int    `json:"count"`
	Skipped string `json:"skipped,omitempty"`
}

// readConntrackStats sums the named columns; nil (no error) when the file
// does not exist (no conntrack module).
func readConntrackStats(path string) (*ConntrackStats, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	if !sc.Scan() {
		return nil, fmt.Errorf("%s: no header line", path)
	}
	col := map[string]int{}
	for i, name := range strings.Fields(sc.Text()) {
		col[name] = i
	}
	for _, name := range []string{"insert_failed", "drop", "early_drop"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("%s: no column %s in the header", path, name)
		}
	}
	s := &ConntrackStats{}
	for n := 2; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		get := func(name string) (uint64, error) {
			i := col[name]
			if i >= len(f) {
				return 0, fmt.Errorf("%s line %d: %d fields, no %s", path, n, len(f), name)
			}
			v, err := strconv.ParseUint(f[i], 16, 64)
			if err != nil {
				return 0, fmt.Errorf("%s line %d: %s: %w", path, n, name, err)
			}
			return v, nil
		}
		a, err1 := get("insert_failed")
		b, err2 := get("drop")
		c, err3 := get("early_drop")
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		s.InsertFailed += a
		s.Drop += b
		s.EarlyDrop += c
	}
	return s, sc.Err()
}

// countConntrackDst counts the entries of /proc/net/nf_conntrack whose
// original-direction destination (the first dst=) is ip.
func countConntrackDst(path string, ip netip.Addr) ConntrackDst {
	out := ConntrackDst{IP: ip.String(), Count: -1}
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		out.Skipped = path + " does not exist (kernel without CONFIG_NF_CONNTRACK_PROCFS, or conntrack not loaded): entries cannot be listed without netlink conntrack access"
		return out
	}
	if err != nil {
		out.Skipped = fmt.Sprintf("reading %s: %v", path, err)
		return out
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if v, ok := strings.CutPrefix(f, "dst="); ok {
				if a, err := netip.ParseAddr(v); err == nil && a == ip {
					n++
				}
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		out.Skipped = fmt.Sprintf("reading %s: %v", path, err)
		return out
	}
	out.Count = n
	return out
}
