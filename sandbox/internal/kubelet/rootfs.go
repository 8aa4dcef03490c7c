package kubelet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// prepareRootfs runs in the container's fresh mount namespace (on the
// locked thread of prepareAndStart): it mounts an overlay of the image's
// unpacked root filesystem (writes go to the container's scratch dir, the
// shared image stays untouched), /proc, /sys, a minimal /dev and the
// container's mounts inside it, then starts cmd chrooted into it.
func prepareRootfs(s nsSpec, cmd *exec.Cmd) error {
	merged := filepath.Join(s.overlayDir, "root")
	upper := filepath.Join(s.overlayDir, "upper")
	work := filepath.Join(s.overlayDir, "work")
	for _, d := range []string{merged, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", s.rootfs, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay root filesystem: %w", err)
	}
	in := func(p string) string { return filepath.Join(merged, filepath.Clean("/"+p)) }
	mkdir := func(p string) error {
		if err := os.MkdirAll(in(p), 0o755); err != nil {
			return fmt.Errorf("creating %s in the root filesystem: %w", p, err)
		}
		return nil
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp"} {
		if err := mkdir(d); err != nil {
			return err
		}
	}
	if err := unix.Mount("proc", in("/proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	// sysfs as seen from the pod's network namespace (its own interfaces).
	if err := unix.Mount("sysfs", in("/sys"), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /sys: %w", err)
	}
	if err := unix.Mount("tmpfs", in("/dev"), "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	for _, dev := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		t := in("/dev/" + dev)
		f, err := os.OpenFile(t, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return err
		}
		f.Close()
		if err := unix.Mount("/dev/"+dev, t, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting /dev/%s: %w", dev, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		_ = os.Symlink(target, in("/dev/"+name))
	}
	mounts := append([]mountSpec(nil), s.mounts...)
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(filepath.Clean(mounts[i].target), "/") < strings.Count(filepath.Clean(mounts[j].target), "/")
	})
	for _, m := range mounts {
		st, err := os.Stat(m.source)
		if err != nil {
			return fmt.Errorf("mount source for %s: %w", m.target, err)
		}
		t := in(m.target)
		// A symlink in the image at the mount point would be followed on
		// the host's root: replace it (in the overlay) by a plain entry.
		if lst, err := os.Lstat(t); err == nil && lst.Mode()&os.ModeSymlink != 0 {
			if err := os.Remove(t); err != nil {
				return err
			}
		}
		if real, err := filepath.EvalSymlinks(filepath.Dir(t)); err == nil && !isUnder(real, []string{merged}) {
			return fmt.Errorf("mount point %s leaves the root filesystem", m.target)
		}
		if st.IsDir() {
			if err := os.MkdirAll(t, 0o755); err != nil {
				return fmt.Errorf("mount point %s: %w", m.target, err)
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(t), 0o755); err != nil {
				return fmt.Errorf("mount point %s: %w", m.target, err)
			}
			f, err := os.OpenFile(t, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("mount point %s: %w", m.target, err)
			}
			f.Close()
		}
		if err := unix.Mount(m.source, t, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s: %w", m.target, err)
		}
		if m.readOnly {
			if err := unix.Mount("", t, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("making %s read-only: %w", m.target, err)
			}
		}
	}
	cmd.SysProcAttr.Chroot = merged
	return cmd.Start()
}
