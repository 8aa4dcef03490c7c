package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/kubelet"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// Namespaces returns every network namespace of cluster name: its nodes
// ("nd-<name>-n<i>"), the kubelet's pods ("nd-<name>-p-<id>") and the
// outside client ("nd-<name>-outside", up --load-balancer).
func Namespaces(name string) ([]string, error) {
	all, err := netcfg.NetnsList()
	if err != nil {
		return nil, err
	}
	p := plan.Plan{Name: name}
	var out []string
	for _, n := range all {
		if isNodeNetns(n, p.NodeNetnsPrefix()) || strings.HasPrefix(n, p.PodNetnsPrefix()) || n == plan.OutsideNetnsName(name) {
			out = append(out, n)
		}
	}
	return out, nil
}

func isNodeNetns(n, prefix string) bool {
	rest, ok := strings.CutPrefix(n, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Down removes everything of cluster name: processes, namespaces, links,
// routes, files. It works on what is left after a crash.
func Down(ctx context.Context, name string, log io.Writer) error {
	t0 := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(log, "[%5.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, a...))
	}
	if err := plan.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	s, err := state.Load(name)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	nss, err := Namespaces(name)
	if err != nil {
		return err
	}
	if s == nil {
		if len(nss) == 0 {
			return fmt.Errorf("%w: cluster %q does not exist (no state, no namespaces)", ErrBadInput, name)
		}
		logf("no state for %q; removing %d leftover namespaces", name, len(nss))
	}
	// 1. Processes: the daemons we started, and anything inside our namespaces.
	var pids []int
	if s != nil {
		for _, p := range s.Processes {
			// Check the command line names this cluster: the PID may have been reused.
			cl := controlplane.Cmdline(p.PID) + " "
			if controlplane.Alive(p.PID) && (strings.Contains(cl, s.Dir+"/") || strings.Contains(cl, s.Dir+" ") ||
				(s.EtcdDataDir != "" && strings.Contains(cl, s.EtcdDataDir+" "))) {
				pids = append(pids, p.PID)
			}
		}
	}
	// Processes faults started (host-port, conntrack-full): by PID, if still theirs.
	if s != nil {
		for _, f := range s.Faults {
			for _, c := range f.Changes {
				if c.Type == "process" && controlplane.IsFaultProcess(c.PID) {
					pids = append(pids, c.PID)
				}
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, ns := range nss {
		g.Go(func() error {
			p, err := controlplane.NetnsPIDs(gctx, ns)
			if err != nil {
				return nil // namespace vanished meanwhile
			}
			mu.Lock()
			pids = append(pids, p...)
			mu.Unlock()
			return nil
		})
	}
	g.Wait()
	pids = append(pids, kubelet.CgroupPIDs(name)...) // container processes (cgroup.go)
	pids = uniq(pids)
	if err := controlplane.Kill(pids, 3*time.Second); err != nil {
		return err
	}
	logf("stopped %d processes", len(pids))
	// 2. Namespaces (their links go with them), peerings, bridge, routes.
	if nss, err = Namespaces(name); err != nil {
		return err
	}
	if err := netcfg.DeleteNetns(ctx, nss); err != nil {
		return err
	}
	if left, _ := Namespaces(name); len(left) > 0 {
		return fmt.Errorf("namespaces still present after delete: %v", left)
	}
	logf("deleted %d network namespaces", len(nss))
	if err := kubelet.RemoveClusterCgroups(name); err != nil {
		return err
	}
	unlock, err := state.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if s != nil {
		if err := unpeer(ctx, s); err != nil {
			logf("warning: %v", err)
		}
		// Deleting the bridge also removes the host routes via it.
		netcfg.Batch(ctx, "", []string{"link del " + s.Bridge}, true)
		netcfg.DeleteSegment(ctx, &s.Plan)
		for _, n := range s.Nodes {
			if _, err := os.Stat("/sys/class/net/" + n.HostVeth); err == nil {
				netcfg.Batch(ctx, "", []string{"link del " + n.HostVeth}, true)
			}
		}
		if err := netcfg.DelGuards(ctx, s.Guards); err != nil {
			return fmt.Errorf("removing guard routes: %w", err)
		}
		if s.EtcdDataDir != "" {
			os.RemoveAll(filepath.Dir(s.EtcdDataDir))
			os.Remove(filepath.Dir(filepath.Dir(s.EtcdDataDir))) // only if no other cluster uses it
		}
	}
	if err := os.RemoveAll(state.Dir(name)); err != nil {
		return fmt.Errorf("removing state dir: %w", err)
	}
	left, err := state.ReleaseSlot(name)
	if err != nil {
		return err
	}
	if left == 0 {
		if err := restoreNeighLimits(ctx); err != nil {
			return err
		}
		logf("last sandbox cluster gone: neighbour-table limits restored")
	}
	logf("cluster %s removed", name)
	return nil
}

func restoreNeighLimits(ctx context.Context) error {
	saved, err := state.SavedSysctls()
	if err != nil || saved == nil {
		return err
	}
	var kv []string
	for k, v := range saved {
		kv = append(kv, k+"="+v)
	}
	if err := netcfg.SetSysctls(ctx, "", kv); err != nil {
		return err
	}
	return state.ForgetSysctls()
}

func uniq(in []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, p := range in {
		if p > 0 && !seen[p] && p != os.Getpid() {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
