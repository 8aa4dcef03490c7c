package fault

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// lossRules drop a random share (PERCENT, two decimals) of what the node
// sends on its link, after routing: with an overlay that is the
// encapsulated packet, so every packet is counted once. Neighbour discovery
// is spared (like ARP, which the inet family does not see), so the loss
// rate is the asked one and not made worse by failed resolutions.
func lossRules(percent string) []string {
	p, _ := strconv.ParseFloat(strings.TrimSuffix(percent, "%"), 64)
	n := int(math.Round(p * 100))
	oif := fmt.Sprintf("oifname %q ", netcfg.NodeLink)
	return []string{
		oif + "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
		fmt.Sprintf("%snumgen random mod 10000 < %d drop", oif, n),
	}
}

// kubeProxyName is the state's process name of a node's kube-proxy.
func kubeProxyName(node string) string { return "kube-proxy/" + node }

// stopKubeProxy kills the node's kube-proxy (SIGTERM, then SIGKILL), as
// when it crashed: its rules stay, nothing syncs them any more.
func (a *applier) stopKubeProxy(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	pid := a.st.Process(kubeProxyName(n.Name))
	if pid == 0 {
		return fmt.Errorf("no kube-proxy recorded for node %s", n.Name)
	}
	cl := controlplane.Cmdline(pid)
	if !controlplane.Alive(pid) || !strings.Contains(cl, "kube-proxy") || !strings.Contains(cl, "--hostname-override="+n.Name+" ") {
		return fmt.Errorf("kube-proxy of node %s (PID %d) is not running", n.Name, pid)
	}
	if err := controlplane.Kill([]int{pid}, 3*time.Second); err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "kube-proxy-stopped", Node: n.Name, PID: pid})
	return nil
}

// startKubeProxy starts the node's kube-proxy again with the arguments up
// used and records its new PID in the state.
func startKubeProxy(st *state.State, node string) error {
	n, err := st.NodeByName(node)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	l := controlplane.NewLayout(st.Dir)
	argv := append([]string{self, "component", "kube-proxy"}, controlplane.KubeProxyArgs(st, l, n.Name)...)
	p, err := controlplane.Start(st.Dir, kubeProxyName(n.Name), n.Netns, argv)
	if err != nil {
		return err
	}
	for i := range st.Processes {
		if st.Processes[i].Name == p.Name {
			st.Processes[i] = p
			return nil
		}
	}
	st.Processes = append(st.Processes, p)
	return nil
}

const ctMax = "net.netfilter.nf_conntrack_max"

func nsSysctl(ctx context.Context, netns, key string) (int, error) {
	out, err := netcfg.Output(ctx, "ip", "netns", "exec", netns, "sysctl", "-n", key)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// conntrackFull makes the kernel drop packets that need a new conntrack
// entry in NODE's namespace ("nf_conntrack: table full"). Where the kernel
// keeps a per-netns nf_conntrack_max it lowers that below the count.
// Otherwise (the value is host-wide and read-only in the namespace, as on
// 6.x kernels) it fills the namespace's table up to the host-wide limit:
// nf_conntrack_count is per namespace, so only that namespace is full; the
// host and every other namespace keep their own count (see FillConntrack).
func (a *applier) conntrackFull(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	old, err := nsSysctl(ctx, n.Netns, ctMax)
	if err != nil {
		return fmt.Errorf("%w: fault conntrack-full skipped: %s is not readable in %s: %v", ErrUnsupported, ctMax, n.Netns, err)
	}
	count, err := nsSysctl(ctx, n.Netns, "net.netfilter.nf_conntrack_count")
	if err != nil {
		return err
	}
	hostBefore, err := netcfg.ReadSysctl(ctMax)
	if err != nil {
		return err
	}
	// The sysctl's mode as the node namespace sees it (0444: not per-netns).
	mode, err := netcfg.Output(ctx, "ip", "netns", "exec", n.Netns, "stat", "-c", "%a", "/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		return err
	}
	if m, err := strconv.ParseUint(strings.TrimSpace(mode), 8, 32); err != nil || m&0o200 == 0 {
		return a.fillConntrack(ctx, n.Name, n.Netns, old)
	}
	want := max(count/2, 1)
	// procps sysctl exits 0 even when the kernel refuses: read back.
	if err := netcfg.SetSysctls(ctx, n.Netns, []string{fmt.Sprintf("%s=%d", ctMax, want)}); err != nil {
		return err
	}
	if got, err := nsSysctl(ctx, n.Netns, ctMax); err != nil || got != want {
		return a.fillConntrack(ctx, n.Name, n.Netns, old)
	}
	// Never change the host: a kernel that wrote through to the global
	// value gets it back at once.
	if hostAfter, _ := netcfg.ReadSysctl(ctMax); hostAfter != hostBefore {
		netcfg.SetSysctls(ctx, "", []string{ctMax + "=" + hostBefore})
		return fmt.Errorf("%w: fault conntrack-full skipped: %s is host-wide on this kernel (restored %s)", ErrUnsupported, ctMax, hostBefore)
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "sysctl", Key: ctMax, Value: strconv.Itoa(old)})
	return nil
}

// conntrackFillerKey is the change type that deletes the filler's entries.
const conntrackFillerKey = "conntrack-filler"

// fillConntrack starts the filler process in the node's namespace and
// waits until the table is full. The kernel's nf_conntrack_max (limit)
// is host-wide here and never changed.
func (a *applier) fillConntrack(ctx context.Context, node, netns string, limit int) error {
	if limit <= 0 || limit > MaxFill {
		return fmt.Errorf("%w: fault conntrack-full skipped: %s is %d (host-wide on this kernel, never changed): filling a table of that size is done only up to %d entries", ErrUnsupported, ctMax, limit, MaxFill)
	}
	// Recorded first, undone last: the entries go once the filler stopped.
	a.f.Changes = append(a.f.Changes, state.Change{Netns: netns, Type: conntrackFillerKey, Node: node})
	return a.startFaultProcess(ctx, "fault-conntrack-full/"+node, node, netns,
		[]string{FillConntrackCommand}, "conntrack table full", 90*time.Second)
}

// deleteFillerEntries deletes the filler's entries (its own source range
// only) from a node namespace's conntrack table.
func deleteFillerEntries(ctx context.Context, netns string) error {
	_, err := netcfg.Output(ctx, "ip", "netns", "exec", netns, "conntrack", "-D", "-p", "tcp", "-s", FillerSrc.String())
	if err != nil && strings.Contains(err.Error(), "0 flow entries") {
		return nil // none left (the filler never started or they expired)
	}
	return err
}

// HoldPortCommand is the hidden subcommand that holds a port (host-port fault).
const HoldPortCommand = controlplane.HoldPortCommand

// hostPort starts a process in the node's namespace that binds PORT on all
// addresses (a dual-stack [::] socket) and waits until it holds the port.
func (a *applier) hostPort(ctx context.Context, name, port, proto string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	pname := fmt.Sprintf("fault-host-port/%s/%s/%s", n.Name, proto, port)
	return a.startFaultProcess(ctx, pname, n.Name, n.Netns, []string{HoldPortCommand, "--port", port, "--proto", proto},
		"holding "+proto+" port "+port, 10*time.Second)
}

// startFaultProcess starts this binary's hidden subcommand args in netns,
// records it for remove and down, and waits until its log says ready.
func (a *applier) startFaultProcess(ctx context.Context, pname, node, netns string, args []string, ready string, wait time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p, err := controlplane.Start(a.st.Dir, pname, netns, append([]string{self}, args...))
	if err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: netns, Type: "process", PID: p.PID, Node: node})
	deadline := time.Now().Add(wait)
	for {
		b, _ := os.ReadFile(p.Log)
		if strings.Contains(string(b), ready) {
			return nil
		}
		if !controlplane.Alive(p.PID) || time.Now().After(deadline) {
			return fmt.Errorf("%s on %s did not start: %s", pname, node, strings.TrimSpace(string(b)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// KillFaultProcess stops a process a fault started, if PID still is one
// (the PID may have been reused after a crash).
func KillFaultProcess(pid int) error {
	if pid <= 0 || !controlplane.IsFaultProcess(pid) {
		return nil
	}
	if err := controlplane.Kill([]int{pid}, 2*time.Second); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return err
	}
	return nil
}
