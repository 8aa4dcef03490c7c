package kubelet

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestAllocatorPersistsAndSkipsReserved(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ipam.json")
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/30"), netip.MustParsePrefix("fd00::/64")}
	a, err := newAllocator(file, cidrs)
	if err != nil {
		t.Fatal(err)
	}
	ips, err := a.Allocate("pod1")
	if err != nil {
		t.Fatal(err)
	}
	// /30: .0 network, .1 gateway, .3 broadcast: only .2 is usable.
	if ips[0] != netip.MustParseAddr("10.1.2.2") || ips[1] != netip.MustParseAddr("fd00::2") {
		t.Fatalf("got %v", ips)
	}
	again, _ := a.Allocate("pod1")
	if !slices.Equal(again, ips) {
		t.Fatalf("same owner got %v then %v", ips, again)
	}
	if _, err := a.Allocate("pod2"); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("full /30: err %v", err)
	}
	// A restarted kubelet sees the allocation and keeps it for its owner.
	b, err := newAllocator(file, cidrs)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Allocate("pod1"); !slices.Equal(got, ips) {
		t.Fatalf("after reload pod1 got %v, want %v", got, ips)
	}
	if err := b.Retain(map[string]bool{"pod9": true}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Allocate("pod2")
	if err != nil || got[0] != netip.MustParseAddr("10.1.2.2") {
		t.Fatalf("after pruning pod1, pod2 got %v, %v", got, err)
	}
}

func TestAllocatorRoundRobin(t *testing.T) {
	a, _ := newAllocator(filepath.Join(t.TempDir(), "f"), []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")})
	x, _ := a.Allocate("x")
	_ = a.Release("x")
	y, _ := a.Allocate("y")
	if x[0] == y[0] {
		t.Fatalf("a just-freed address %s was handed out again at once", x[0])
	}
}

func TestResolveImage(t *testing.T) {
	images := map[string]string{
		"ghcr.io/netdoctor/netctl:*": "/bin/netctl",
		"sandbox.local/echo:*":       "/bin/echo-server",
		"*/coredns:v1.*":             "/bin/coredns",
		"exact.io/x:1":               "/bin/x",
	}
	tests := map[string]struct {
		ref  string
		want string
	}{
		"repo wildcard":          {"ghcr.io/netdoctor/netctl:v0.3.0", "/bin/netctl"},
		"repo wildcard digest":   {"ghcr.io/netdoctor/netctl@sha256:abc", "/bin/netctl"},
		"other repo netctl":      {"example.com/bad/netctl:v0.3.0", ""},
		"echo":                   {"sandbox.local/echo:v1", "/bin/echo-server"},
		"last element pattern":   {"registry.k8s.io/coredns/coredns:v1.11.1", "/bin/coredns"},
		"last element wrong tag": {"registry.k8s.io/coredns/coredns:v2.0", ""},
		"exact":                  {"exact.io/x:1", "/bin/x"},
		"exact other tag":        {"exact.io/x:2", ""},
		"unknown":                {"busybox", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := resolveImage(images, tc.ref)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("resolveImage(%q) = %q, %v; want %q", tc.ref, got, ok, tc.want)
			}
		})
	}
}

func TestContainerCommand(t *testing.T) {
	tests := map[string]struct {
		cmd, args []string
		want      []string
	}{
		"entrypoint":      {nil, []string{"agent", "--port=1"}, []string{"/opt/netctl", "agent", "--port=1"}},
		"image name":      {[]string{"netctl", "agent"}, []string{"--x"}, []string{"/opt/netctl", "agent", "--x"}},
		"absolute binary": {[]string{"/opt/netctl"}, nil, []string{"/opt/netctl"}},
		"host tool":       {[]string{"sh", "-c", "true"}, nil, []string{"/bin/sh", "-c", "true"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := containerCommand("/opt/netctl", "ghcr.io/netdoctor/netctl:v1", tc.cmd, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if name == "host tool" {
				got[0] = "/bin/" + filepath.Base(got[0])
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := containerCommand("/opt/netctl", "x:1", []string{"no-such-tool-nd"}, nil); err == nil {
		t.Fatal("unknown command word: want an error")
	}
}

func TestContainerEnv(t *testing.T) {
	client := fake.NewSimpleClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"token": []byte("t0k")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"mode": "fast", "A": "1"}},
	)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u-1", Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"},
	}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	c := &corev1.Container{
		Name:    "c",
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			{Name: "NAME", ValueFrom: field("metadata.name")},
			{Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "UID", ValueFrom: field("metadata.uid")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")},
			{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
			{Name: "IP", ValueFrom: field("status.podIP")},
			{Name: "IPS", ValueFrom: field("status.podIPs")},
			{Name: "HOSTIP", ValueFrom: field("status.hostIP")},
			{Name: "HOSTIPS", ValueFrom: field("status.hostIPs")},
			{Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "token"}}},
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "mode"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k", Optional: ptr.To(true)}}},
			{Name: "EXPANDED", Value: "$(NAME).$(NS)"},
		},
	}
	pc := podContext{pod: pod, podIPs: []string{"10.0.0.5", "fd00::5"}, hostIPs: []string{"192.168.0.1", "fd01::1"}}
	env, err := containerEnv(context.Background(), client, pc, c, []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "10.96.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"NAME": "p", "NS": "ns", "UID": "u-1", "NODE": "n1", "SA": "sa",
		"IP": "10.0.0.5", "IPS": "10.0.0.5,fd00::5", "HOSTIP": "192.168.0.1", "HOSTIPS": "192.168.0.1,fd01::1",
		"APP": "x", "TOKEN": "t0k", "MODE": "fast", "CM_mode": "fast", "CM_A": "1",
		"EXPANDED": "p.ns", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "HOSTNAME": "p", "PATH": defaultPath,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["OPT"]; ok {
		t.Errorf("optional missing secret key set OPT")
	}

	c.Env = append(c.Env, corev1.EnvVar{Name: "BAD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k"}}})
	_, err = containerEnv(context.Background(), client, pc, c, nil)
	var ce errConfig
	if err == nil || !strings.Contains(err.Error(), `secret "missing"`) || !asErrConfig(err, &ce) {
		t.Fatalf("missing required secret: err %v", err)
	}
}

func asErrConfig(err error, target *errConfig) bool {
	e, ok := err.(errConfig)
	if ok {
		*target = e
	}
	return ok
}

func TestResolvConf(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}}
	got := resolvConf(pod, []string{"10.96.0.10", "fd00::10"}, "cluster.local")
	for _, want := range []string{"nameserver 10.96.0.10\n", "nameserver fd00::10\n", "search team.svc.cluster.local svc.cluster.local cluster.local\n", "options ndots:5\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("ClusterFirst resolv.conf lacks %q:\n%s", want, got)
		}
	}
	pod.Spec.HostNetwork = true
	if got := resolvConf(pod, []string{"10.96.0.10"}, "cluster.local"); strings.Contains(got, "nameserver") {
		t.Errorf("hostNetwork+ClusterFirst must not get a name server (host resolver is off limits):\n%s", got)
	}
	pod.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	if got := resolvConf(pod, []string{"10.96.0.10"}, "cluster.local"); !strings.Contains(got, "nameserver 10.96.0.10") {
		t.Errorf("ClusterFirstWithHostNet: %s", got)
	}
}

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	pulling := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}
	crashing := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	ok := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}
	bad := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}
	tests := map[string]struct {
		policy     corev1.RestartPolicy
		init, apps []corev1.ContainerStatus
		want       corev1.PodPhase
	}{
		"running":             {corev1.RestartPolicyAlways, nil, []corev1.ContainerStatus{running}, corev1.PodRunning},
		"image pull":          {corev1.RestartPolicyAlways, nil, []corev1.ContainerStatus{running, pulling}, corev1.PodPending},
		"crash loop":          {corev1.RestartPolicyAlways, nil, []corev1.ContainerStatus{crashing}, corev1.PodRunning},
		"never ok":            {corev1.RestartPolicyNever, nil, []corev1.ContainerStatus{ok}, corev1.PodSucceeded},
		"never failed":        {corev1.RestartPolicyNever, nil, []corev1.ContainerStatus{ok, bad}, corev1.PodFailed},
		"onfailure restarts":  {corev1.RestartPolicyOnFailure, nil, []corev1.ContainerStatus{bad}, corev1.PodRunning},
		"init pending":        {corev1.RestartPolicyAlways, []corev1.ContainerStatus{running}, []corev1.ContainerStatus{pulling}, corev1.PodPending},
		"init failed (never)": {corev1.RestartPolicyNever, []corev1.ContainerStatus{bad}, []corev1.ContainerStatus{pulling}, corev1.PodFailed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := podPhase(tc.policy, tc.init, tc.apps); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBuildStatusConditions(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "i:1"}, {Name: "b", Image: "unknown:1"}}}}
	k := &kubelet{cfg: Config{Images: map[string]string{"i:1": "/bin/true"}}}
	w := newPodWorker(k, &nodeState{}, pod)
	w.setupDone = true
	w.podIPs, w.hostIPs = []string{"10.0.0.2", "fd00::2"}, []string{"192.168.1.1"}
	w.containers[0].running, w.containers[0].ready, w.containers[0].everStarted = true, true, true
	w.containers[1].waitReason = "ImagePullBackOff"
	st := w.buildStatus(pod)
	if st.PodIP != "10.0.0.2" || len(st.PodIPs) != 2 || st.HostIP != "192.168.1.1" || st.Phase != corev1.PodPending {
		t.Fatalf("status %+v", st)
	}
	conds := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range st.Conditions {
		conds[c.Type] = c
	}
	if conds[corev1.PodReady].Status != corev1.ConditionFalse || !strings.Contains(conds[corev1.PodReady].Message, "[b]") {
		t.Errorf("Ready: %+v", conds[corev1.PodReady])
	}
	if conds[corev1.PodInitialized].Status != corev1.ConditionTrue || conds[corev1.PodReadyToStartContainers].Status != corev1.ConditionTrue {
		t.Errorf("conditions %+v", st.Conditions)
	}
	if s := st.ContainerStatuses[1]; s.State.Waiting == nil || s.State.Waiting.Reason != "ImagePullBackOff" || s.Ready || s.ImageID != "" {
		t.Errorf("unknown image status %+v", s)
	}
	if s := st.ContainerStatuses[0]; s.State.Running == nil || !s.Ready || s.ImageID != "sandbox:///bin/true" || s.ContainerID == "" {
		t.Errorf("running status %+v", s)
	}
	// Nothing changed: the same transition times, so no status write.
	again := w.buildStatus(pod)
	if again.Conditions[3].LastTransitionTime != st.Conditions[3].LastTransitionTime {
		t.Errorf("transition time moved without a transition")
	}
}

func TestExpandCommand(t *testing.T) {
	env := []string{"POD_NAMESPACE=ns1", "EMPTY=", "URL=http://x:8080/a=b"}
	cmd, args := expandCommand(
		[]string{"netctl", "--ns=$(POD_NAMESPACE)"},
		[]string{
			"$(POD_NAMESPACE)",     // defined
			"$$(POD_NAMESPACE)",    // escaped: literal
			"$(UNDEFINED)",         // undefined: literal
			"[$(EMPTY)]",           // defined but empty
			"$(URL)",               // value containing '='
			"$$",                   // escaped dollar
			"$POD_NAMESPACE",       // shell syntax: untouched
			"a$(POD_NAMESPACE)b$(", // unterminated reference: literal
		}, env)
	if want := []string{"netctl", "--ns=ns1"}; !slices.Equal(cmd, want) {
		t.Errorf("command: got %q want %q", cmd, want)
	}
	want := []string{"ns1", "$(POD_NAMESPACE)", "$(UNDEFINED)", "[]", "http://x:8080/a=b", "$", "$POD_NAMESPACE", "ans1b$("}
	if !slices.Equal(args, want) {
		t.Errorf("args: got %q want %q", args, want)
	}
	if c, a := expandCommand(nil, nil, env); c != nil || a != nil {
		t.Errorf("nil command/args must stay nil (empty command means the image entrypoint): %q %q", c, a)
	}
}
