package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Status values in resume.json, as the earlier tool's numeric Status.
const (
	StatusSucceeded = 0
	StatusFailed    = 1
	StatusException = 2
)

// ResumeEntry is one element of resume.json: the earlier tool's fields
// (Status, ResultStr, srcNodeName, dstNodeName, targetIP) plus the rest of
// Pair so that `netctl resume` re-plans exactly the same check.
type ResumeEntry struct {
	Status    int    `json:"Status"`
	ResultStr string `json:"ResultStr"`
	Pair
}

// ResumeEntries returns the pairs of r that did not succeed, sorted like the
// tables. It is empty (not nil) when every pair succeeded, so the file
// reads `[]`.
func ResumeEntries(r *Report) []ResumeEntry {
	out := []ResumeEntry{}
	for _, row := range SortRows(r.Rows) {
		status := StatusFailed
		switch row.Result {
		case Succeeded:
			continue
		case Exception:
			status = StatusException
		}
		out = append(out, ResumeEntry{Status: status, ResultStr: row.Log, Pair: row.Pair})
	}
	return out
}

// WriteResume writes entries to path atomically (a crash never leaves half
// a file that the next `netctl resume` would reject).
func WriteResume(path string, entries []ResumeEntry) error {
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".resume-*.json")
	if err != nil {
		return fmt.Errorf("writing resume file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing resume file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing resume file: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing resume file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing resume file: %w", err)
	}
	return nil
}

// ReadResume reads the pairs of a resume file. Entries written by the
// earlier tool carry only node names and the target IP; their Family is
// derived from the IP and Mode/Protocol are left empty for the caller to
// fill from the config. A missing file is an error matching os.ErrNotExist.
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
		p := e.Pair
		ip, err := netip.ParseAddr(p.TargetIP)
		switch {
		case p.SrcNode == "" || p.DstNode == "":
			errs = append(errs, fmt.Errorf("entry %d: srcNodeName and dstNodeName are required", i))
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("entry %d: targetIP %q is not an IP address", i, p.TargetIP))
			continue
		}
		if p.Family == "" {
			p.Family = probe.IPv4
			if ip.Unmap().Is6() {
				p.Family = probe.IPv6
			}
		}
		pairs = append(pairs, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("resume file %q: %w", path, err)
	}
	return pairs, nil
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
