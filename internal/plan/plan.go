// Package plan turns a spec (mode, kind, families, ports) and the
// inventories of the clusters into checks as data: which source agent
// probes which target, or why it cannot. Every front-end plans here.
package plan

import (
	"fmt"

	"github.com/netdoctor/netdoctor/internal/config"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Cluster names as they appear in pairs.
const (
	SrcCluster = "src"
	DstCluster = "dst"
)

// DNSTargetName is the DST NODE NAME of pairs to the discovered cluster DNS.
const DNSTargetName = report.DNSTargetName

// CustomizedTargetName is the DST NODE NAME of customizedTargetIPList pairs.
const CustomizedTargetName = report.CustomizedTargetName

// Spec is the planning input taken from the config.
type Spec struct {
	Mode     string     // pod | node | node-to-pod | pod-to-node
	Protocol probe.Kind // tcp | udp | icmp | dns
	// Families allowed by ipFamily (both for "auto").
	Families    []probe.Family
	Port        int
	PayloadSize int
	DNSServer   string // targetDNSServer; "" = discovered cluster DNS
	LookupHost  string
	CustomIPs   []string
	CustomPorts []int
	// Cross is true when targets live in a second cluster.
	Cross bool
	// Source, when set, plans only the checks of this source node (a
	// monitor agent plans its own).
	Source string
	// PeersPerNode, when > 0, probes every target node from only that many
	// other nodes, chosen by rendezvous hashing (Assign): the monitor's
	// O(n*k) instead of O(n^2) rounds. Same-node pairs are left out.
	PeersPerNode int
}

// Check is one planned pair: what to probe, from which agent, or why it
// cannot run (Skip, reported as EXCEPTION without probing).
type Check struct {
	Pair      report.Pair
	Target    probe.Target // ID is assigned when batches are built
	Source    *inventory.Agent
	Skip      string
	SkipClass probe.FailureClass
	SkipAgent *report.AgentProblem // set when Skip is an agent's fault
}

// FromConfig turns a completed, validated config into a planning Spec.
func FromConfig(cfg config.Config) (Spec, error) {
	port, err := cfg.Port.Int()
	if err != nil {
		return Spec{}, fmt.Errorf("port: %w", err)
	}
	s := Spec{
		Mode: cfg.Mode, Protocol: probe.ParseKind(cfg.Protocol), Port: port, PayloadSize: cfg.PacketSize,
		DNSServer: cfg.TargetDNSServer, LookupHost: cfg.TargetHostToLookup,
		CustomIPs: cfg.CustomizedTargetIPList, Cross: cfg.DstKubeConfig != "",
	}
	switch cfg.IPFamily {
	case "ipv4":
		s.Families = []probe.Family{probe.IPv4}
	case "ipv6":
		s.Families = []probe.Family{probe.IPv6}
	default:
		s.Families = []probe.Family{probe.IPv4, probe.IPv6}
	}
	for i, p := range cfg.CustomizedTargetPortList {
		n, err := p.Int()
		if err != nil {
			return Spec{}, fmt.Errorf("customizedTargetPortList[%d]: %w", i, err)
		}
		s.CustomPorts = append(s.CustomPorts, n)
	}
	return s, nil
}

// MeshKinds are the kinds planned from agents to agents (or their nodes):
// what the monitor can probe its peers with.
var MeshKinds = []probe.Kind{probe.KindTCP, probe.KindUDP, probe.KindICMP}

// SourceNetwork is the network of the source agents for a mode.
func SourceNetwork(mode string) deploy.Network {
	if mode == "node" || mode == "node-to-pod" {
		return deploy.HostNetwork
	}
	return deploy.PodNetwork
}

// TargetNetwork is the network whose addresses are the targets.
func TargetNetwork(mode string) deploy.Network {
	if mode == "node" || mode == "pod-to-node" {
		return deploy.HostNetwork
	}
	return deploy.PodNetwork
}

// TargetsNeedAgents says whether targets must be netctl agents: tcp and
// udp talk to an agent, and pod targets only exist as agent pods. ICMP to
// node addresses and DNS need nothing on the target side.
func (s Spec) TargetsNeedAgents() bool {
	switch s.Protocol {
	case probe.KindTCP, probe.KindUDP:
		return true
	case probe.KindICMP:
		return TargetNetwork(s.Mode) == deploy.PodNetwork
	}
	return false
}

// Networks returns the agent DaemonSets each cluster needs.
func (s Spec) Networks() (src, dst []deploy.Network) {
	src = []deploy.Network{SourceNetwork(s.Mode)}
	if !s.TargetsNeedAgents() {
		return src, nil
	}
	tn := TargetNetwork(s.Mode)
	if s.Cross {
		return src, []deploy.Network{tn}
	}
	if tn != src[0] {
		src = append(src, tn)
	}
	return src, nil
}

func ipOf(ips []string, f probe.Family) string {
	for _, ip := range ips {
		if probe.FamilyOf(ip) == f {
			return ip
		}
	}
	return ""
}

func (s Spec) allows(f probe.Family) bool {
	for _, a := range s.Families {
		if a == f {
			return true
		}
	}
	return false
}

// endpoint is one target: a node's address set and, when the protocol talks
// to an agent, that agent.
type endpoint struct {
	node    string
	ips     []string
	agent   *inventory.Agent // nil when no agent is needed
	problem string
}

// Plan lists every check for spec, in a stable order: source node, then
// target node, then family. Same-node pairs are included (a pod reaching
// its own node's agents is a path worth checking, as the earlier tool did).
// dst is nil for a single cluster.
func Plan(spec Spec, src, dst *inventory.Inventory) []Check {
	if dst == nil {
		dst = src
	}
	srcNet := SourceNetwork(spec.Mode)
	var sources []*inventory.Agent
	for _, n := range src.Nodes {
		if spec.Source == "" || spec.Source == n.Name {
			sources = append(sources, src.AgentOn(srcNet, n))
		}
	}
	var checks []Check
	switch spec.Protocol {
	case probe.KindDNS:
		checks = planDNS(spec, sources, src, dst)
	default:
		checks = planAgents(spec, sources, dst)
	}
	checks = append(checks, planCustomized(spec, sources)...)
	return checks
}

func (s Spec) pair(src *inventory.Agent, f probe.Family) report.Pair {
	p := report.Pair{Mode: s.Mode, Protocol: s.Protocol, Family: f,
		SrcNode: src.Node, SrcPod: src.Pod, SrcIP: ipOf(src.IPs, f)}
	if s.Cross {
		p.SrcCluster, p.DstCluster = SrcCluster, DstCluster
	}
	return p
}

// sourceProblem returns why src cannot probe family f, if it cannot.
func sourceProblem(src *inventory.Agent, f probe.Family) (string, probe.FailureClass, *report.AgentProblem) {
	if !src.Ready {
		return src.Problem, probe.ClassAgentError, src.AsProblem(report.AgentSource)
	}
	if ipOf(src.IPs, f) == "" {
		return fmt.Sprintf("source agent %s on %s has no %s address", src.Pod, src.Node, f), probe.ClassSkipped, nil
	}
	return "", "", nil
}

func planAgents(spec Spec, sources []*inventory.Agent, dst *inventory.Inventory) []Check {
	tn := TargetNetwork(spec.Mode)
	needAgent := spec.TargetsNeedAgents()
	dstFamilies := dst.Families()
	var targets []endpoint
	for _, n := range dst.Nodes {
		e := endpoint{node: n.Name}
		if tn == deploy.HostNetwork {
			e.ips = n.InternalIPs
		}
		if needAgent {
			a := dst.AgentOn(tn, n)
			e.agent = a
			if tn == deploy.PodNetwork {
				e.ips = a.IPs
			}
			if !a.Ready {
				e.problem = a.Problem
			}
		}
		targets = append(targets, e)
	}
	var checks []Check
	peers := spec.peers(dst)
	for _, src := range sources {
		for _, t := range targets {
			if peers != nil && !peers[[2]string{src.Node, t.node}] {
				continue
			}
			fams := familiesOf(t.ips)
			if len(t.ips) == 0 {
				// A target agent without addresses yet: one row per
				// family the cluster has, so the problem is visible.
				fams = dstFamilies
			}
			for _, f := range fams {
				if !spec.allows(f) {
					continue
				}
				c := Check{Pair: spec.pair(src, f), Source: src}
				c.Pair.DstNode = t.node
				c.Pair.TargetIP = ipOf(t.ips, f)
				c.Target = probe.Target{Kind: spec.Protocol, Address: c.Pair.TargetIP, Family: f, PayloadSize: spec.PayloadSize}
				if spec.Protocol != probe.KindICMP {
					c.Pair.Port = spec.Port
					if t.agent != nil && t.agent.Port != 0 {
						c.Pair.Port = t.agent.Port
					}
					c.Target.Port = c.Pair.Port
				}
				if t.agent != nil {
					c.Pair.DstPod = t.agent.Pod
					if spec.Protocol == probe.KindTCP || spec.Protocol == probe.KindUDP {
						c.Target.ExpectNode, c.Target.ExpectPod = t.agent.Node, t.agent.Pod
					}
				}
				c.Skip, c.SkipClass, c.SkipAgent = sourceProblem(src, f)
				if c.Skip == "" && t.problem != "" {
					c.Skip, c.SkipClass, c.SkipAgent = "target "+t.problem, probe.ClassAgentError, t.agent.AsProblem(report.AgentTarget)
				}
				if c.Skip == "" && c.Pair.TargetIP == "" {
					// Nothing known to probe (a node without addresses).
					c.Skip, c.SkipClass = fmt.Sprintf("target node %s has no %s address", t.node, f), probe.ClassSkipped
				}
				checks = append(checks, c)
			}
		}
	}
	return checks
}

// peers are the (source, target) node pairs PeersPerNode allows; nil when
// every pair is planned.
func (s Spec) peers(dst *inventory.Inventory) map[[2]string]bool {
	if s.PeersPerNode <= 0 {
		return nil
	}
	var names []string
	for _, n := range dst.Nodes {
		names = append(names, n.Name)
	}
	out := map[[2]string]bool{}
	for src, targets := range Assign(names, s.PeersPerNode) {
		for _, t := range targets {
			out[[2]string{src, t}] = true
		}
	}
	return out
}

// ModeFor names the mode of a source network and a target network.
func ModeFor(src, dst deploy.Network) string {
	switch {
	case src == deploy.HostNetwork && dst == deploy.HostNetwork:
		return "node"
	case src == deploy.HostNetwork:
		return "node-to-pod"
	case dst == deploy.HostNetwork:
		return "pod-to-node"
	}
	return "pod"
}

func familiesOf(ips []string) []probe.Family {
	var out []probe.Family
	for _, f := range []probe.Family{probe.IPv4, probe.IPv6} {
		if ipOf(ips, f) != "" {
			out = append(out, f)
		}
	}
	return out
}

// planDNS: one pair per source x server x family. A configured server is
// asked for A and AAAA (each allowed family the source cluster has); the
// discovered cluster DNS is asked over its address of each family.
func planDNS(spec Spec, sources []*inventory.Agent, src, dns *inventory.Inventory) []Check {
	var checks []Check
	for _, s := range sources {
		for _, f := range src.Families() {
			if !spec.allows(f) {
				continue
			}
			servers, name := dns.DNS, DNSTargetName
			if spec.DNSServer != "" {
				servers, name = []string{spec.DNSServer}, spec.DNSServer
			}
			for _, server := range servers {
				if spec.DNSServer == "" && probe.FamilyOf(server) != f {
					continue
				}
				c := Check{Pair: spec.pair(s, f), Source: s}
				c.Pair.DstNode = name
				c.Pair.TargetIP = server
				c.Target = probe.Target{Kind: probe.KindDNS, Address: server, Name: spec.LookupHost, Family: f}
				c.Skip, c.SkipClass, c.SkipAgent = sourceProblem(s, f)
				if c.SkipClass == probe.ClassSkipped && spec.DNSServer != "" && probe.FamilyOf(server) != f {
					// Asking for AAAA over an IPv4 server needs no IPv6 on the source.
					c.Skip, c.SkipClass, c.SkipAgent = sourceProblem(s, probe.FamilyOf(server))
				}
				checks = append(checks, c)
			}
		}
	}
	return checks
}

// planCustomized: every source x customizedTargetIPList x port. tcp (and
// dns) use a plain connect, udp a plain datagram, icmp an echo per address.
func planCustomized(spec Spec, sources []*inventory.Agent) []Check {
	kind, ports := probe.KindConn, spec.CustomPorts
	switch spec.Protocol {
	case probe.KindUDP:
		kind = probe.KindUDPSend
	case probe.KindICMP:
		kind, ports = probe.KindICMP, []int{0}
	}
	var checks []Check
	for _, s := range sources {
		for _, ip := range spec.CustomIPs {
			f := probe.FamilyOf(ip)
			if !spec.allows(f) {
				continue
			}
			for _, port := range ports {
				c := Check{Pair: spec.pair(s, f), Source: s}
				c.Pair.DstCluster = ""
				c.Pair.DstNode = CustomizedTargetName
				c.Pair.TargetIP = ip
				c.Pair.Port = port
				c.Target = probe.Target{Kind: kind, Address: ip, Port: port, Family: f}
				if kind == probe.KindICMP {
					c.Target.PayloadSize = spec.PayloadSize
				}
				c.Skip, c.SkipClass, c.SkipAgent = sourceProblem(s, f)
				checks = append(checks, c)
			}
		}
	}
	return checks
}
