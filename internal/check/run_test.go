package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/kubetest"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

const testToken = "test-token"

// startAgent runs a real netctl agent on a free loopback port.
func startAgent(t *testing.T, node, pod string) int {
	t.Helper()
	s := agent.NewServer(agent.Options{Identity: agent.Identity{Node: node, Pod: pod, Namespace: "nd", IPs: []string{"127.0.0.1"}}, Token: testToken})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Port()
}

// podProxy is a stand-in for the API server's pod proxy: TLS, bearer
// auth, the real /api/v1/namespaces/NS/pods/NAME:PORT/proxy/ path. Pods
// named in upstream are forwarded to that address; "broken" pods get the
// 503 the API server gives when it cannot reach a pod; "hang" pods never
// answer.
type podProxy struct {
	srv      *httptest.Server
	upstream map[string]string // pod name -> host:port
	mu       sync.Mutex
	paths    []string
	closing  chan struct{}
}

var proxyPath = regexp.MustCompile(`^/api/v1/namespaces/([^/]+)/pods/([^/:]+):(\d+)/proxy(/.*)$`)

func newPodProxy(t *testing.T, upstream map[string]string) *podProxy {
	p := &podProxy{upstream: upstream, closing: make(chan struct{})}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer kube-token" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		m := proxyPath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			http.NotFound(w, r)
			return
		}
		p.mu.Lock()
		p.paths = append(p.paths, r.Method+" "+r.URL.Path)
		p.mu.Unlock()
		pod := m[2]
		switch {
		case strings.HasPrefix(pod, "broken"):
			http.Error(w, `{"kind":"Status","message":"error trying to reach service: dial tcp 10.1.2.5:8889: connect: connection refused"}`, http.StatusServiceUnavailable)
			return
		case strings.HasPrefix(pod, "hang"):
			// HTTP/1 notices a client going away only once the body is read.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-p.closing:
			}
			return
		}
		addr, ok := p.upstream[pod]
		if !ok {
			http.NotFound(w, r)
			return
		}
		rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
		rp.FlushInterval = -1
		r.URL.Path = m[4]
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(p.closing); p.srv.Close() })
	return p
}

func allowAll(cs *fake.Clientset) {
	kubetest.AnswerAccessReviews(cs, func(authzv1.ResourceAttributes) bool { return true })
}

func node(name, ip string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
}

func agentPod(name, nodeName, ip string, ready bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "nd", Labels: map[string]string{
			deploy.ManagedByLabel: deploy.ManagedByValue, deploy.NameLabel: deploy.AgentName, deploy.NetworkLabel: "pod"}},
		Spec: corev1.PodSpec{NodeName: nodeName},
	}
	if ready {
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	} else {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}}
	}
	return p
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func testConfig(port int) config.Config {
	cfg := config.Default()
	cfg.Namespace = "nd"
	cfg.Port = config.Port(fmt.Sprint(port))
	cfg.PodWaitTime = 1
	cfg.MaxNum = 4
	cfg.CmdTimeout = 2
	cfg.IPFamily = "ipv4"
	cfg.AutoClean = true
	return cfg
}

// testCluster builds a fake clientset (objects) behind a real HTTP path to
// the pod proxy stand-in.
func testCluster(proxy *podProxy, objs ...runtime.Object) (*cluster, *fake.Clientset) {
	cs := fake.NewClientset(objs...)
	allowAll(cs)
	c := &kube.Client{Name: plan.SrcCluster, Host: proxy.srv.URL, Clientset: cs, HTTP: proxy.srv.Client()}
	tr := c.HTTP.Transport
	c.HTTP = &http.Client{Transport: bearer{tr}}
	return &cluster{Cluster: inventory.Cluster{Name: plan.SrcCluster, Client: c}}, cs
}

type bearer struct{ rt http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer kube-token")
	return b.rt.RoundTrip(r)
}

func rowKey(r report.Row) string {
	return fmt.Sprintf("%s->%s %s", r.SrcNode, r.DstNode, r.Result)
}

// TestRunEndToEndWithFakeAPI runs check.execute against a fake clientset
// with a real agent behind a real HTTP pod-proxy path, and checks every
// kind of outcome: success, wrong responder (FAILED), refused (FAILED),
// a broken proxy for one source (EXCEPTION with the reason), a not-ready
// agent (EXCEPTION with ImagePullBackOff), phases, progress and autoClean.
func TestRunEndToEndWithFakeAPI(t *testing.T) {
	port := startAgent(t, "node-1", "agent-a")
	proxy := newPodProxy(t, map[string]string{"agent-a": fmt.Sprintf("127.0.0.1:%d", port)})
	c, cs := testCluster(proxy,
		node("node-1", "10.0.0.1"), node("node-2", "10.0.0.2"), node("node-3", "10.0.0.3"),
		// All pod IPs are loopback: node-2's address reaches node-1's agent,
		// which must be reported as the wrong responder.
		agentPod("agent-a", "node-1", "127.0.0.1", true),
		agentPod("broken-b", "node-2", "127.0.0.1", true),
		agentPod("agent-c", "node-3", "", false),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: deploy.TokenSecretName, Namespace: "nd"}, Data: map[string][]byte{"token": []byte(testToken)}},
	)
	cfg := testConfig(port)
	cfg.CustomizedTargetIPList = []string{"127.0.0.1"}
	cfg.CustomizedTargetPortList = []config.Port{config.Port(fmt.Sprint(closedPort(t)))}
	spec, err := plan.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Networks, _ = spec.Networks()

	var log bytes.Buffer
	var progressMu sync.Mutex
	lastDone, lastTotal := -1, -1
	opts := Options{Config: cfg, Log: &log, Progress: func(done, total int) {
		progressMu.Lock()
		defer progressMu.Unlock()
		lastDone, lastTotal = done, total
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := execute(ctx, opts, spec, []*cluster{c}, &report.Report{Started: time.Now()}, &log)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}

	got := map[string]report.Row{}
	for _, r := range rep.Rows {
		got[rowKey(r)] = r
	}
	want := []struct {
		key, class, logHas string
	}{
		{"node-1->node-1 SUCCEEDED", "", ""},
		{"node-1->node-2 FAILED", string(probe.ClassWrongResponder), ""},
		{"node-1->node-3 EXCEPTION", string(probe.ClassAgentError), "target agent pod agent-c on node-3 not ready: ImagePullBackOff"},
		{"node-1->customized FAILED", string(probe.ClassRefused), ""},
		{"node-2->node-1 EXCEPTION", string(probe.ClassAgentError), "probe batch from agent pod broken-b on node-2 failed"},
		{"node-2->node-2 EXCEPTION", string(probe.ClassAgentError), "503"},
		{"node-2->customized EXCEPTION", string(probe.ClassAgentError), "error trying to reach service"},
		{"node-3->node-1 EXCEPTION", string(probe.ClassAgentError), "agent pod agent-c on node-3 not ready: ImagePullBackOff"},
		{"node-3->customized EXCEPTION", string(probe.ClassAgentError), "agent pod agent-c on node-3 not ready"},
	}
	for _, w := range want {
		r, ok := got[w.key]
		if !ok {
			t.Errorf("no row %s", w.key)
			continue
		}
		if string(r.Class) != w.class || !strings.Contains(r.Log, w.logHas) {
			t.Errorf("%s: class %q log %q; want class %q, log containing %q", w.key, r.Class, r.Log, w.class, w.logHas)
		}
	}
	if len(rep.Rows) != 12 {
		t.Errorf("%d rows, want 3 sources x (3 nodes + 1 customized) = 12:\n%v", len(rep.Rows), rep.Rows)
	}
	if s := got["node-1->node-1 SUCCEEDED"]; s.DstPod != "agent-a" || s.SrcPod != "agent-a" || s.TargetIP != "127.0.0.1" || s.Latency <= 0 {
		t.Errorf("success row %+v", s)
	}
	if lastDone != 12 || lastTotal != 12 {
		t.Errorf("progress ended at %d/%d", lastDone, lastTotal)
	}
	var names []string
	for _, p := range rep.Phases {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "deploy,ready,probe" {
		t.Errorf("phases %v", names)
	}
	for _, want := range []string{"deploy: ", "ready: cluster src: 2/3 pod-network agents ready", "probe: 12 of 12 checks done"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	for _, p := range proxy.paths {
		if !strings.HasSuffix(p, "/proxy/v1/probe") || !strings.HasPrefix(p, "POST /api/v1/namespaces/nd/pods/") {
			t.Errorf("proxy request %s", p)
		}
	}
	t.Logf("log:\n%s", log.String())
	for _, r := range rep.Rows {
		t.Logf("row %s %s %q", rowKey(r), r.Class, r.Log)
	}
	// autoClean: our DaemonSet and namespace are gone.
	if dss, _ := cs.AppsV1().DaemonSets("nd").List(context.Background(), metav1.ListOptions{}); len(dss.Items) != 0 {
		t.Errorf("autoClean left DaemonSets: %d", len(dss.Items))
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "nd", metav1.GetOptions{}); err == nil {
		t.Error("autoClean left the namespace netctl created")
	}
}

// TestRunInterrupted cancels the run while a batch hangs: the report holds
// what was gathered, Interrupted is set, the error is the context's, and
// autoClean still runs (with its own context).
func TestRunInterrupted(t *testing.T) {
	port := startAgent(t, "node-1", "agent-a")
	proxy := newPodProxy(t, map[string]string{"agent-a": fmt.Sprintf("127.0.0.1:%d", port)})
	c, cs := testCluster(proxy,
		node("node-1", "10.0.0.1"), node("node-2", "10.0.0.2"),
		agentPod("agent-a", "node-1", "127.0.0.1", true),
		agentPod("hang-b", "node-2", "127.0.0.2", true),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: deploy.TokenSecretName, Namespace: "nd"}, Data: map[string][]byte{"token": []byte(testToken)}},
	)
	cfg := testConfig(port)
	spec, _ := plan.FromConfig(cfg)
	c.Networks, _ = spec.Networks()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	opts := Options{Config: cfg, Log: &log, Progress: func(done, total int) {
		if done >= 2 { // node-1's two results are in; node-2's batch hangs
			cancel()
		}
	}}
	start := time.Now()
	rep, err := execute(ctx, opts, spec, []*cluster{c}, &report.Report{Started: time.Now()}, &log)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if rep == nil || !rep.Interrupted || len(rep.Rows) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("interrupt took %v", time.Since(start))
	}
	if dss, _ := cs.AppsV1().DaemonSets("nd").List(context.Background(), metav1.ListOptions{}); len(dss.Items) != 0 {
		t.Errorf("autoClean after interrupt left %d DaemonSets", len(dss.Items))
	}
}

// TestRunPreflightDenied: nothing is created when a permission is missing.
func TestRunPreflightDenied(t *testing.T) {
	proxy := newPodProxy(t, nil)
	c, cs := testCluster(proxy, node("node-1", "10.0.0.1"))
	kubetest.AnswerAccessReviews(cs, func(ra authzv1.ResourceAttributes) bool { return ra.Resource != "daemonsets" })
	cfg := testConfig(1)
	spec, _ := plan.FromConfig(cfg)
	c.Networks, _ = spec.Networks()
	rep, err := execute(context.Background(), Options{Config: cfg}, spec, []*cluster{c}, &report.Report{}, &bytes.Buffer{})
	if err == nil || rep != nil || !strings.Contains(err.Error(), `cannot create daemonsets.apps in namespace "nd"`) {
		t.Fatalf("rep %v err %v", rep, err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource != "selfsubjectaccessreviews" && a.GetResource().Resource != "selfsubjectreviews" {
			t.Errorf("created %s after a denied preflight", a.GetResource().Resource)
		}
	}
}

// TestRunCrossCluster: sources in the source cluster, targets in the
// destination cluster (its own image repository and token), pairs marked
// src/dst.
func TestRunCrossCluster(t *testing.T) {
	port := startAgent(t, "b1", "dst-agent")
	srcPort := port // one real agent answers both roles on loopback
	proxy := newPodProxy(t, map[string]string{"src-agent": fmt.Sprintf("127.0.0.1:%d", srcPort)})
	secret := func() *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: deploy.TokenSecretName, Namespace: "nd"}, Data: map[string][]byte{"token": []byte(testToken)}}
	}
	src, srcCS := testCluster(proxy, node("a1", "10.0.0.1"), agentPod("src-agent", "a1", "127.0.0.1", true), secret())
	dst, dstCS := testCluster(proxy, node("b1", "10.9.0.1"), agentPod("dst-agent", "b1", "127.0.0.1", true), secret())
	dst.Name = plan.DstCluster
	dst.Client.Name = plan.DstCluster

	cfg := testConfig(port)
	cfg.DstKubeConfig = "/dev/null" // only marks the run as cross-cluster here
	cfg.SrcImageRepository, cfg.DstImageRepository = "src.registry/team", "dst.registry/team"
	cfg.AutoClean = false
	spec, _ := plan.FromConfig(cfg)
	src.Networks, dst.Networks = spec.Networks()

	var log bytes.Buffer
	rep, err := execute(context.Background(), Options{Config: cfg, Log: &log}, spec, []*cluster{src, dst}, &report.Report{}, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(rep.Rows) != 1 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	r := rep.Rows[0]
	if r.Result != report.Succeeded || r.SrcCluster != "src" || r.DstCluster != "dst" || r.SrcNode != "a1" || r.DstNode != "b1" || r.DstPod != "dst-agent" {
		t.Errorf("row %+v", r)
	}
	for _, c := range []struct {
		cs    *fake.Clientset
		image string
	}{{srcCS, "src.registry/team/netctl:"}, {dstCS, "dst.registry/team/netctl:"}} {
		ds, err := c.cs.AppsV1().DaemonSets("nd").Get(context.Background(), "netdoctor-agent-pod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := ds.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, c.image) {
			t.Errorf("image %s, want %s...", img, c.image)
		}
	}
	if !strings.Contains(log.String(), "agents stay in namespace nd") {
		t.Errorf("without autoClean the log must say how to clean:\n%s", log.String())
	}
}

func TestRunEmptyResumeDoesNothing(t *testing.T) {
	var log bytes.Buffer
	rep, err := Run(context.Background(), Options{Config: testConfig(1), Resume: []report.Pair{}, Log: &log})
	if err != nil || rep == nil || len(rep.Rows) != 0 || !strings.Contains(log.String(), "no pairs") {
		t.Fatalf("rep %+v err %v log %s", rep, err, log.String())
	}
}

// TestRowForHonestClasses: only a network "no" is FAILED; an error in the
// agent and an unanswered datagram are EXCEPTION, never FAILED or SUCCEEDED.
func TestRowForHonestClasses(t *testing.T) {
	cases := []struct {
		res  probe.Result
		want report.Result
	}{
		{probe.Result{OK: true}, report.Succeeded},
		{probe.Result{Class: probe.ClassRefused, Reason: "connection refused"}, report.Failed},
		{probe.Result{Class: probe.ClassAgentError, Reason: "tcp connect to 10.0.0.1:80: too many open files (an error in the agent, not an answer from the network)"}, report.Exception},
		{probe.Result{Class: probe.ClassUnconfirmed, Reason: "sent to 10.0.0.1:53, no reply"}, report.Exception},
	}
	for _, c := range cases {
		row := report.RowFor(report.Pair{}, c.res)
		if row.Result != c.want || row.Class != c.res.Class || row.Log != c.res.Reason && !c.res.OK {
			t.Errorf("%+v: row %+v, want %s with the class and reason", c.res, row, c.want)
		}
	}
}

// TestReadInventoryFailedCreate: a node without an agent pod, whose
// DaemonSet cannot create pods, gets the FailedCreate event's message as
// its reason instead of "no agent pod scheduled".
func TestReadInventoryFailedCreate(t *testing.T) {
	const msg = `pods "netdoctor-agent-host-x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`
	ev := func(name, reason, message string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "nd"}, Reason: reason, Message: message,
			InvolvedObject: corev1.ObjectReference{Kind: "DaemonSet", Name: deploy.DaemonSetName(deploy.HostNetwork), Namespace: "nd"},
			LastTimestamp:  metav1.NewTime(at)}
	}
	now := time.Now()
	cs := fake.NewClientset(node("n1", "10.0.0.1"),
		ev("e1", "FailedCreate", "an older failure", now.Add(-time.Minute)),
		ev("e2", "FailedCreate", msg, now),
		ev("e3", "SuccessfulCreate", "created pod", now.Add(time.Minute)))
	c := &cluster{Cluster: inventory.Cluster{Name: plan.SrcCluster, Client: &kube.Client{Name: plan.SrcCluster, Clientset: cs}, Networks: []deploy.Network{deploy.HostNetwork}}}
	inv, done, err := inventory.Read(context.Background(), &c.Cluster, "nd")
	if err != nil || done {
		t.Fatalf("done %v err %v", done, err)
	}
	a := inv.Agents[deploy.HostNetwork]["n1"]
	if a == nil || a.Reason != "FailedCreate: "+msg || !strings.Contains(a.Problem, msg) {
		t.Errorf("agent %+v, want the FailedCreate message as reason", a)
	}
}

// TestRunSkipsNodesThatCannotRunAgents: windows, virtual-kubelet and
// address-less nodes get no agent (the DaemonSet's node affinity lists only
// the checked nodes), are listed once as skipped with the reason, and are in
// no row and no finding; --node-selector scopes the check.
func TestRunSkipsNodesThatCannotRunAgents(t *testing.T) {
	port := startAgent(t, "node-1", "agent-a")
	proxy := newPodProxy(t, map[string]string{"agent-a": fmt.Sprintf("127.0.0.1:%d", port)})
	win, vk, noip, other := node("win-1", "10.0.0.5"), node("vk-1", "10.0.0.6"), node("noip-1", ""), node("node-2", "10.0.0.2")
	win.Labels = map[string]string{corev1.LabelOSStable: "windows"}
	vk.Spec.Taints = []corev1.Taint{{Key: kube.VirtualKubeletTaint, Effect: corev1.TaintEffectNoSchedule}}
	noip.Status.Addresses = nil
	n1 := node("node-1", "10.0.0.1")
	n1.Labels = map[string]string{"pool": "blue"}
	other.Labels = map[string]string{"pool": "green"}
	c, cs := testCluster(proxy, n1, other, win, vk, noip,
		agentPod("agent-a", "node-1", "127.0.0.1", true),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: deploy.TokenSecretName, Namespace: "nd"}, Data: map[string][]byte{"token": []byte(testToken)}},
	)
	cfg := testConfig(port)
	cfg.NodeSelector = "pool notin (green)"
	spec, err := plan.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Networks, _ = spec.Networks()
	var log bytes.Buffer
	rep, err := execute(context.Background(), Options{Config: cfg, Log: &log}, spec, []*cluster{c}, &report.Report{Started: time.Now()}, &log)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Result != report.Succeeded || rep.Rows[0].SrcNode != "node-1" {
		t.Errorf("rows %+v, want only node-1 -> node-1, SUCCEEDED", rep.Rows)
	}
	got := map[string]string{}
	for _, s := range rep.Skipped {
		got[s.Node] = s.Reason
	}
	want := map[string]string{
		"win-1":  "kubernetes.io/os=windows: the agent is a Linux binary",
		"vk-1":   "virtual-kubelet node (taint virtual-kubelet.io/provider=): no node network to check",
		"noip-1": "no InternalIP in status.addresses: the node cannot be addressed",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(rep.Skipped) != 3 {
		t.Errorf("skipped %v, want %v", rep.Skipped, want)
	}
	if !strings.Contains(log.String(), `1 of 5 nodes do not match nodeSelector "pool notin (green)"`) {
		t.Errorf("log does not say what nodeSelector left out:\n%s", log.String())
	}
	if strings.Count(log.String(), "skipping node win-1") != 1 {
		t.Errorf("win-1 not listed exactly once:\n%s", log.String())
	}
	// autoClean deleted the DaemonSet; its affinity is what Apply created:
	// read it from the fake's action log.
	var terms []corev1.NodeSelectorTerm
	for _, a := range cs.Actions() {
		if ca, ok := a.(k8stesting.CreateAction); ok {
			if ds, ok := ca.GetObject().(*appsv1.DaemonSet); ok {
				terms = ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			}
		}
	}
	if len(terms) != 1 || fmt.Sprint(terms[0].MatchFields) != "[{metadata.name In [node-1]}]" || len(terms[0].MatchExpressions) != 0 {
		t.Errorf("DaemonSet node affinity %+v, want the checked node only", terms)
	}
}
