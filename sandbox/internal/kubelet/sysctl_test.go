package kubelet

import (
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestPodSysctlsInPodNetns: a pod's net.* sysctl lands in its own network
// namespace (read back there) and leaves the host's value alone; a non-net
// sysctl fails the setup with its name.
func TestPodSysctlsInPodNetns(t *testing.T) {
	needRoot(t)
	if err := ensureNetnsDir(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("nd-sysctltest-%d", os.Getpid())
	if err := createNetns(name); err != nil {
		t.Fatal(err)
	}
	defer deleteNetns(name)
	host, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{
		Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ping_group_range", Value: "65532 65532"}}}}}
	if err := applyPodSysctls(netnsPath(name), pod); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := inNetns(netnsPath(name), func() (err error) {
		got, err = os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(got)); len(f) != 2 || f[0] != "65532" || f[1] != "65532" {
		t.Errorf("pod netns ping_group_range = %q, want 65532 65532", got)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range"); string(after) != string(host) {
		t.Errorf("host ping_group_range changed: %q -> %q", host, after)
	}
	pod.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.shm_rmid_forced", Value: "1"}}
	if err := applyPodSysctls(netnsPath(name), pod); err == nil || !strings.Contains(err.Error(), "kernel.shm_rmid_forced") {
		t.Errorf("non-net sysctl: err %v, want one naming it", err)
	}
}
