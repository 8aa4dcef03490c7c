package kube

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/probe"
)

func writeKubeconfig(t *testing.T, servers map[string]string, current string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for name, url := range servers {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\n", name, url)
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: abc\ncontexts:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: u\n", name, name)
	}
	fmt.Fprintf(&b, "current-context: %s\n", current)
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRESTConfigPicksContextAndRaisesLimits(t *testing.T) {
	p := writeKubeconfig(t, map[string]string{"a": "https://127.0.0.1:1111", "b": "https://127.0.0.1:2222"}, "a")
	cfg, err := RESTConfig(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:1111" {
		t.Errorf("current context: host = %s", cfg.Host)
	}
	cfg, err = RESTConfig(p, "b")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:2222" {
		t.Errorf("context b: host = %s", cfg.Host)
	}
	if cfg.QPS < 100 || cfg.Burst < 200 {
		t.Errorf("QPS/Burst = %v/%v, want >= 100/200", cfg.QPS, cfg.Burst)
	}
	if cfg.Timeout != 0 {
		t.Errorf("Timeout = %v; a client timeout would cut probe streams", cfg.Timeout)
	}
	if _, err := RESTConfig(p, "nope"); err == nil {
		t.Error("unknown context: want error")
	}
}

func TestNewFailsFastWhenServerIsDown(t *testing.T) {
	// A port nothing listens on: bind, note the port, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := writeKubeconfig(t, map[string]string{"a": "https://" + addr}, "a")

	start := time.Now()
	_, err = New(context.Background(), "src", Options{Kubeconfig: p, Hint: "srcKubeConfig/--kubeconfig"})
	if err == nil {
		t.Fatal("want error")
	}
	want := fmt.Sprintf("cannot reach the Kubernetes API server at https://%s: connection refused; check srcKubeConfig/--kubeconfig", addr)
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v, want fail fast", d)
	}
}

func TestNewTimesOutOnSilentServer(t *testing.T) {
	// Accepts TCP but never answers TLS: must give up after ReachTimeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p := writeKubeconfig(t, map[string]string{"a": "https://" + l.Addr().String()}, "a")
	start := time.Now()
	_, err = New(context.Background(), "src", Options{Kubeconfig: p, ReachTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 500ms") {
		t.Fatalf("error = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestNewSucceedsAgainstServer(t *testing.T) {
	// TLS: clientcmd sends credentials only over TLS.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer abc" {
			http.Error(w, "no auth: "+got, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"major":"1","minor":"34","gitVersion":"v1.34.4"}`)
	}))
	defer srv.Close()
	p := writeKubeconfig(t, map[string]string{"a": srv.URL}, "a")
	c, err := New(context.Background(), "src", Options{Kubeconfig: p})
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != srv.URL || c.HTTP == nil {
		t.Errorf("client = %+v", c)
	}
}

// TestPodProxyStreamsThroughRealHTTPPath sends a probe batch the way
// check does (agent.StreamProbe over Client.HTTP to PodProxyURL) and checks
// the API path, the credentials, and that results arrive while the server
// is still writing.
func TestPodProxyStreamsThroughRealHTTPPath(t *testing.T) {
	release := make(chan struct{})
	var gotPath, gotAuth, gotToken string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.Method + " " + r.URL.Path
		gotAuth = r.Header.Get("Authorization")
		gotToken = r.Header.Get(agent.TokenHeader)
		fmt.Fprintln(w, `{"id":"a","ok":true}`)
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprintln(w, `{"id":"b","ok":false,"class":"refused"}`)
	}))
	defer srv.Close()

	c, err := NewForConfig("src", &rest.Config{Host: srv.URL, BearerToken: "abc",
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	err = agent.StreamProbe(ctx, c.HTTP, c.PodProxyURL("ns1", "agent-x", 8889), "tok",
		agent.ProbeRequest{Concurrency: 1, TimeoutSeconds: 1}, func(r probe.Result) {
			got = append(got, r.ID)
			if r.ID == "a" {
				close(release) // the second line is written only after the first arrived
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("results %v", got)
	}
	if gotPath != "POST /api/v1/namespaces/ns1/pods/agent-x:8889/proxy/v1/probe" {
		t.Errorf("path %q", gotPath)
	}
	if gotAuth != "Bearer abc" || gotToken != "tok" {
		t.Errorf("Authorization %q, token header %q", gotAuth, gotToken)
	}
}

func TestPodProxyURLKeepsServerPath(t *testing.T) {
	c, err := NewForConfig("src", &rest.Config{Host: "https://rancher.example/k8s/clusters/c-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.PodProxyURL("ns", "p", 1), "https://rancher.example/k8s/clusters/c-1/api/v1/namespaces/ns/pods/p:1/proxy"; got != want {
		t.Errorf("got %s want %s", got, want)
	}
}

// TestNodeSkipReasons: nodes no agent can run on are told apart, each with
// its reason.
func TestNodeSkipReasons(t *testing.T) {
	ip := corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.9"}}}
	cs := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "linux", Labels: map[string]string{corev1.LabelOSStable: "linux"}}, Status: ip},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vk-label", Labels: map[string]string{"type": "virtual-kubelet"}}, Status: ip},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vk-taint"}, Status: ip,
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: VirtualKubeletTaint, Value: "azure", Effect: corev1.TaintEffectNoSchedule}}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "win", Labels: map[string]string{corev1.LabelOSStable: "windows"}}, Status: ip},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "noip"}},
	)
	nodes, err := (&Client{Name: "src", Clientset: cs}).Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"linux":    "",
		"noip":     "no InternalIP in status.addresses: the node cannot be addressed",
		"vk-label": "virtual-kubelet node (type=virtual-kubelet): no node network to check",
		"vk-taint": "virtual-kubelet node (taint virtual-kubelet.io/provider=azure): no node network to check",
		"win":      "kubernetes.io/os=windows: the agent is a Linux binary",
	}
	for _, n := range nodes {
		if n.Skip != want[n.Name] {
			t.Errorf("%s: skip %q, want %q", n.Name, n.Skip, want[n.Name])
		}
	}
}

func TestDiscovery(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"fd00:10::/64", "10.244.2.0/24"}}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "fd00::2"}, {Type: corev1.NodeHostName, Address: "n2"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.2"}}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{corev1.LabelOSStable: "windows"}}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system"},
			Spec: corev1.ServiceSpec{ClusterIP: "fd01::a", ClusterIPs: []string{"fd01::a", "10.96.0.10"}}},
	)
	c := &Client{Name: "src", Clientset: cs}
	ctx := context.Background()
	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Name != "n1" || nodes[0].Skip != "kubernetes.io/os=windows: the agent is a Linux binary" || nodes[1].Skip != "" || strings.Join(nodes[1].InternalIPs, ",") != "10.0.0.2,fd00::2" {
		t.Errorf("nodes = %+v", nodes)
	}
	if strings.Join(nodes[0].PodCIDRs, ",") != "10.244.1.0/24" || strings.Join(nodes[1].PodCIDRs, ",") != "10.244.2.0/24,fd00:10::/64" {
		t.Errorf("pod CIDRs %v %v: want spec.podCIDR fallback and IPv4 first", nodes[0].PodCIDRs, nodes[1].PodCIDRs)
	}
	ips, err := c.ClusterDNSIPs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ips, ",") != "10.96.0.10,fd01::a" {
		t.Errorf("dns ips = %v (want coredns fallback, IPv4 first)", ips)
	}
	_ = cs.CoreV1().Services("kube-system").Delete(ctx, "coredns", metav1.DeleteOptions{})
	if _, err := c.ClusterDNSIPs(ctx); err == nil || !strings.Contains(err.Error(), "set targetDNSServer") {
		t.Errorf("no dns service: err = %v", err)
	}
}

func TestPodInfoReasons(t *testing.T) {
	now := metav1.Now()
	tests := map[string]struct {
		pod       corev1.Pod
		ready     bool
		reasonHas string
	}{
		"ready": {pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}, ready: true},
		"image pull": {pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image \"x/netctl:v1\""}}}}}},
			reasonHas: "ImagePullBackOff (Back-off pulling image"},
		"crash loop": {pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 3,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "listening on tcp port 10250: address already in use\n"}}}}}},
			reasonHas: "CrashLoopBackOff: exited with code 1 (listening on tcp port 10250: address already in use)"},
		"crash loop, message from the log tail": {pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 1,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1,
					Message: "{\"level\":\"WARN\",\"msg\":\"no IPv6 UDP echo\"}\nError: agent: port already in use on node n3: listening on tcp port 8889: bind: address already in use\n"}}}}}},
			reasonHas: "(Error: agent: port already in use on node n3: listening on tcp port 8889"},
		"unschedulable": {pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}}},
			reasonHas: "not scheduled: Unschedulable"},
		"readiness failing": {pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}},
			reasonHas: "readiness probe"},
		"terminating": {pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
			reasonHas: "Terminating"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := PodInfo(&tc.pod)
			if p.Ready != tc.ready || !strings.Contains(p.NotReady, tc.reasonHas) {
				t.Errorf("Ready=%v NotReady=%q; want %v, containing %q", p.Ready, p.NotReady, tc.ready, tc.reasonHas)
			}
		})
	}
}

// TestPodInfoUnscheduledDaemonSetPod: a DaemonSet pod the scheduler could
// not place is reported for the node it is pinned to, with the reason.
func TestPodInfoUnscheduledDaemonSetPod(t *testing.T) {
	pod := corev1.Pod{
		Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-4"}}},
			}}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
			Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/4 nodes are available: 1 Insufficient cpu."}}},
	}
	p := PodInfo(&pod)
	if p.Node != "node-4" || p.Scheduled || p.Ready || p.NotReady != "not scheduled: Unschedulable (0/4 nodes are available: 1 Insufficient cpu.)" {
		t.Errorf("got Node=%q Scheduled=%v Ready=%v NotReady=%q", p.Node, p.Scheduled, p.Ready, p.NotReady)
	}
	pod.Spec.Affinity = nil
	if p := PodInfo(&pod); p.Node != "" {
		t.Errorf("a pod without node affinity is not meant for any node, got %q", p.Node)
	}
}
