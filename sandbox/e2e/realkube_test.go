package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/kubelet"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// realKubeName is the cluster of the issue-8 tests (its own, small).
var realKubeName = os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2ek"

// TestRealKubeBadInput: the new flags reject bad values with exit 2 and a
// message naming the flag, and nothing is created.
func TestRealKubeBadInput(t *testing.T) {
	needOwnCluster(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2ekbad"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--pod-security", "strict"}, "--pod-security"},
		{[]string{"--windows-nodes", "-1"}, "--windows-nodes"},
		{[]string{"--virtual-nodes", "-2"}, "--virtual-nodes"},
		{[]string{"--nodes", "250", "--windows-nodes", "2", "--virtual-nodes", "2"}, "at most 253"},
	} {
		r := sandbox(append([]string{"up", "--name", name}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("up %v: exit %d, stderr %q; want exit 2 naming %s", c.args, r.code, r.stderr, c.want)
		}
		if _, err := state.Load(name); err == nil {
			t.Errorf("up %v created state", c.args)
			sandbox("down", "--name", name)
		}
	}
}

// TestRealKube brings up one small cluster with every issue-8 condition
// (baseline Pod Security, isolated control plane, a Windows and a virtual
// node) and checks each mechanism, then that down leaves no cgroup.
func TestRealKube(t *testing.T) {
	needOwnCluster(t)
	sandbox("down", "--name", realKubeName) // leftover of an aborted run
	t0 := time.Now()
	r := sandbox("up", "--name", realKubeName, "--nodes", "2", "--ip-family", "dual", "--zones", "1",
		"--pod-security", "baseline", "--isolated-control-plane", "--windows-nodes", "1", "--virtual-nodes", "1", "--timeout", "4m")
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			sandbox("down", "--name", realKubeName)
		}
	})
	if r.code != 0 {
		t.Fatalf("up: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("up with --pod-security baseline --isolated-control-plane --windows-nodes 1 --virtual-nodes 1: %.1fs", time.Since(t0).Seconds())
	s, err := state.Load(realKubeName)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Client(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc := func(args ...string) (string, error) {
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", s.Kubeconfig, "--request-timeout=20s"}, args...)...).CombinedOutput()
		return string(out), err
	}
	ctx := context.Background()
	var status struct {
		PodSecurity          string `json:"podSecurity"`
		IsolatedControlPlane bool   `json:"isolatedControlPlane"`
		AgentlessNodes       []struct {
			Name, Kind string
		} `json:"agentlessNodes"`
	}
	if err := json.Unmarshal([]byte(mustSandbox(t, "status", "--name", realKubeName, "-o", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if status.PodSecurity != "baseline" || !status.IsolatedControlPlane || len(status.AgentlessNodes) != 2 ||
		status.AgentlessNodes[0].Kind != "windows" || status.AgentlessNodes[1].Kind != "virtual" {
		t.Errorf("status -o json: %+v", status)
	}

	// Shared pods: echo (baseline-compliant) in default, and a privileged
	// hostNetwork echo in a namespace labelled enforce=privileged.
	echo := echoPod("echo", 8080)
	if _, err := c.CoreV1().Pods("default").Create(ctx, echo, metav1.CreateOptions{}); err != nil {
		t.Fatalf("baseline-compliant pod rejected: %v", err)
	}
	t.Run("PodSecurityBaseline", func(t *testing.T) {
		bad := echoPod("privileged", 8081)
		bad.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		_, err := c.CoreV1().Pods("default").Create(ctx, bad, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `violates PodSecurity "baseline:latest"`) || !strings.Contains(err.Error(), "privileged") {
			t.Errorf("privileged pod in default: %v; want the PodSecurity baseline rejection", err)
		} else {
			t.Logf("rejected: %v", err)
		}
		hn := echoPod("hostnet", 8081)
		hn.Spec.HostNetwork = true
		if _, err := c.CoreV1().Pods("default").Create(ctx, hn, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "host namespaces") {
			t.Errorf("hostNetwork pod in default: %v; want a PodSecurity rejection naming host namespaces", err)
		}
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "priv",
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		priv := echoPod("privhost", 18081)
		priv.Spec.HostNetwork = true
		priv.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		priv.Spec.NodeSelector = map[string]string{corev1.LabelHostname: s.Nodes[0].Name}
		if _, err := c.CoreV1().Pods("priv").Create(ctx, priv, metav1.CreateOptions{}); err != nil {
			t.Fatalf("privileged hostNetwork pod in the enforce=privileged namespace: %v", err)
		}
		waitPodReady(t, c, "priv", "privhost")
		waitPodReady(t, c, "default", "echo")
		// The sandbox's own add-on in the exempt kube-system still runs.
		d, err := c.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil || d.Status.AvailableReplicas != 2 {
			t.Errorf("CoreDNS under baseline: %v available, %v", d.Status.AvailableReplicas, err)
		}
	})

	t.Run("IsolatedControlPlane", func(t *testing.T) {
		p := waitPodReady(t, c, "default", "echo")
		for _, ip := range p.Status.PodIPs {
			dev, kind, err := netcfg.HostRouteVia(ctx, ip.IP)
			if err != nil || kind != "unreachable" {
				t.Errorf("host route to pod IP %s: dev %q kind %q %v; want unreachable", ip.IP, dev, kind, err)
			}
		}
		guardsHold(t, s)
		out, err := kc("get", "--raw", "/api/v1/namespaces/default/pods/echo:8080/proxy/")
		if err == nil {
			t.Errorf("pod proxy to pod IP worked (%q); want failure on an isolated control plane", out)
		} else {
			t.Logf("pod proxy to pod IP fails as on such clusters: %s", lastLine(out))
		}
		out, err = kc("get", "--raw", "/api/v1/namespaces/priv/pods/privhost:18081/proxy/")
		if err != nil || !strings.Contains(out, `"host":"`+s.Nodes[0].Name+`"`) {
			t.Errorf("pod proxy to the hostNetwork pod: %q, %v", out, err)
		}
		out, err = kc("exec", "echo", "--", "hostname")
		if err != nil || strings.TrimSpace(out) != "echo" {
			t.Errorf("kubectl exec: %q, %v", out, err)
		}
		out, err = kc("logs", "echo")
		if err != nil || !strings.Contains(out, "echo-server") {
			t.Errorf("kubectl logs: %q, %v", out, err)
		}
		body, took, err := portForwardGet(s.Kubeconfig, "default", "echo", 8080)
		if err != nil || !strings.Contains(body, `"host":"echo"`) {
			t.Errorf("port-forward GET: %q, %v", body, err)
		} else {
			t.Logf("port-forward: HTTP GET through the forwarded port answered by the pod in %s", took.Round(time.Millisecond))
		}
	})

	t.Run("AgentlessNodes", func(t *testing.T) {
		win, virt := s.AgentlessNodes[0].Name, s.AgentlessNodes[1].Name
		for _, name := range []string{win, virt} {
			n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ready := false
			for _, cond := range n.Status.Conditions {
				ready = ready || (cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue)
			}
			if !ready {
				t.Errorf("node %s not Ready", name)
			}
		}
		wn, _ := c.CoreV1().Nodes().Get(ctx, win, metav1.GetOptions{})
		if wn.Labels[corev1.LabelOSStable] != "windows" || wn.Labels[corev1.LabelWindowsBuild] == "" || wn.Status.NodeInfo.OperatingSystem != "windows" {
			t.Errorf("windows node labels %v, os %q", wn.Labels, wn.Status.NodeInfo.OperatingSystem)
		}
		vn, _ := c.CoreV1().Nodes().Get(ctx, virt, metav1.GetOptions{})
		if vn.Labels["type"] != "virtual-kubelet" || vn.Labels["kubernetes.io/role"] != "agent" || len(vn.Spec.Taints) != 1 ||
			vn.Spec.Taints[0].Key != "virtual-kubelet.io/provider" || vn.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("virtual node labels %v taints %v", vn.Labels, vn.Spec.Taints)
		}
		// Pods pinned there: a Linux image on Windows, a pod declaring
		// os linux on Windows, a tolerating pod on the virtual node.
		onWin := echoPod("onwin", 8080)
		onWin.Spec.NodeSelector = map[string]string{corev1.LabelOSStable: "windows"}
		osLinux := echoPod("oslinux", 8080)
		osLinux.Spec.NodeName, osLinux.Spec.NodeSelector = win, nil
		osLinux.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
		onVirt := echoPod("onvirt", 8080)
		onVirt.Spec.NodeSelector = map[string]string{"type": "virtual-kubelet"}
		onVirt.Spec.Tolerations = []corev1.Toleration{{Key: "virtual-kubelet.io/provider", Operator: corev1.TolerationOpExists}}
		untol := echoPod("untolerated", 8080)
		untol.Spec.NodeSelector = map[string]string{"type": "virtual-kubelet"}
		for _, p := range []*corev1.Pod{onWin, osLinux, onVirt, untol} {
			if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		check := func(name, what string, ok func(p *corev1.Pod) bool) *corev1.Pod {
			t.Helper()
			var p *corev1.Pod
			deadline := time.Now().Add(30 * time.Second)
			for {
				p, err = c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
				if err == nil && ok(p) {
					return p
				}
				if time.Now().After(deadline) {
					t.Fatalf("pod %s: want %s; status %+v %v", name, what, p.Status, err)
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
		p := check("onwin", "Pending with ImagePullBackOff: linux image on windows", func(p *corev1.Pod) bool {
			if p.Spec.NodeName != win || p.Status.Phase != corev1.PodPending || len(p.Status.ContainerStatuses) != 1 {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "ImagePullBackOff" && strings.Contains(w.Message, `image operating system "linux" cannot be used on this platform`)
		})
		t.Logf("pod on the windows node: %s: %s", p.Status.ContainerStatuses[0].State.Waiting.Reason, p.Status.ContainerStatuses[0].State.Waiting.Message)
		p = check("oslinux", "Failed PodOSNotSupported", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "PodOSNotSupported"
		})
		t.Logf("os=linux pod on the windows node: %s %s: %s", p.Status.Phase, p.Status.Reason, p.Status.Message)
		p = check("onvirt", "Pending ProviderFailed", func(p *corev1.Pod) bool {
			return p.Spec.NodeName == virt && p.Status.Phase == corev1.PodPending && p.Status.Reason == "ProviderFailed"
		})
		t.Logf("tolerating pod on the virtual node: %s %s: %s", p.Status.Phase, p.Status.Reason, p.Status.Message)
		check("untolerated", "unschedulable (taint)", func(p *corev1.Pod) bool {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && strings.Contains(cond.Message, "untolerated taint") {
					return true
				}
			}
			return false
		})
		// Never a process: no pod network namespace, no IP, no running container.
		time.Sleep(2 * time.Second)
		for _, name := range []string{"onwin", "oslinux", "onvirt"} {
			p, _ := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			sum := sha256.Sum256([]byte(p.UID))
			ns := "nd-" + realKubeName + "-p-" + hex.EncodeToString(sum[:5])
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				t.Errorf("pod %s has a network namespace %s", name, ns)
			}
			if p.Status.PodIP != "" {
				t.Errorf("pod %s has IP %s", name, p.Status.PodIP)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running != nil || cs.ContainerID != "" || cs.RestartCount != 0 {
					t.Errorf("pod %s container %s ran: %+v", name, cs.Name, cs)
				}
			}
		}
		for _, name := range []string{"onwin", "oslinux", "onvirt", "untolerated"} {
			c.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}
	})

	t.Run("ResourceLimits", func(t *testing.T) {
		dirs := kubelet.ClusterCgroupDirs(realKubeName)
		if len(dirs) == 0 {
			t.Skip("this machine has no usable cgroups")
		}
		burn := shellPod("burn", "while :; do :; done")
		burn.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
		hog := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hog"}, Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1), NodeSelector: linuxOnly(),
			Containers: []corev1.Container{{Name: "hog", Image: "sandbox.local/echo:v1", Command: []string{"tail", "/dev/zero"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}}}}}}
		for _, p := range []*corev1.Pod{burn, hog} {
			if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		bp := waitPodReady(t, c, "default", "burn")
		v1 := strings.HasSuffix(dirs[0], "/cpu/"+kubelet.CgroupParent+"/"+realKubeName)
		cpuDir := filepath.Join(dirs[0], string(bp.UID), "burn")
		if v1 {
			if q := readTrim(filepath.Join(cpuDir, "cpu.cfs_quota_us")); q != "10000" {
				t.Errorf("cpu.cfs_quota_us = %q, want 10000 (100m of a 100000 us period)", q)
			}
		} else if q := readTrim(filepath.Join(cpuDir, "cpu.max")); q != "10000 100000" {
			t.Errorf("cpu.max = %q, want \"10000 100000\"", q)
		}
		procs := readTrim(filepath.Join(cpuDir, "cgroup.procs"))
		if procs == "" {
			t.Errorf("no process in %s", cpuDir)
		}
		n0, tt0 := cpuStat(t, cpuDir)
		time.Sleep(3 * time.Second)
		n1, tt1 := cpuStat(t, cpuDir)
		if n1 <= n0 {
			t.Errorf("nr_throttled %d -> %d: a busy loop over its 100m limit must be throttled", n0, n1)
		}
		t.Logf("busy loop with limits.cpu=100m over 3s: nr_throttled +%d, throttled time +%.2fs", n1-n0, float64(tt1-tt0)/1e9)

		var oom *corev1.ContainerStateTerminated
		deadline := time.Now().Add(60 * time.Second)
		var hp *corev1.Pod
		for oom == nil && time.Now().Before(deadline) {
			hp, err = c.CoreV1().Pods("default").Get(ctx, "hog", metav1.GetOptions{})
			if err == nil && len(hp.Status.ContainerStatuses) == 1 {
				cs := hp.Status.ContainerStatuses[0]
				for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
					if term != nil && term.Reason == "OOMKilled" {
						oom = term
					}
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		if oom == nil {
			t.Fatalf("hog (tail /dev/zero, limits.memory=32Mi) never OOMKilled: %+v", hp.Status)
		}
		if oom.ExitCode != 137 {
			t.Errorf("OOMKilled exit code %d, want 137", oom.ExitCode)
		}
		memDir := filepath.Join(dirs[len(dirs)-1], string(hp.UID), "hog")
		if v1 {
			if l := readTrim(filepath.Join(memDir, "memory.limit_in_bytes")); l != "33554432" {
				t.Errorf("memory.limit_in_bytes = %q, want 33554432", l)
			}
		}
		// Restarted per restartPolicy Always.
		deadline = time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			hp, _ = c.CoreV1().Pods("default").Get(ctx, "hog", metav1.GetOptions{})
			if hp.Status.ContainerStatuses[0].RestartCount >= 1 {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if rc := hp.Status.ContainerStatuses[0].RestartCount; rc < 1 {
			t.Errorf("hog restartCount %d after OOMKilled, want >= 1", rc)
		}
		t.Logf("hog: OOMKilled exit %d, restartCount %d", oom.ExitCode, hp.Status.ContainerStatuses[0].RestartCount)
		// Deleting the pod removes its cgroups.
		c.CoreV1().Pods("default").Delete(ctx, "burn", metav1.DeleteOptions{})
		deadline = time.Now().Add(30 * time.Second)
		for exists(filepath.Join(dirs[0], string(bp.UID))) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if exists(filepath.Join(dirs[0], string(bp.UID))) {
			t.Errorf("cgroup of deleted pod burn still present")
		}
	})

	t.Run("DownLeavesNoCgroup", func(t *testing.T) {
		dirs := kubelet.ClusterCgroupDirs(realKubeName)
		r := sandbox("down", "--name", realKubeName)
		downDone = true
		if r.code != 0 {
			t.Fatalf("down: exit %d\n%s", r.code, r.stderr)
		}
		for _, d := range dirs {
			if exists(d) {
				t.Errorf("cgroup %s left after down", d)
			}
		}
		if nss, _ := cluster.Namespaces(realKubeName); len(nss) != 0 {
			t.Errorf("namespaces left: %v", nss)
		}
	})
}

// needOwnCluster skips like need, except that it runs when only the shared
// cluster is off (NETDOCTOR_E2E_SHARED=0): these tests bring up their own.
func needOwnCluster(t *testing.T) {
	t.Helper()
	if skipReason != "" && os.Getenv("NETDOCTOR_E2E_SHARED") != "0" {
		t.Skip(skipReason)
	}
	if os.Geteuid() != 0 || os.Getenv("NETDOCTOR_SANDBOX_E2E") == "0" || !exists(binary) {
		t.Skip("needs root and the built binary")
	}
}

// linuxOnly keeps a pod off the Windows node (the virtual one is tainted).
func linuxOnly() map[string]string { return map[string]string{corev1.LabelOSStable: "linux"} }

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func readTrim(p string) string { b, _ := os.ReadFile(p); return strings.TrimSpace(string(b)) }

// cpuStat returns nr_throttled and the throttled time (ns) of a cgroup.
func cpuStat(t *testing.T, dir string) (int64, int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	var n, tt int64
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, " ")
		x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "nr_throttled":
			n = x
		case "throttled_time": // v1, ns
			tt = x
		case "throttled_usec": // v2
			tt = x * 1000
		}
	}
	return n, tt
}

func echoPod(name string, port int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			NodeSelector:                  linuxOnly(),
			Containers: []corev1.Container{{
				Name: "echo", Image: "sandbox.local/echo:v1",
				Args: []string{"echo-server", fmt.Sprintf("--port=%d", port)},
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port))}}, PeriodSeconds: 1},
			}},
		},
	}
}

func shellPod(name, script string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To[int64](1), NodeSelector: linuxOnly(),
		Containers: []corev1.Container{{Name: name, Image: "sandbox.local/echo:v1", Command: []string{"sh", "-c", script}}}}}
}

func waitPodReady(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := c.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return p
				}
			}
		}
		if time.Now().After(deadline) {
			if p != nil {
				t.Fatalf("pod %s/%s not Ready after 60s: %+v", ns, name, p.Status)
			}
			t.Fatalf("pod %s/%s not Ready after 60s: %v", ns, name, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

var forwardingRE = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> `)

// portForwardGet runs `kubectl port-forward pod/NAME :PORT` on loopback,
// does one HTTP GET through the local port and stops kubectl.
func portForwardGet(kubeconfig, ns, pod string, port int) (string, time.Duration, error) {
	cmd := exec.Command("kubectl", "--kubeconfig", kubeconfig, "-n", ns, "port-forward", "--address", "127.0.0.1", "pod/"+pod, fmt.Sprintf(":%d", port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	local := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := forwardingRE.FindStringSubmatch(sc.Text()); m != nil {
				local <- m[1]
			}
		}
		close(local)
	}()
	var lp string
	select {
	case lp = <-local:
	case <-time.After(20 * time.Second):
	}
	if lp == "" {
		return "", 0, fmt.Errorf("kubectl port-forward printed no local port: %s", stderr.String())
	}
	t0 := time.Now()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://127.0.0.1:" + lp + "/")
	if err != nil {
		return "", 0, fmt.Errorf("GET through port-forward: %w (kubectl: %s)", err, stderr.String())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), time.Since(t0), err
}
