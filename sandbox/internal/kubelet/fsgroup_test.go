package kubelet

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestSetFSGroup: a Secret file of mode 0400 becomes group fsGroup with
// group read, directories setgid; without fsGroup nothing changes.
func TestSetFSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "sub", "token")
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("x"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := setFSGroup(dir, &corev1.Pod{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o400 {
		t.Errorf("without fsGroup the mode changed to %v", fi.Mode())
	}
	g := int64(65532)
	if err := setFSGroup(dir, &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{FSGroup: &g}}}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(f)
	if fi.Mode().Perm() != 0o440 || fi.Sys().(*syscall.Stat_t).Gid != 65532 {
		t.Errorf("token: mode %v gid %d, want 0440 and 65532", fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid)
	}
	if di, _ := os.Stat(filepath.Dir(f)); di.Mode()&os.ModeSetgid == 0 || di.Sys().(*syscall.Stat_t).Gid != 65532 {
		t.Errorf("dir: mode %v, want setgid and gid 65532", di.Mode())
	}
}
