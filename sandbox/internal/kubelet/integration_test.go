package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// The test binary doubles as a container image: with ND_TEST_SERVE set it
// serves files from its own (container) view of the filesystem plus its
// environment and hostname, on the given port.
func TestMain(m *testing.M) {
	if port := os.Getenv("ND_TEST_SERVE"); port != "" {
		serveForTest(port)
		return
	}
	os.Exit(m.Run())
}

func serveForTest(port string) {
	fmt.Println("test server starting") // goes to the container log
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(data)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, os.Getenv(r.URL.Query().Get("name"))) })
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, _ *http.Request) { h, _ := os.Hostname(); io.WriteString(w, h) })
	if err := http.ListenAndServe(":"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths and mounts")
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
}

// testNode creates an isolated node namespace (no link to the host at all)
// with forwarding on, after guarding the test ranges in the host namespace.
func testNode(t *testing.T, name, netnsName string, cidrs ...string) Node {
	t.Helper()
	// Network safety: the test ranges are unreachable from the host.
	for _, r := range []string{"10.254.0.0/16", "fd00:254::/32"} {
		if exec.Command("ip", "route", "add", "unreachable", r).Run() == nil {
			t.Cleanup(func() { exec.Command("ip", "route", "del", "unreachable", r).Run() })
		}
	}
	run(t, "ip", "netns", "add", netnsName)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", netnsName).Run() })
	run(t, "ip", "-n", netnsName, "link", "set", "lo", "up")
	run(t, "ip", "netns", "exec", netnsName, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	return Node{Name: name, Netns: netnsName, IPs: []string{"10.254.255.1"}, PodCIDRs: cidrs}
}

func waitFor(t *testing.T, what string, timeout time.Duration, f func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := f()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func httpGetIn(netnsPath, url string) (string, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(netnsPath, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}, DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), err
}

// TestKubeletRunsPods drives the whole kubelet against a fake API: node
// registration, two pods on real pod namespaces with dual-stack addresses,
// env/fieldRef, ConfigMap volume on a missing host directory, resolv.conf,
// hostname, readiness, an unknown image, then deletion with cleanup.
func TestKubeletRunsPods(t *testing.T) {
	needRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cluster := fmt.Sprintf("kt%d", os.Getpid()%100000)
	node := testNode(t, "node-a", "nd-"+cluster+"-n-a", "10.254.1.0/24", "fd00:254:1::/64")
	client := fake.NewSimpleClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns1"}, Data: map[string]string{"greeting": "hello from configmap"}},
	)
	cfg := Config{
		Nodes:         []Node{node},
		ClusterName:   cluster,
		ClusterDNS:    []string{"10.254.200.10"},
		ClusterDomain: "cluster.local",
		Images:        map[string]string{"example.com/test/server:*": self},
		StateDir:      t.TempDir(),
	}
	k, ctx, stop := runKubelet(t, cfg, client)

	waitFor(t, "node registration", 5*time.Second, func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if len(n.Status.Addresses) != 1 || n.Status.Addresses[0].Type != corev1.NodeInternalIP {
			return false, fmt.Errorf("addresses %v", n.Status.Addresses)
		}
		return n.Labels[corev1.LabelHostname] == "node-a" && len(n.Spec.PodCIDRs) == 2, nil
	})

	mkPod := func(name, image string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns1", UID: types.UID("0123456789-" + name)},
			Spec: corev1.PodSpec{
				NodeName:                      "node-a",
				TerminationGracePeriodSeconds: ptr.To[int64](2),
				Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{
					ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}},
				Containers: []corev1.Container{{
					Name:  "main",
					Image: image,
					Env: []corev1.EnvVar{
						{Name: "ND_TEST_SERVE", Value: "8080"},
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "POD_IPS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIPs"}}},
						{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
					},
					VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/nd-kubelet-test/cfg"}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/ready", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
				}},
			},
		}
	}
	for _, p := range []*corev1.Pod{mkPod("a", "example.com/test/server:v1"), mkPod("b", "example.com/test/server:v2"), mkPod("bad", "example.com/other/image:v1")} {
		if _, err := client.CoreV1().Pods("ns1").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string) *corev1.Pod {
		var pod *corev1.Pod
		waitFor(t, "pod "+name+" Ready", 15*time.Second, func() (bool, error) {
			p, err := client.CoreV1().Pods("ns1").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			pod = p
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return p.Status.Phase == corev1.PodRunning, nil
				}
			}
			return false, fmt.Errorf("status %+v", p.Status)
		})
		return pod
	}
	a, b := ready("a"), ready("b")
	for _, p := range []*corev1.Pod{a, b} {
		if len(p.Status.PodIPs) != 2 {
			t.Fatalf("pod %s: podIPs %v, want one IPv4 and one IPv6", p.Name, p.Status.PodIPs)
		}
		for _, ip := range p.Status.PodIPs {
			addr := netip.MustParseAddr(ip.IP)
			if !netip.MustParsePrefix("10.254.1.0/24").Contains(addr) && !netip.MustParsePrefix("fd00:254:1::/64").Contains(addr) {
				t.Errorf("pod %s: IP %s outside the node's pod CIDRs", p.Name, addr)
			}
		}
		if p.Status.HostIP != "10.254.255.1" || !p.Status.ContainerStatuses[0].Ready || p.Status.StartTime == nil {
			t.Errorf("pod %s: status %+v", p.Name, p.Status)
		}
	}
	if a.Status.PodIP == b.Status.PodIP {
		t.Fatalf("both pods got %s", a.Status.PodIP)
	}

	// Pod a reaches pod b over IPv4 and IPv6 through the node namespace;
	// the container sees its own env, hostname, resolv.conf and volume.
	wa := k.workers[a.UID]
	for _, ip := range b.Status.PodIPs {
		url := "http://" + net.JoinHostPort(ip.IP, "8080")
		checks := map[string]string{
			"/env?name=POD_NAME": "b",
			"/env?name=POD_IPS":  b.Status.PodIPs[0].IP + "," + b.Status.PodIPs[1].IP,
			"/env?name=GREETING": "hello from configmap",
			"/hostname":          "b",
			"/file?path=/etc/nd-kubelet-test/cfg/greeting": "hello from configmap",
		}
		for path, want := range checks {
			got, err := httpGetIn(wa.netnsPath, url+path)
			if err != nil || got != want {
				t.Errorf("GET %s%s from pod a: %q, %v; want %q", url, path, got, err, want)
			}
		}
		resolv, err := httpGetIn(wa.netnsPath, url+"/file?path=/etc/resolv.conf")
		if err != nil || !strings.Contains(resolv, "nameserver 10.254.200.10") || !strings.Contains(resolv, "search ns1.svc.cluster.local svc.cluster.local cluster.local") || !strings.Contains(resolv, "ndots:5") {
			t.Errorf("pod b resolv.conf: %q, %v", resolv, err)
		}
	}
	if _, err := os.Stat("/etc/nd-kubelet-test"); !os.IsNotExist(err) {
		t.Errorf("mount point leaked onto the host filesystem: %v", err)
	}

	// The unknown image ends in ImagePullBackOff and the pod stays not Ready.
	waitFor(t, "ImagePullBackOff", 10*time.Second, func() (bool, error) {
		p, err := client.CoreV1().Pods("ns1").Get(ctx, "bad", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		st := p.Status.ContainerStatuses[0]
		if st.Ready || p.Status.Phase != corev1.PodPending {
			return false, fmt.Errorf("bad pod: phase %s ready %v", p.Status.Phase, st.Ready)
		}
		return st.State.Waiting != nil && st.State.Waiting.Reason == "ImagePullBackOff", nil
	})

	// Deletion: the kubelet stops the process, removes the namespace and
	// deletes the pod object.
	wb := k.workers[b.UID]
	nsB := wb.net.netns
	b, _ = client.CoreV1().Pods("ns1").Get(ctx, "b", metav1.GetOptions{})
	now := metav1.Now()
	b.DeletionTimestamp, b.DeletionGracePeriodSeconds = &now, ptr.To[int64](2)
	if _, err := client.CoreV1().Pods("ns1").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod b deleted", 10*time.Second, func() (bool, error) {
		_, err := client.CoreV1().Pods("ns1").Get(ctx, "b", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	if _, err := os.Stat(netnsPath(nsB)); !os.IsNotExist(err) {
		t.Errorf("pod b netns %s still exists: %v", nsB, err)
	}
	pidFiles, _ := filepath.Glob(filepath.Join(cfg.StateDir, "pids", wb.shortID+"-*"))
	if len(pidFiles) != 0 {
		t.Errorf("pid files left: %v", pidFiles)
	}

	// Shutdown stops everything and removes the remaining namespaces.
	nsA := wa.net.netns
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(netnsPath(nsA)); !os.IsNotExist(err) {
		t.Errorf("pod a netns %s still exists after shutdown: %v", nsA, err)
	}
}

// TestManyPodsStartFast starts a 50-pod burst over 5 nodes (as a DaemonSet
// rollout would) and requires every pod Ready within 10 seconds.
func TestManyPodsStartFast(t *testing.T) {
	needRoot(t)
	self, _ := os.Executable()
	cluster := fmt.Sprintf("km%d", os.Getpid()%100000)
	var nodes []Node
	for i := range 5 {
		n := testNode(t, fmt.Sprintf("node-%d", i), fmt.Sprintf("nd-%s-n-%d", cluster, i),
			fmt.Sprintf("10.254.%d.0/24", 10+i), fmt.Sprintf("fd00:254:%x::/64", 10+i))
		nodes = append(nodes, n)
	}
	client := fake.NewSimpleClientset()
	cfg := Config{Nodes: nodes, ClusterName: cluster, Images: map[string]string{"example.com/test/server:*": self}, StateDir: t.TempDir()}
	_, ctx, stop := runKubelet(t, cfg, client)
	waitFor(t, "nodes", 5*time.Second, func() (bool, error) {
		l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 5, err
	})
	start := time.Now()
	for i := range 50 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ds-%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("uid-%d", i))},
			Spec: corev1.PodSpec{NodeName: nodes[i%5].Name, TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers: []corev1.Container{{Name: "c", Image: "example.com/test/server:v1",
					Env: []corev1.EnvVar{{Name: "ND_TEST_SERVE", Value: "8080"}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/ready", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 10}}}}}
		if _, err := client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "50 pods Ready", 10*time.Second, func() (bool, error) {
		l, err := client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range l.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == 50, fmt.Errorf("%d/50 ready", ready)
	})
	t.Logf("50 pods Ready %s after creation", time.Since(start).Round(time.Millisecond))
	stop()
	left, _ := filepath.Glob(netnsPath("nd-" + cluster + "-p-*"))
	if len(left) != 0 {
		t.Errorf("%d pod namespaces left after shutdown", len(left))
	}
}
