package plan

import (
	"fmt"
	"io"
	"sort"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// ResumeSpec plans with the mode and protocol the resumed pairs were
// checked with, when they all agree, so `netctl resume` re-checks what
// failed even if config.json changed since.
func ResumeSpec(spec Spec, pairs []report.Pair, log io.Writer) Spec {
	mode, proto := "", probe.Kind("")
	for _, p := range pairs {
		if p.Mode != "" {
			if mode != "" && mode != p.Mode {
				return spec // mixed: keep the config's
			}
			mode = p.Mode
		}
		if p.Protocol != "" {
			if proto != "" && proto != p.Protocol {
				return spec
			}
			proto = p.Protocol
		}
	}
	if mode != "" && mode != spec.Mode {
		fmt.Fprintf(log, "resume: pairs were checked in mode %s (config says %s); using %s\n", mode, spec.Mode, mode)
		spec.Mode = mode
	}
	if proto != "" && proto != spec.Protocol {
		fmt.Fprintf(log, "resume: pairs were checked with protocol %s (config says %s); using %s\n", proto, spec.Protocol, proto)
		spec.Protocol = proto
	}
	return spec
}

// SelectResume keeps the planned checks that match a resumed pair. A pair
// matches on mode, protocol, family, clusters, source node, target IP and
// port (empty fields, as in the earlier tool's resume.json, match
// anything). When the target IP is gone (the target pod was replaced), the
// pair is re-resolved by destination node name and family, and the log says
// so. A pair that matches nothing becomes an EXCEPTION row saying why, so
// no resumed pair silently disappears.
func SelectResume(checks []Check, pairs []report.Pair, spec Spec, log io.Writer) []Check {
	type key struct{ src, dst string }
	byIP := map[key][]int{}
	byNode := map[key][]int{}
	for i, c := range checks {
		byIP[key{c.Pair.SrcNode, c.Pair.TargetIP}] = append(byIP[key{c.Pair.SrcNode, c.Pair.TargetIP}], i)
		byNode[key{c.Pair.SrcNode, c.Pair.DstNode}] = append(byNode[key{c.Pair.SrcNode, c.Pair.DstNode}], i)
	}
	chosen := map[int]bool{}
	var missing []Check
	for _, p := range pairs {
		found := false
		for _, i := range byIP[key{p.SrcNode, p.TargetIP}] {
			if matches(p, checks[i].Pair, true) {
				chosen[i], found = true, true
			}
		}
		if !found && p.DstNode != "" {
			for _, i := range byNode[key{p.SrcNode, p.DstNode}] {
				if matches(p, checks[i].Pair, false) {
					chosen[i], found = true, true
					if p.TargetIP == "" {
						continue // a NetDoctor dns row: every query from the source
					}
					fmt.Fprintf(log, "resume: %s -> %s: target %s is gone, checking %s (the agent there was replaced)\n",
						p.SrcNode, p.DstNode, p.TargetIP, checks[i].Pair.TargetIP)
				}
			}
		}
		if !found {
			c := Check{Pair: p, SkipClass: probe.ClassAgentError,
				Skip: fmt.Sprintf("cannot re-check: no pair from %s to %s (%s) in the cluster now (node or agent gone, or mode/protocol/ipFamily changed)", p.SrcNode, p.DstNode, p.TargetIP)}
			if c.Pair.Mode == "" {
				c.Pair.Mode = spec.Mode
			}
			if c.Pair.Protocol == "" {
				c.Pair.Protocol = spec.Protocol
			}
			missing = append(missing, c)
		}
	}
	idx := make([]int, 0, len(chosen))
	for i := range chosen {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]Check, 0, len(idx)+len(missing))
	for _, i := range idx {
		out = append(out, checks[i])
	}
	return append(out, missing...)
}

// matches compares a resumed pair with a planned one; empty fields in the
// resumed pair match anything. withIP also requires the same target IP.
func matches(want, got report.Pair, withIP bool) bool {
	eq := func(w, g string) bool { return w == "" || w == g }
	return eq(want.Mode, got.Mode) &&
		eq(string(want.Protocol), string(got.Protocol)) &&
		eq(string(want.Family), string(got.Family)) &&
		eq(want.SrcCluster, got.SrcCluster) &&
		eq(want.DstCluster, got.DstCluster) &&
		want.SrcNode == got.SrcNode &&
		eq(want.DstNode, got.DstNode) &&
		(!withIP || want.TargetIP == got.TargetIP) &&
		(want.Port == 0 || want.Port == got.Port)
}
