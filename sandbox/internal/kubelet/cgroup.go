package kubelet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Resource limits: every container process runs in a cgroup of its own with
// the container's CPU limit as a CFS quota and its memory limit as the
// cgroup's memory limit, so throttling and OOM kills happen as on real
// nodes. Layout (one tree per cluster, all owned by the sandbox):
//
//	cgroup v1: /sys/fs/cgroup/{cpu,memory}/netdoctor-sandbox/<cluster>/<pod-uid>/<container>
//	cgroup v2: /sys/fs/cgroup/netdoctor-sandbox/<cluster>/<pod-uid>/<container>
//
// v1 files: cpu.cfs_period_us/cpu.cfs_quota_us, memory.limit_in_bytes
// (swappiness 0), OOM kills counted by memory.oom_control's oom_kill. v2
// files: cpu.max, memory.max (memory.swap.max 0, memory.oom.group 1), OOM
// kills counted by memory.events' oom_kill. A process ending after the
// container's OOM counter grew is reported terminated with reason OOMKilled.
//
// The process is in its cgroup from its first instruction: with v1 the
// (locked, throw-away) OS thread that forks it joins the cgroup first and the
// child inherits it; with v2 the clone places it there (CLONE_INTO_CGROUP).
// A pod's cgroups go when the pod goes; `down` and a restarted kubelet
// remove the whole cluster tree.

// CgroupParent is the sandbox-owned parent of every cluster's cgroup tree.
const CgroupParent = "netdoctor-sandbox"

// cfsPeriod is the CFS period the quota is computed for (the kubelet's default).
const cfsPeriod = 100000

var cgroupRoot = "/sys/fs/cgroup" // tests may point it elsewhere

type cgroupLayout struct {
	v2   bool
	dirs []string // v1: the cpu and memory hierarchy roots; v2: the unified root
}

// detectCgroups finds the hierarchies: v1 cpu + memory if mounted (also on
// hybrid machines), else v2 with the cpu and memory controllers.
func detectCgroups() (cgroupLayout, error) {
	cpu, mem := filepath.Join(cgroupRoot, "cpu"), filepath.Join(cgroupRoot, "memory")
	if exists(filepath.Join(cpu, "cpu.cfs_quota_us")) && exists(filepath.Join(mem, "memory.limit_in_bytes")) {
		return cgroupLayout{dirs: []string{cpu, mem}}, nil
	}
	b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
	if err == nil {
		f := strings.Fields(string(b))
		if contains(f, "cpu") && contains(f, "memory") {
			return cgroupLayout{v2: true, dirs: []string{cgroupRoot}}, nil
		}
	}
	return cgroupLayout{}, fmt.Errorf("no cgroup v1 cpu+memory hierarchies and no cgroup v2 with cpu and memory under %s", cgroupRoot)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// ClusterCgroupDirs returns the cgroup directories of a cluster's tree (one
// per hierarchy), whether they exist or not. Nil when the machine has none.
func ClusterCgroupDirs(cluster string) []string {
	l, err := detectCgroups()
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range l.dirs {
		out = append(out, filepath.Join(d, CgroupParent, cluster))
	}
	return out
}

// containerCgroup is one container's cgroup (one directory per hierarchy).
type containerCgroup struct {
	v2     bool
	dirs   []string
	memDir string
	mu     sync.Mutex
	ooms   int // OOM kills counted so far
}

var (
	cgroupOnce   sync.Once
	cgroupLay    cgroupLayout
	cgroupLayErr error
)

func machineCgroups() (cgroupLayout, error) {
	cgroupOnce.Do(func() { cgroupLay, cgroupLayErr = detectCgroups() })
	return cgroupLay, cgroupLayErr
}

// newContainerCgroup creates (or reuses, after a restart) the cgroup of a
// container and writes its limits.
func newContainerCgroup(cluster, podUID, name string, res corev1.ResourceRequirements) (*containerCgroup, error) {
	l, err := machineCgroups()
	if err != nil {
		return nil, err
	}
	cg := &containerCgroup{v2: l.v2}
	for _, root := range l.dirs {
		if l.v2 {
			// Controllers must be enabled on every level above the leaf.
			for _, d := range []string{root, filepath.Join(root, CgroupParent), filepath.Join(root, CgroupParent, cluster), filepath.Join(root, CgroupParent, cluster, podUID)} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return nil, err
				}
				if err := enableControllers(d); err != nil {
					return nil, err
				}
			}
		}
		d := filepath.Join(root, CgroupParent, cluster, podUID, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating cgroup: %w", err)
		}
		cg.dirs = append(cg.dirs, d)
	}
	cg.memDir = cg.dirs[len(cg.dirs)-1]
	quota := int64(-1)
	if q, ok := res.Limits[corev1.ResourceCPU]; ok && !q.IsZero() {
		quota = max(q.MilliValue()*cfsPeriod/1000, 1000)
	}
	mem := int64(-1)
	if q, ok := res.Limits[corev1.ResourceMemory]; ok && !q.IsZero() {
		mem = q.Value()
	}
	if l.v2 {
		cpuMax := "max"
		if quota > 0 {
			cpuMax = strconv.FormatInt(quota, 10)
		}
		memMax := "max"
		if mem > 0 {
			memMax = strconv.FormatInt(mem, 10)
		}
		err = errors.Join(
			writeCgroup(cg.dirs[0], "cpu.max", fmt.Sprintf("%s %d", cpuMax, cfsPeriod)),
			writeCgroup(cg.dirs[0], "memory.max", memMax),
		)
		_ = writeCgroup(cg.dirs[0], "memory.swap.max", "0") // absent without swap accounting
		_ = writeCgroup(cg.dirs[0], "memory.oom.group", "1")
	} else {
		err = errors.Join(
			writeCgroup(cg.dirs[0], "cpu.cfs_period_us", strconv.Itoa(cfsPeriod)),
			writeCgroup(cg.dirs[0], "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)),
			writeCgroup(cg.memDir, "memory.limit_in_bytes", strconv.FormatInt(mem, 10)),
		)
		_ = writeCgroup(cg.memDir, "memory.swappiness", "0")
	}
	if err != nil {
		return nil, err
	}
	cg.ooms = cg.oomCount()
	return cg, nil
}

func enableControllers(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	have := strings.Fields(string(b))
	var want []string
	for _, c := range []string{"cpu", "memory"} {
		if !contains(have, c) {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	return writeCgroup(dir, "cgroup.subtree_control", strings.Join(want, " "))
}

func writeCgroup(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("cgroup %s: writing %q: %w", filepath.Join(dir, file), value, err)
	}
	return nil
}

// enter puts the process cmd is about to start into the cgroup. It runs on
// the locked OS thread that starts cmd, right before cmd.Start; the
// returned function runs after the start. A nil cgroup does nothing.
func (cg *containerCgroup) enter(cmd *exec.Cmd) (func(), error) {
	if cg == nil {
		return func() {}, nil
	}
	if cg.v2 {
		fd, err := unix.Open(cg.dirs[0], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening cgroup %s: %w", cg.dirs[0], err)
		}
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
		return func() { unix.Close(fd) }, nil
	}
	// v1: move this thread; the child forked from it inherits its cgroups.
	// Once the child exists the thread goes back where it was, so the
	// container's cgroup never holds a kubelet thread (rmdir would fail).
	tid := strconv.Itoa(unix.Gettid())
	back := threadCgroups(cg.dirs)
	for _, d := range cg.dirs {
		if err := writeCgroup(d, "tasks", tid); err != nil {
			return nil, err
		}
	}
	return func() {
		for _, d := range back {
			_ = writeCgroup(d, "tasks", tid)
		}
	}, nil
}

// threadCgroups returns the calling thread's current cgroup directories in
// the v1 hierarchies of dirs (hierarchy root = <cgroupRoot>/<controller>).
func threadCgroups(dirs []string) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/cgroup", unix.Gettid()))
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range dirs {
		rel, err := filepath.Rel(cgroupRoot, d)
		if err != nil {
			continue
		}
		ctrl := strings.SplitN(rel, string(filepath.Separator), 2)[0]
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) == 3 && contains(strings.Split(f[1], ","), ctrl) {
				out = append(out, filepath.Join(cgroupRoot, ctrl, f[2]))
			}
		}
	}
	return out
}

// oomCount reads the number of OOM kills in the cgroup so far.
func (cg *containerCgroup) oomCount() int {
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	f, err := os.Open(filepath.Join(cg.memDir, file))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "oom_kill" {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// oomKilled reports whether the kernel OOM-killed a process of the
// container since the last call (called when the container's process ended).
func (cg *containerCgroup) oomKilled() bool {
	if cg == nil {
		return false
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	n := cg.oomCount()
	killed := n > cg.ooms
	cg.ooms = n
	return killed
}

// containerCgroup returns the cgroup a container's next process starts in,
// or nil (logged once per pod) when the machine offers no usable cgroups:
// the container then runs without limits.
func (w *podWorker) containerCgroup(c *container) *containerCgroup {
	cg, err := newContainerCgroup(w.k.cfg.ClusterName, string(w.uid), c.spec.Name, c.spec.Resources)
	if err != nil {
		w.cgroupWarn.Do(func() {
			w.k.log.Printf("pod %s/%s: running without resource limits: %v", w.podNamespace, w.podName, err)
		})
		return nil
	}
	return cg
}

// removeCgroups removes the pod's cgroups once its processes are gone.
func (w *podWorker) removeCgroups() {
	for _, d := range ClusterCgroupDirs(w.k.cfg.ClusterName) {
		if err := removeCgroupTree(filepath.Join(d, string(w.uid))); err != nil {
			w.k.log.Printf("pod %s: %v", w.uid, err)
		}
	}
}

// CgroupPIDs lists the processes still in a cluster's cgroups.
func CgroupPIDs(cluster string) []int {
	var pids []int
	for _, d := range ClusterCgroupDirs(cluster) {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// RemoveClusterCgroups removes a cluster's cgroup trees (their processes
// must be gone) and the common parent when no other cluster uses it.
func RemoveClusterCgroups(cluster string) error {
	var errs []error
	for _, d := range ClusterCgroupDirs(cluster) {
		if err := removeCgroupTree(d); err != nil {
			errs = append(errs, err)
		}
		_ = unix.Rmdir(filepath.Dir(d)) // only succeeds when empty
	}
	return errors.Join(errs...)
}

// removeCgroupTree removes a cgroup directory and its children, deepest
// first. cgroup directories go with rmdir (their files are virtual); a
// cgroup that still holds a task (e.g. the thread that started a process,
// about to exit) is retried for a moment.
func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing cgroup %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		var rerr error
		for try := 0; try < 50; try++ {
			rerr = unix.Rmdir(dirs[i])
			if rerr == nil || errors.Is(rerr, unix.ENOENT) {
				rerr = nil
				break
			}
			if !errors.Is(rerr, unix.EBUSY) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if rerr != nil {
			return fmt.Errorf("removing cgroup %s: %w", dirs[i], rerr)
		}
	}
	return nil
}
