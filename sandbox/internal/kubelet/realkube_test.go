package kubelet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// TestAgentlessNodes registers a Windows and a virtual node next to no
// Linux node at all (no namespace needed) and checks how pods bound to them
// are reported: nothing ever starts.
func TestAgentlessNodes(t *testing.T) {
	needRoot(t)
	cluster := fmt.Sprintf("ka%d", os.Getpid()%100000)
	client := fake.NewSimpleClientset()
	cfg := Config{
		Nodes: []Node{
			{Name: "win", Kind: KindWindows, IPs: []string{"10.254.255.9"}, PodCIDRs: []string{"10.254.9.0/24"}},
			{Name: "virt", Kind: KindVirtual, IPs: []string{"10.254.255.10"}},
		},
		ClusterName: cluster, Images: map[string]string{"example.com/test/server:*": "/bin/true"}, StateDir: t.TempDir(),
	}
	_, ctx, stop := runKubelet(t, cfg, client)
	waitFor(t, "nodes", 5*time.Second, func() (bool, error) {
		l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 2, err
	})
	win, _ := client.CoreV1().Nodes().Get(ctx, "win", metav1.GetOptions{})
	if win.Labels[corev1.LabelOSStable] != "windows" || win.Labels[corev1.LabelWindowsBuild] == "" || win.Status.NodeInfo.OperatingSystem != "windows" || win.Spec.PodCIDR != "10.254.9.0/24" {
		t.Errorf("windows node: labels %v, nodeInfo %+v, podCIDR %q", win.Labels, win.Status.NodeInfo, win.Spec.PodCIDR)
	}
	virt, _ := client.CoreV1().Nodes().Get(ctx, "virt", metav1.GetOptions{})
	if virt.Labels["type"] != "virtual-kubelet" || virt.Labels["kubernetes.io/role"] != "agent" ||
		len(virt.Spec.Taints) != 1 || virt.Spec.Taints[0] != (corev1.Taint{Key: VirtualTaintKey, Value: VirtualProvider, Effect: corev1.TaintEffectNoSchedule}) {
		t.Errorf("virtual node: labels %v taints %v", virt.Labels, virt.Spec.Taints)
	}
	for _, n := range []*corev1.Node{win, virt} {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("node %s not Ready", n.Name)
		}
	}
	pod := func(name, node string, os *corev1.PodOS, policy corev1.RestartPolicy) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
			Spec: corev1.PodSpec{NodeName: node, OS: os, RestartPolicy: policy,
				Containers: []corev1.Container{{Name: "c", Image: "example.com/test/server:v1"}}}}
	}
	for _, p := range []*corev1.Pod{
		pod("linux-image", "win", nil, corev1.RestartPolicyAlways),
		pod("os-linux", "win", &corev1.PodOS{Name: corev1.Linux}, corev1.RestartPolicyAlways),
		pod("on-virt", "virt", nil, corev1.RestartPolicyAlways),
		pod("on-virt-never", "virt", nil, corev1.RestartPolicyNever),
	} {
		if _, err := client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) *corev1.Pod {
		p, _ := client.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
		return p
	}
	waitFor(t, "ImagePullBackOff on windows", 10*time.Second, func() (bool, error) {
		p := get("linux-image")
		if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false, fmt.Errorf("%+v", p.Status)
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return p.Status.Phase == corev1.PodPending && w.Reason == "ImagePullBackOff" &&
			strings.Contains(w.Message, `image operating system "linux" cannot be used on this platform`), fmt.Errorf("%+v", w)
	})
	waitFor(t, "PodOSNotSupported", 5*time.Second, func() (bool, error) {
		p := get("os-linux")
		return p.Status.Phase == corev1.PodFailed && p.Status.Reason == ReasonPodOSNotSupported && p.Status.Message == messagePodOSNotSupported, fmt.Errorf("%+v", p.Status)
	})
	for name, phase := range map[string]corev1.PodPhase{"on-virt": corev1.PodPending, "on-virt-never": corev1.PodFailed} {
		waitFor(t, "ProviderFailed "+name, 5*time.Second, func() (bool, error) {
			p := get(name)
			return p.Status.Phase == phase && p.Status.Reason == ReasonProviderFailed && strings.Contains(p.Status.Message, VirtualProvider), fmt.Errorf("%+v", p.Status)
		})
	}
	for _, name := range []string{"linux-image", "os-linux", "on-virt"} {
		p := get(name)
		if p.Status.PodIP != "" {
			t.Errorf("%s: pod IP %s", name, p.Status.PodIP)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.ContainerID != "" || cs.State.Running != nil {
				t.Errorf("%s: container ran: %+v", name, cs)
			}
		}
	}
	if left, _ := filepath.Glob(netnsPath("nd-" + cluster + "-p-*")); len(left) != 0 {
		t.Errorf("pod namespaces created for agentless pods: %v", left)
	}
	stop()
}

// startInCgroup starts argv in cg the way prepareAndStart does.
func startInCgroup(t *testing.T, cg *containerCgroup, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		done, err := cg.enter(cmd)
		if err != nil {
			errc <- err
			return
		}
		defer done()
		errc <- cmd.Start()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestContainerCgroupLimits: the CPU quota and memory limit land in the
// container's cgroup, the process starts inside it, an allocation beyond
// the limit is OOM-killed and counted, and the tree is removed afterwards.
func TestContainerCgroupLimits(t *testing.T) {
	needRoot(t)
	if _, err := detectCgroups(); err != nil {
		t.Skip(err)
	}
	cluster := fmt.Sprintf("kc%d", os.Getpid()%100000)
	t.Cleanup(func() { RemoveClusterCgroups(cluster) })
	res := corev1.ResourceRequirements{Limits: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}
	cg, err := newContainerCgroup(cluster, "pod1", "c", res)
	if err != nil {
		t.Fatal(err)
	}
	read := func(dir, f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		return strings.TrimSpace(string(b))
	}
	if cg.v2 {
		if got := read(cg.dirs[0], "cpu.max"); got != "25000 100000" {
			t.Errorf("cpu.max %q", got)
		}
		if got := read(cg.dirs[0], "memory.max"); got != "16777216" {
			t.Errorf("memory.max %q", got)
		}
	} else {
		if got := read(cg.dirs[0], "cpu.cfs_quota_us"); got != "25000" {
			t.Errorf("cpu.cfs_quota_us %q", got)
		}
		if got := read(cg.memDir, "memory.limit_in_bytes"); got != "16777216" {
			t.Errorf("memory.limit_in_bytes %q", got)
		}
	}
	sleep := startInCgroup(t, cg, "sleep", "30")
	for _, d := range cg.dirs {
		if procs := read(d, "cgroup.procs"); !strings.Contains(" "+strings.ReplaceAll(procs, "\n", " ")+" ", fmt.Sprintf(" %d ", sleep.Process.Pid)) {
			t.Errorf("%s/cgroup.procs = %q, want pid %d", d, procs, sleep.Process.Pid)
		}
	}
	sleep.Process.Kill()
	sleep.Wait()
	if cg.oomKilled() {
		t.Error("a killed sleep counted as OOM kill")
	}
	hog := startInCgroup(t, cg, "tail", "/dev/zero")
	done := make(chan error, 1)
	go func() { done <- hog.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("tail /dev/zero ended with %v, want SIGKILL by the OOM killer", err)
		}
	case <-time.After(30 * time.Second):
		hog.Process.Kill()
		t.Fatal("tail /dev/zero was not OOM-killed at a 16Mi limit")
	}
	if !cg.oomKilled() {
		t.Error("OOM kill not detected")
	}
	if cg.oomKilled() {
		t.Error("the same OOM kill counted twice")
	}
	if err := RemoveClusterCgroups(cluster); err != nil {
		t.Fatal(err)
	}
	for _, d := range ClusterCgroupDirs(cluster) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", d, err)
		}
	}
}
