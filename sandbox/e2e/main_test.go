// Package e2e tests the sandbox end to end: it brings up a real cluster with
// the built netdoctor-sandbox binary (root only) and checks the network,
// services, DNS, faults, exec/logs and teardown.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// clusterName is the shared cluster; NETDOCTOR_E2E_PREFIX (a few letters)
// prefixes every cluster this suite starts, so two runs on one machine
// (parallel branches, a CI clone) never touch each other's clusters.
var clusterName = os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2e"

var (
	skipReason string
	st         *state.State
	client     kubernetes.Interface
	echoPods   []corev1.Pod          // one per node, sorted by node
	podNetns   = map[string]string{} // pod name -> netns
)

func TestMain(m *testing.M) {
	switch {
	case os.Geteuid() != 0:
		skipReason = "needs root (network namespaces, routes)"
	case os.Getenv("NETDOCTOR_SANDBOX_E2E") == "0":
		skipReason = "NETDOCTOR_SANDBOX_E2E=0"
	case os.Getenv("NETDOCTOR_E2E_SHARED") == "0": // tests with clusters of their own still run
		skipReason = "NETDOCTOR_E2E_SHARED=0: the shared cluster is not started"
	default:
		if _, err := os.Stat(binary); err != nil {
			skipReason = fmt.Sprintf("binary %s missing: run `make sandbox` first", binary)
		}
	}
	if skipReason != "" {
		os.Exit(m.Run())
	}
	code := func() int {
		// A leftover of an aborted run would make up fail.
		sandbox("down", "--name", clusterName)
		r := sandbox("up", "--name", clusterName, "--nodes", "4", "--ip-family", "dual", "--zones", "2", "--timeout", "3m")
		defer func() {
			if r := sandbox("down", "--name", clusterName); r.code != 0 {
				fmt.Fprintf(os.Stderr, "down failed: %s\n", r.stderr)
			}
		}()
		if r.code != 0 {
			fmt.Fprintf(os.Stderr, "up failed (exit %d):\n%s\n", r.code, r.stderr)
			return 1
		}
		var err error
		if st, err = state.Load(clusterName); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if client, err = cluster.Client(st.Kubeconfig); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := deployEcho(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "deploying echo DaemonSet:", err)
			return 1
		}
		defer stopOverlayCluster() // realnet_test.go's shared vxlan cluster, if a test started it
		defer stopSvcCluster()     // services_test.go's nftables + multus cluster, likewise
		return m.Run()
	}()
	os.Exit(code)
}

func need(t *testing.T) {
	t.Helper()
	if skipReason == "" {
		return
	}
	// CI sets NETDOCTOR_E2E=require: a suite that cannot run there fails.
	if os.Getenv("NETDOCTOR_E2E") == "require" {
		t.Fatalf("sandbox e2e required but cannot run: %s", skipReason)
	}
	t.Skip(skipReason)
}

const echoPort = 8080

// echoEnv is a cluster with the echo DaemonSet and its Services: one pod
// per node (sorted by node) and each pod's network namespace.
type echoEnv struct {
	st     *state.State
	client kubernetes.Interface
	pods   []corev1.Pod
	netns  map[string]string // pod name -> netns
}

// deployEcho runs the echo DaemonSet plus ClusterIP and NodePort Services
// on the shared cluster and records one pod per node with its namespace.
func deployEcho(ctx context.Context) error {
	e := &echoEnv{st: st, client: client}
	if err := e.deploy(ctx); err != nil {
		return err
	}
	echoPods, podNetns = e.pods, e.netns
	return nil
}

// deploy runs the echo DaemonSet plus the Services echo (ClusterIP, dual)
// and echo-np (NodePort 30080) and waits until every pod is Ready.
func (e *echoEnv) deploy(ctx context.Context) error {
	labels := map[string]string{"app": "echo"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "echo", Image: "sandbox.local/echo:v1",
					Args: []string{"echo-server", fmt.Sprintf("--port=%d", echoPort)},
					Env: []corev1.EnvVar{
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(echoPort)}}, PeriodSeconds: 1},
				}}},
			},
		},
	}
	if _, err := e.client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return err
	}
	dual := corev1.IPFamilyPolicyRequireDualStack
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "echo"}, Spec: corev1.ServiceSpec{Selector: labels, IPFamilyPolicy: &dual,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(echoPort)}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "echo-np"}, Spec: corev1.ServiceSpec{Selector: labels, Type: corev1.ServiceTypeNodePort, IPFamilyPolicy: &dual,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(echoPort), NodePort: 30080}}}},
	} {
		if _, err := e.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		pods, err := e.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err == nil {
			ready := 0
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready == len(e.st.Nodes) && len(pods.Items) == len(e.st.Nodes) {
				byNode := map[string]corev1.Pod{}
				for _, p := range pods.Items {
					byNode[p.Spec.NodeName] = p
				}
				for _, n := range e.st.Nodes {
					e.pods = append(e.pods, byNode[n.Name])
				}
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("echo pods not Ready after 90s: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Map pod IPs to the kubelet's pod namespaces.
	e.netns = map[string]string{}
	for _, p := range e.pods {
		ns, err := podNetnsByIP(e.st.Name, p.Status.PodIP)
		if err != nil {
			return err
		}
		e.netns[p.Name] = ns
	}
	// Warm up neighbour entries and wait for every kube-proxy's rules (first
	// contact is slow; on a busy machine a kube-proxy may sync the new
	// endpoints seconds after the pods are Ready): the ClusterIP from each
	// pod and each node's NodePort from node 1. Tests report what still fails.
	wait := time.Now().Add(45 * time.Second)
	for _, p := range e.pods {
		for time.Now().Before(wait) && httpGet(e.netns[p.Name], hostPort(e.svcIP(ctx, "echo", 0), 80)) != nil {
			time.Sleep(300 * time.Millisecond)
		}
	}
	for _, n := range e.st.Nodes {
		for time.Now().Before(wait) && httpGet(e.st.Nodes[0].Netns, hostPort(n.IPs[0], 30080)) != nil {
			time.Sleep(300 * time.Millisecond)
		}
	}
	return nil
}

// podNetnsByIP finds the pod namespace of cluster name holding ip.
func podNetnsByIP(name, ip string) (string, error) {
	nss, err := cluster.Namespaces(name)
	if err != nil {
		return "", err
	}
	for _, ns := range nss {
		out, err := exec.Command("ip", "-n", ns, "-o", "addr", "show").Output()
		if err == nil && strings.Contains(string(out), " "+ip+"/") && !strings.HasPrefix(ns, "nd-"+name+"-n") {
			return ns, nil
		}
	}
	return "", fmt.Errorf("no pod namespace of cluster %s holds %s", name, ip)
}

func svcIP(ctx context.Context, name string, i int) string {
	return (&echoEnv{client: client}).svcIP(ctx, name, i)
}

// svcIP returns the i-th ClusterIP of Service default/name.
func (e *echoEnv) svcIP(ctx context.Context, name string, i int) string {
	s, err := e.client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil || len(s.Spec.ClusterIPs) <= i {
		return "0.0.0.0"
	}
	return s.Spec.ClusterIPs[i]
}

// podIPs returns the pod's addresses: [v4, v6].
func podIPs(p corev1.Pod) []string {
	var out []string
	for _, ip := range p.Status.PodIPs {
		out = append(out, ip.IP)
	}
	return out
}

// guardsHold checks that every guard route is installed and that addresses
// of every sandbox range never leave through the host's default interface.
func guardsHold(t *testing.T, s *state.State) {
	t.Helper()
	out, err := exec.Command("ip", "route", "show", "default").Output()
	if err != nil {
		t.Fatal(err)
	}
	defDev := ""
	if f := strings.Fields(string(out)); len(f) >= 5 {
		defDev = f[4]
	}
	for _, g := range s.Guards {
		args := []string{"route", "show", "exact", g}
		if netcfg.IsV6(g) {
			args = append([]string{"-6"}, args...)
		}
		out, err := exec.Command("ip", args...).Output()
		if err != nil || !strings.Contains(string(out), "unreachable") {
			t.Errorf("guard %s missing: %q %v", g, out, err)
		}
	}
	var probes []string
	probes = append(probes, s.DNSIPs...)
	probes = append(probes, s.ServiceIP(200)...)
	for _, c := range s.ClusterCIDR {
		probes = append(probes, strings.Split(c, "/")[0]) // network address: no node owns it
	}
	if s.IPFamily != "ipv6" {
		probes = append(probes, fmt.Sprintf("100.64.%d.250", s.Slot), fmt.Sprintf("100.%d.250.7", 96+s.Slot))
	}
	for _, a := range probes {
		dev, kind, err := netcfg.HostRouteVia(context.Background(), a)
		if err != nil {
			t.Errorf("route get %s: %v", a, err)
			continue
		}
		if dev == defDev || (kind == "unicast" && dev != s.Bridge) {
			t.Errorf("%s routes via %s (%s): must be unreachable or via %s", a, dev, kind, s.Bridge)
		}
	}
}
