package diagnose

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// KindKernelLog: the node's kernel logged network trouble in the last
// agent.KernelLogWindow (target: the message kind).
const KindKernelLog = "kernel-log"

// kernelWhy says what each logged kind means for pod traffic.
var kernelWhy = map[string]string{
	"conntrack-table-full":     "new connections were dropped",
	"neighbour-table-overflow": "neighbours were evicted and new ones could not be resolved: connections to some pods and nodes time out",
	"martian-packet":           "packets with impossible addresses were seen (and dropped where rp_filter is on): asymmetric routing or a misrouted pod CIDR",
	"link-flap":                "a link went down: traffic over it was lost meanwhile",
	"syn-flood":                "the kernel answered with SYN cookies: a listener's queue overflowed",
}

// ifaceInLine finds the interface a kernel line names ("on dev eth0",
// "eth0: Link is Down", "br0: port 1(veth1) entered disabled state").
var ifaceInLine = regexp.MustCompile(`on dev (\S+?),?(\s|$)|^(\S+?): (NIC )?[Ll]ink is|\(([^)]+)\) entered disabled`)

// AnalyzeKernelLog names the nodes whose kernel logged network trouble.
// Nodes reporting the same boot_id share one kernel (the sandbox's
// namespaces, nodes in containers on one host): its log is theirs
// together, so a line is attributed to the nodes it can belong to (the
// interface it names; for conntrack-table-full the nodes whose table is
// near full or that counted drops), or, where nothing tells them apart,
// to all of them, saying so. A line that can belong to none of them came
// from another namespace of that kernel and is left out.
func AnalyzeKernelLog(nodes []kube.Node, facts map[string]agent.NodeFacts) ([]report.Finding, []Inconclusive) {
	var out []report.Finding
	var inc []Inconclusive
	groups := map[string][]string{} // boot_id (or node name) -> nodes
	var order []string
	for _, n := range sortedNodes(nodes) {
		f, ok := facts[n.Name]
		if !ok || f.KernelLog == nil {
			continue
		}
		if f.KernelLog.Skipped != "" {
			inc = append(inc, Inconclusive{Rule: KindKernelLog, Nodes: []string{n.Name}, Reason: f.KernelLog.Skipped})
			continue
		}
		key := f.KernelLog.BootID
		if key == "" {
			key = "node:" + n.Name
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], n.Name)
	}
	for _, key := range order {
		group := groups[key]
		kl := facts[group[0]].KernelLog
		for _, m := range kl.Messages {
			owners := kernelOwners(m, group, facts)
			if len(owners) == 0 {
				continue
			}
			shared := ""
			if len(group) > 1 {
				shared = fmt.Sprintf("; nodes %s share one kernel (boot_id %s) and so one kernel log", report.JoinNames(group), kl.BootID)
				if len(owners) == len(group) {
					shared += ": the line does not say which of them it concerns"
				} else {
					shared += fmt.Sprintf(": attributed to %s (%s)", report.JoinNames(owners), attribution(m))
				}
			}
			out = append(out, report.Finding{Kind: KindKernelLog, Nodes: owners, Target: m.Kind,
				Summary: fmt.Sprintf("%s: the kernel logged %q %d time(s) in the last %d minutes, last %.0fs ago: %s",
					report.JoinNames(owners), m.Line, m.Count, kl.WindowSeconds/60, m.AgeSeconds, kernelWhy[m.Kind]),
				Evidence: "kernel log (" + kl.Source + ") read by the host-network agent" + shared,
				Failed:   m.Count})
		}
	}
	return out, inc
}

func attribution(m agent.KernelMessage) string {
	if m.Netns != 0 {
		return fmt.Sprintf("the line names network namespace %d, theirs", m.Netns)
	}
	if m.Kind == "conntrack-table-full" {
		return "their conntrack table is near full or counted drops"
	}
	return "the interface the line names is theirs"
}

// kernelOwners are the nodes of group a message can concern: a line that
// names a network namespace concerns the node whose namespace it is (none
// if another's: a container's, or another cluster's on a shared kernel);
// a line that names an interface concerns the nodes that have it (on any
// kernel: a pod's veth already deleted, or another namespace's link, is
// not the node's); a conntrack line without a namespace on a shared
// kernel the nodes whose table is near full or counted drops.
func kernelOwners(m agent.KernelMessage, group []string, facts map[string]agent.NodeFacts) []string {
	var owners []string
	switch {
	case m.Netns != 0 && slices.ContainsFunc(group, func(n string) bool { return facts[n].KernelLog.Netns != 0 }):
		for _, n := range group {
			if facts[n].KernelLog.Netns == m.Netns {
				owners = append(owners, n)
			}
		}
		return owners
	case m.Kind == "conntrack-table-full" && len(group) > 1:
		for _, n := range group {
			f := facts[n]
			c, s := f.Conntrack, f.ConntrackStats
			if (c.Max > 0 && c.Count*100 >= c.Max*nearFullPercent) || (s != nil && s.Drop+s.EarlyDrop+s.InsertFailed > 0) {
				owners = append(owners, n)
			}
		}
		return owners
	case ifaceInLine.MatchString(m.Line):
		sm := ifaceInLine.FindStringSubmatch(m.Line)
		iface := sm[1] + sm[3] + sm[5]
		for _, n := range group {
			if slices.ContainsFunc(facts[n].Interfaces, func(i agent.Interface) bool { return i.Name == iface }) {
				owners = append(owners, n)
			}
		}
		return owners
	}
	return slices.Clone(group)
}
