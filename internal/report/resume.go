package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Status values in resume.json: NetDoctor's result enum, whose numbers
// scripts read (0 EXCEPTION, 1 SUCCEEDED, 2 FAILED).
const (
	StatusException = 0
	StatusSucceeded = 1
	StatusFailed    = 2
)

// StatusResult maps a resume.json Status number to its result; ok is false
// for a number NetDoctor never wrote.
func StatusResult(status int) (r Result, ok bool) {
	switch status {
	case StatusException:
		return Exception, true
	case StatusSucceeded:
		return Succeeded, true
	case StatusFailed:
		return Failed, true
	}
	return "", false
}

// ResumeEntry is one element of resume.json: the earlier tool's fields
// (Status, ResultStr, srcNodeName, dstNodeName, targetIP) plus the rest of
// Pair so that `netctl resume` re-plans exactly the same check.
type ResumeEntry struct {
	Status    int    `json:"Status"`
	ResultStr string `json:"ResultStr"`
	Pair
}

// ResumeEntries yields the pairs of r that did not succeed, sorted like the
// tables (r.Rows is sorted in place), one at a time as WriteResume takes
// them.
func ResumeEntries(r *Report) iter.Seq[ResumeEntry] {
	Sort(r.Rows)
	return func(yield func(ResumeEntry) bool) {
		for _, row := range r.Rows {
			status := StatusFailed
			switch row.Result {
			case Succeeded:
				continue
			case Exception:
				status = StatusException
			}
			if !yield(ResumeEntry{Status: status, ResultStr: row.Log, Pair: row.Pair}) {
				return
			}
		}
	}
}

// WriteResume streams entries to path atomically (a crash never leaves
// half a file that the next `netctl resume` would reject) and returns how
// many it wrote. No entries make the file `[]`.
func WriteResume(path string, entries iter.Seq[ResumeEntry]) (int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".resume-*.json")
	if err != nil {
		return 0, fmt.Errorf("writing resume file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	bw := newBuffered(tmp)
	n, err := writeArray(bw, "", entries)
	if err == nil {
		bw.WriteString("\n")
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("writing resume file: %w", err)
	}
	return n, nil
}

// ReadResume reads the pairs of a resume file that did not succeed
// (entries with Status 1, SUCCEEDED, need no re-check and are left out).
// Entries written by NetDoctor carry only node names and targetIP; their
// Family is derived from the IP and Mode/Protocol are left empty for the
// caller to fill from the config. NetDoctor's rows whose targetIP is not an
// IP are read too: a dns row ("host: H; dns: S", or "dns:H") re-checks the
// source's DNS queries (to S, or the cluster DNS for "coredns"), and a
// customized-target row ("IPs: a,b; Ports: p,q") every listed IP x port from
// the source. A missing file is an error matching os.ErrNotExist.
func ReadResume(path string) ([]Pair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var entries []ResumeEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("resume file %q is not a JSON array of pairs: %w", path, err)
	}
	var errs []error
	pairs := make([]Pair, 0, len(entries))
	for i, e := range entries {
		res, ok := StatusResult(e.Status)
		if !ok {
			errs = append(errs, fmt.Errorf("entry %d: Status %d is not 0 (EXCEPTION), 1 (SUCCEEDED) or 2 (FAILED)", i, e.Status))
			continue
		}
		if res == Succeeded {
			continue
		}
		ps, err := entryPairs(e.Pair)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d: %w", i, err))
			continue
		}
		pairs = append(pairs, ps...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("resume file %q: %w", path, err)
	}
	return pairs, nil
}

// DST NODE NAMEs of pairs that do not end at a node: the discovered
// cluster DNS and customizedTargetIPList targets.
const (
	DNSTargetName        = "cluster-dns"
	CustomizedTargetName = "customized"
)

// entryPairs turns one resume entry into the pairs it stands for.
func entryPairs(p Pair) ([]Pair, error) {
	if p.SrcNode == "" || p.DstNode == "" {
		return nil, errors.New("srcNodeName and dstNodeName are required")
	}
	if _, err := netip.ParseAddr(p.TargetIP); err == nil {
		if p.Family == "" {
			p.Family = probe.FamilyOf(p.TargetIP)
		}
		return []Pair{p}, nil
	}
	t := p.TargetIP
	switch {
	case strings.HasPrefix(t, "host: ") || strings.HasPrefix(t, "dns:"):
		server := "coredns"
		if h, s, ok := strings.Cut(t, "; dns: "); ok && strings.HasPrefix(h, "host: ") {
			server = strings.TrimSpace(s)
		}
		q := Pair{Mode: p.Mode, Protocol: probe.KindDNS, SrcNode: p.SrcNode, DstNode: DNSTargetName}
		if server != "coredns" {
			if _, err := netip.ParseAddr(server); err != nil {
				return nil, fmt.Errorf("targetIP %q: dns server %q is not an IP address or \"coredns\"", t, server)
			}
			q.DstNode, q.TargetIP = server, server
		}
		return []Pair{q}, nil
	case strings.HasPrefix(t, "IPs: "):
		ips, ports, ok := strings.Cut(strings.TrimPrefix(t, "IPs: "), "; Ports: ")
		if !ok {
			return nil, fmt.Errorf("targetIP %q: want \"IPs: a,b; Ports: p,q\"", t)
		}
		var out []Pair
		for _, ip := range strings.Split(ips, ",") {
			ip = strings.TrimSpace(ip)
			if _, err := netip.ParseAddr(ip); err != nil {
				return nil, fmt.Errorf("targetIP %q: %q is not an IP address", t, ip)
			}
			for _, ps := range strings.Split(ports, ",") {
				port, err := strconv.Atoi(strings.TrimSpace(ps))
				if err != nil || port < 1 || port > 65535 {
					return nil, fmt.Errorf("targetIP %q: %q is not a port", t, ps)
				}
				out = append(out, Pair{Mode: p.Mode, Protocol: p.Protocol, Family: probe.FamilyOf(ip),
					SrcNode: p.SrcNode, DstNode: CustomizedTargetName, TargetIP: ip, Port: port})
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("targetIP %q is not an IP address, a NetDoctor dns target (\"host: H; dns: S\") or customized targets (\"IPs: a,b; Ports: p,q\")", t)
}

// Unchecked returns the pairs of planned that r has no row for: what an
// interrupted `netctl resume` must keep in resume.json.
func Unchecked(planned []Pair, r *Report) []Pair {
	done := map[string]bool{}
	for _, row := range r.Rows {
		done[pairKey(row.Pair)] = true
	}
	var out []Pair
	for _, p := range planned {
		if !done[pairKey(p)] {
			out = append(out, p)
		}
	}
	return out
}

// pairKey identifies a check independently of the pods that ran it (agent
// pods may be recreated between check and resume).
func pairKey(p Pair) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%d",
		p.Mode, p.Protocol, p.Family, p.SrcCluster, p.SrcNode, p.DstCluster, p.DstNode, p.TargetIP, p.Port)
}
