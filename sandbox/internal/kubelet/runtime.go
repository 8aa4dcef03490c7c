package kubelet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// mountSpec is one bind mount into a container's private mount namespace.
type mountSpec struct {
	source   string // host path (in the state dir)
	target   string // path inside the container
	readOnly bool
}

// nsSpec says which namespaces a container process lives in.
type nsSpec struct {
	netnsPath  string // pod (or, for hostNetwork, node) network namespace
	hostname   string
	mounts     []mountSpec
	overlayDir string // scratch space for overlays that create missing mount points (created here)

	cgroup *containerCgroup // resource limits (cgroup.go); nil: none
	rootfs string           // an image's unpacked root filesystem to run in (rootfs.go); "" = the host's
}

// startInNamespaces starts cmd inside netnsPath plus new mount and UTS
// namespaces prepared with s.mounts and s.hostname. The preparation happens
// on a dedicated OS thread that the child inherits its namespaces from; the
// thread is never returned to the Go scheduler (the runtime ends it when the
// goroutine returns while still locked).
func startInNamespaces(s nsSpec, cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- prepareAndStart(s, cmd)
	}()
	return <-errc
}

func prepareAndStart(s nsSpec, cmd *exec.Cmd) error {
	ns, err := os.Open(s.netnsPath)
	if err != nil {
		return fmt.Errorf("opening netns: %w", err)
	}
	err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
	ns.Close()
	if err != nil {
		return fmt.Errorf("entering netns %s: %w", s.netnsPath, err)
	}
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("unshare mount+uts: %w", err)
	}
	// Nothing we mount may leak to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making / a slave mount: %w", err)
	}
	// The copy of /run/netns would pin every other pod's namespace.
	_ = unix.Unmount(netnsDir, unix.MNT_DETACH)
	if err := unix.Sethostname([]byte(s.hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if s.rootfs != "" {
		return prepareRootfs(s, cmd)
	}
	mounts := append([]mountSpec(nil), s.mounts...)
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(filepath.Clean(mounts[i].target), "/") < strings.Count(filepath.Clean(mounts[j].target), "/")
	})
	// An overlay that creates a missing mount point may cover the state dir
	// itself (e.g. an overlay on /var/lib for /var/lib/netdoctor when the
	// state dir is /var/lib/netdoctor-sandbox). Paths into the state dir
	// would then resolve through that overlay: a later overlay's upperdir
	// would sit on overlayfs (EINVAL) and a bind source would be the
	// overlay's copy-on-write view instead of the real volume. So every
	// mount source and the scratch root are opened before the first overlay
	// and used through /proc/self/fd/N, which keeps pointing at the real
	// directories whatever is mounted over their paths later.
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	openPath := func(p string) (string, error) {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", &os.PathError{Op: "open", Path: p, Err: err}
		}
		fds = append(fds, fd)
		return fmt.Sprintf("/proc/self/fd/%d", fd), nil
	}
	if err := os.MkdirAll(s.overlayDir, 0o755); err != nil {
		return fmt.Errorf("overlay scratch dir: %w", err)
	}
	scratchRoot, err := openPath(s.overlayDir)
	if err != nil {
		return fmt.Errorf("overlay scratch dir: %w", err)
	}
	// Mount points first (overlays over whole directories would hide binds
	// made before them), except those nested in another mount, which must be
	// created inside that mount once it is in place.
	var dirTargets []string
	isDir := make([]bool, len(mounts))
	for i, m := range mounts {
		st, err := os.Stat(m.source)
		if err != nil {
			return fmt.Errorf("mount source for %s: %w", m.target, err)
		}
		isDir[i] = st.IsDir()
		if isDir[i] {
			dirTargets = append(dirTargets, filepath.Clean(m.target))
		}
		if mounts[i].source, err = openPath(m.source); err != nil {
			return fmt.Errorf("mount source for %s: %w", m.target, err)
		}
	}
	nested := func(i int) bool {
		t := filepath.Clean(mounts[i].target)
		for _, d := range dirTargets {
			if t != d && isUnder(t, []string{d}) {
				return true
			}
		}
		return false
	}
	var covered []string // directories whose writes stay off the host fs
	for i, m := range mounts {
		if !nested(i) {
			if err := prepareTarget(m.target, isDir[i], &covered, filepath.Join(scratchRoot, fmt.Sprint(i))); err != nil {
				return fmt.Errorf("mount point %s: %w", m.target, err)
			}
		}
	}
	for i, m := range mounts {
		if nested(i) {
			if err := prepareTarget(m.target, isDir[i], &covered, filepath.Join(scratchRoot, fmt.Sprint(i))); err != nil {
				return fmt.Errorf("mount point %s: %w", m.target, err)
			}
		}
		if err := unix.Mount(m.source, m.target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s: %w", m.target, err)
		}
		if m.readOnly {
			if err := unix.Mount("", m.target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("making %s read-only: %w", m.target, err)
			}
		}
		if isDir[i] {
			covered = append(covered, filepath.Clean(m.target))
		}
	}
	started, err := s.cgroup.enter(cmd)
	if err != nil {
		return err
	}
	defer started()
	return cmd.Start()
}

// prepareTarget makes sure the mount point exists in the container's view
// without touching the host filesystem: when it is missing, the deepest
// existing ancestor directory gets an overlay whose upper layer lives in the
// state dir, and the mount point is created there.
func prepareTarget(target string, dir bool, covered *[]string, scratch string) error {
	if _, err := os.Stat(target); err == nil {
		return nil
	}
	anc := filepath.Dir(filepath.Clean(target))
	for {
		if st, err := os.Stat(anc); err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory", anc)
			}
			break
		}
		anc = filepath.Dir(anc)
	}
	real, err := filepath.EvalSymlinks(anc)
	if err != nil {
		return err
	}
	if !isUnder(real, *covered) {
		if real == "/" {
			return errors.New("mount points directly under / must exist on the host")
		}
		upper, work := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", real, upper, work)
		if err := unix.Mount("overlay", real, "overlay", 0, opts); err != nil {
			return fmt.Errorf("overlay on %s: %w", real, err)
		}
		*covered = append(*covered, real)
	}
	if dir {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func isUnder(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// nsenterCommand runs argv inside the namespaces of a running container
// process (kubectl exec, exec probes). nsenter is single-threaded, so it may
// join a mount namespace, which a Go process cannot.
func nsenterCommand(pid int, dir string, argv []string) *exec.Cmd {
	if dir == "" {
		dir = "/"
	}
	args := []string{"--target", fmt.Sprint(pid), "--net", "--mount", "--uts", "--root", "--wd=" + dir, "--"}
	return exec.Command("nsenter", append(args, argv...)...)
}

// processStartTime reads a process's start time (clock ticks since boot) so
// a pid file can tell its process from a later one with the same pid.
func processStartTime(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(data)
	i := strings.LastIndex(s, ")")
	if i < 0 {
		return "", errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return "", errors.New("malformed stat")
	}
	return fields[19], nil // field 22 overall
}
