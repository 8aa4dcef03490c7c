package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/ingress"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// The test's own view of the objects it reads (not the producer's types).
var (
	httpRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	gatewayGVR   = ingress.GatewayGVR
)

const (
	ingNamespace = "ingtest"
	ingHost      = "shop.ing.test" // served by the Ingress
	gwHost       = "shop.gw.test"  // served by the HTTPRoute
	ingPath      = "/ing"
	gwPath       = "/gw"
)

// ingRoute is one way into the backends through Traefik.
type ingRoute struct{ host, path string }

func (r ingRoute) String() string { return r.host + r.path }

// TestIngress brings up its own 2-node dual-stack cluster with --ingress
// (Traefik behind a NodePort Service) and runs ingressScenario on it.
func TestIngress(t *testing.T) {
	needOwnCluster(t)
	ingressScenario(t, os.Getenv("NETDOCTOR_E2E_PREFIX")+"e2eing", false)
}

// TestIngressLoadBalancer does the same with --load-balancer --ingress:
// Traefik behind a LoadBalancer Service (MetalLB), reached also from the
// outside namespace, its address published in Ingress and Gateway status.
func TestIngressLoadBalancer(t *testing.T) {
	needOwnCluster(t)
	ingressScenario(t, os.Getenv("NETDOCTOR_E2E_PREFIX")+"e2einglb", true)
}

// ingressVantage is a client namespace and the addresses of Traefik's
// Service it should reach Traefik through.
type ingressVantage struct {
	what, netns string
	doors       []string
}

// ingressScenario checks, on the real Traefik: an Ingress and an HTTPRoute
// to a Service with 2 backends reach both backends by host and path from a
// pod (through Traefik's ClusterIPs, NodePorts and, with lb, LoadBalancer
// addresses) and with lb from the outside namespace (LoadBalancer
// addresses and NodePorts), over IPv4 and IPv6; unknown hosts and paths
// get Traefik's 404; ingress-down breaks exactly the ingress paths (the
// backends' Service still answers) and its removal restores them.
func ingressScenario(t *testing.T, name string, lb bool) {
	sandbox("down", "--name", name)
	args := []string{"up", "--name", name, "--nodes", "2", "--ip-family", "dual", "--ingress", "--timeout", "5m"}
	if lb {
		args = append(args, "--load-balancer")
	}
	t0 := time.Now()
	r := sandbox(args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
	}
	t.Logf("up %s (2 nodes, dual) in %s", strings.Join(args[7:], " "), time.Since(t0).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if r := sandbox("down", "--name", name); r.code != 0 {
			t.Errorf("down: exit %d: %s", r.code, r.stderr)
		}
	})
	s, err := state.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Ingress string `json:"ingress"`
	}
	if err := json.Unmarshal([]byte(mustSandbox(t, "status", "--name", name, "-o", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status.Ingress, "traefik v3.6.12") || !strings.Contains(status.Ingress, "Gateway API v1.4.0") {
		t.Errorf("status ingress = %q, want traefik v3.6.12 with Gateway API v1.4.0", status.Ingress)
	}
	c, err := cluster.Client(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynClient(t, s.Kubeconfig)
	ctx := context.Background()

	// Traefik runs as a pod whose image came from the cluster's registry.
	tp, err := c.CoreV1().Pods("traefik").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=traefik"})
	if err != nil || len(tp.Items) != 1 {
		t.Fatalf("traefik pods: %v %v", len(tp.Items), err)
	}
	if cs := tp.Items[0].Status.ContainerStatuses; len(cs) != 1 || !strings.HasPrefix(cs[0].ImageID, s.Registry+"/sandbox/traefik@sha256:") || cs[0].State.Running == nil {
		t.Errorf("traefik container status %+v: want running, imageID %s/sandbox/traefik@sha256:...", cs, s.Registry)
	}
	gw, err := dyn.Resource(gatewayGVR).Namespace("traefik").Get(ctx, "traefik", metav1.GetOptions{})
	if err != nil || !hasCondition(gw, "Programmed") {
		t.Errorf("gateway traefik/traefik not Programmed: %v %v", err, gw)
	}

	backends := ingBackends(t, ctx, c, s)
	client := backends[0] // a pod: the in-cluster vantage point
	ingObjects(t, ctx, c, dyn)

	tsvc, err := c.CoreV1().Services("traefik").Get(ctx, "traefik", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantType := corev1.ServiceTypeNodePort
	if lb {
		wantType = corev1.ServiceTypeLoadBalancer
	}
	if tsvc.Spec.Type != wantType || len(tsvc.Spec.ClusterIPs) != 2 || tsvc.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("traefik Service: type %s, clusterIPs %v, ports %+v: want a dual-stack %s", tsvc.Spec.Type, tsvc.Spec.ClusterIPs, tsvc.Spec.Ports, wantType)
	}
	// Traefik's front doors: its Service's ClusterIPs, each node's
	// NodePort and the LoadBalancer addresses, both families.
	var clusterIPs, nodePorts, lbIPs []string
	for _, ip := range tsvc.Spec.ClusterIPs {
		clusterIPs = append(clusterIPs, hostPort(ip, 80))
	}
	for _, n := range s.Nodes {
		for _, ip := range n.IPs {
			nodePorts = append(nodePorts, hostPort(ip, int(tsvc.Spec.Ports[0].NodePort)))
		}
	}
	var lbAddrs []string
	for _, in := range tsvc.Status.LoadBalancer.Ingress {
		lbIPs = append(lbIPs, hostPort(in.IP, 80))
		lbAddrs = append(lbAddrs, in.IP)
	}
	sort.Strings(lbAddrs)
	vantages := []ingressVantage{{"pod " + client.name, client.netns, append(append(clusterIPs, nodePorts...), lbIPs...)}}
	if lb {
		if len(lbIPs) != 2 {
			t.Fatalf("traefik Service LoadBalancer addresses %v: want one per family", lbAddrs)
		}
		vantages = append(vantages, ingressVantage{"outside", s.LoadBalancer.OutsideNetns, append(append([]string{}, lbIPs...), nodePorts...)})
	} else if len(lbIPs) != 0 {
		t.Errorf("NodePort Service has LoadBalancer addresses %v", lbAddrs)
	}
	routes := []ingRoute{{ingHost, ingPath + "/a"}, {gwHost, gwPath + "/b"}}
	want := map[string]bool{}
	for _, b := range backends {
		want[b.name] = true
	}
	// Each route reaches both backends through every door (Traefik balances
	// over the endpoints round robin; the first requests may precede
	// Traefik's first sync of the new objects).
	for _, v := range vantages {
		for _, d := range v.doors {
			for _, rt := range routes {
				seen, err := ingReach(v.netns, d, rt, len(want), 30*time.Second)
				if err != nil {
					t.Errorf("from %s: %s via %s: %v", v.what, rt, d, err)
					continue
				}
				if fmt.Sprint(seen) != fmt.Sprint(sortedKeys(want)) {
					t.Errorf("from %s: %s via %s reached backends %v, want %v", v.what, rt, d, seen, sortedKeys(want))
				}
			}
		}
		// Host and path both matter: each wrong one gets Traefik's 404.
		for _, rt := range []ingRoute{{ingHost, gwPath}, {gwHost, ingPath}, {"other.test", ingPath}, {ingHost, "/"}} {
			for _, d := range v.doors[:2] {
				if code, _, err := ingGet(v.netns, d, rt); err != nil || code != http.StatusNotFound {
					t.Errorf("from %s: %s via %s: status %d (%v), want 404 from traefik", v.what, rt, d, code, err)
				}
			}
		}
	}
	// Traefik wrote the HTTPRoute's status (accepted by its gateway) and,
	// with a load balancer, its address into the Ingress and the Gateway.
	hr, err := dyn.Resource(httpRouteGVR).Namespace(ingNamespace).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || !hasParentCondition(hr, "Accepted") {
		t.Errorf("HTTPRoute shop not Accepted by its parent: %v %v", err, hr)
	}
	if lb {
		ingressStatusAddrs(t, ctx, c, dyn, lbAddrs)
	}

	// ingress-down: every ingress door fails, the backends' Service works.
	t1 := time.Now()
	mustSandbox(t, "fault", "add", "--name", name, "ingress-down")
	t.Logf("fault add ingress-down took %s", time.Since(t1).Round(10*time.Millisecond))
	if pods, _ := c.CoreV1().Pods("traefik").List(ctx, metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Errorf("ingress-down left %d traefik pods", len(pods.Items))
	}
	websvc, err := c.CoreV1().Services(ingNamespace).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vantages {
		for _, d := range v.doors {
			for _, rt := range routes {
				if code, pod, err := ingGet(v.netns, d, rt); err == nil {
					t.Errorf("ingress-down: from %s: %s via %s still answered %d from %q", v.what, rt, d, code, pod)
				}
			}
		}
	}
	for _, ip := range websvc.Spec.ClusterIPs {
		if err := httpGet(client.netns, hostPort(ip, 80)); err != nil {
			t.Errorf("ingress-down broke the backends' own Service %s: %v", ip, err)
		}
	}
	t2 := time.Now()
	mustSandbox(t, "fault", "remove", "--name", name, "ingress-down")
	t.Logf("fault remove ingress-down took %s", time.Since(t2).Round(10*time.Millisecond))
	for _, v := range vantages {
		for _, d := range v.doors {
			for _, rt := range routes {
				if _, err := ingReach(v.netns, d, rt, len(want), 20*time.Second); err != nil {
					t.Errorf("after remove: from %s: %s via %s: %v", v.what, rt, d, err)
				}
			}
		}
	}
	guardsHold(t, s)
}

// ingressStatusAddrs waits until Traefik published the LoadBalancer
// addresses want (sorted) in the Ingress's and the Gateway's status.
func ingressStatusAddrs(t *testing.T, ctx context.Context, c kubernetes.Interface, dyn dynamic.Interface, want []string) {
	t.Helper()
	var gotIng, gotGw []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		gotIng, gotGw = nil, nil
		if ing, err := c.NetworkingV1().Ingresses(ingNamespace).Get(ctx, "shop", metav1.GetOptions{}); err == nil {
			for _, in := range ing.Status.LoadBalancer.Ingress {
				gotIng = append(gotIng, in.IP)
			}
		}
		if gw, err := dyn.Resource(gatewayGVR).Namespace("traefik").Get(ctx, "traefik", metav1.GetOptions{}); err == nil {
			addrs, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
			for _, a := range addrs {
				m, _ := a.(map[string]any)
				if v, ok := m["value"].(string); ok {
					gotGw = append(gotGw, v)
				}
			}
		}
		sort.Strings(gotIng)
		sort.Strings(gotGw)
		if fmt.Sprint(gotIng) == fmt.Sprint(want) && fmt.Sprint(gotGw) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("status addresses: Ingress %v, Gateway %v; want the LoadBalancer's %v in both", gotIng, gotGw, want)
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestIngressBadInput: a missing traefik binary and --traefik-binary
// without --ingress exit 2 naming what to do, creating nothing.
func TestIngressBadInput(t *testing.T) {
	needOwnCluster(t)
	name := os.Getenv("NETDOCTOR_E2E_PREFIX") + "e2eingbad"
	upBadInput(t, name, []string{"--ingress", "--traefik-binary", "/nonexistent/traefik"}, "--ingress", "make sandbox-traefik")
	upBadInput(t, name, []string{"--traefik-binary", "/nonexistent/traefik"}, "--traefik-binary needs --ingress")
}

type ingPod struct{ name, netns string }

// ingBackends runs the echo server as a 2-replica Deployment spread over
// the two nodes behind the dual-stack ClusterIP Service ingtest/shop, and
// returns its pods with their network namespaces.
func ingBackends(t *testing.T, ctx context.Context, c kubernetes.Interface, s *state.State) []ingPod {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ingNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "shop"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ingNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname"}}}},
					Containers: []corev1.Container{{
						Name: "echo", Image: "sandbox.local/echo:v1",
						Args: []string{"echo-server", fmt.Sprintf("--port=%d", echoPort)},
						Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
							Path: "/healthz", Port: intstr.FromInt32(echoPort)}}, PeriodSeconds: 1},
					}},
				},
			},
		},
	}
	if _, err := c.AppsV1().Deployments(ingNamespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ingNamespace},
		Spec: corev1.ServiceSpec{Selector: labels, IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicyRequireDualStack),
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(echoPort)}}},
	}
	if _, err := c.CoreV1().Services(ingNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	deadline := time.Now().Add(90 * time.Second)
	for {
		list, err := c.CoreV1().Pods(ingNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=shop"})
		pods = nil
		if err == nil {
			for _, p := range list.Items {
				for _, cond := range p.Status.Conditions {
					if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && len(p.Status.PodIPs) == 2 {
						pods = append(pods, p)
					}
				}
			}
		}
		if len(pods) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 shop pods Ready after 90s (%v)", len(pods), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if pods[0].Spec.NodeName == pods[1].Spec.NodeName {
		t.Fatalf("both backends on %s: want one per node", pods[0].Spec.NodeName)
	}
	var out []ingPod
	for _, p := range pods {
		ns, err := netnsWithIP(s.Name, p.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ingPod{p.Name, ns})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// ingObjects creates the Ingress (class traefik, host ingHost, prefix
// ingPath) and the HTTPRoute (gateway traefik/traefik, host gwHost, prefix
// gwPath), both to Service shop port 80.
func ingObjects(t *testing.T, ctx context.Context, c kubernetes.Interface, dyn dynamic.Interface) {
	t.Helper()
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ingNamespace},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("traefik"),
			Rules: []networkingv1.IngressRule{{Host: ingHost, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: ingPath, PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "shop", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
			}}}},
		},
	}
	if _, err := c.NetworkingV1().Ingresses(ingNamespace).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "HTTPRoute",
		"metadata":   map[string]any{"name": "shop", "namespace": ingNamespace},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "traefik", "namespace": "traefik", "sectionName": "web"}},
			"hostnames":  []any{gwHost},
			"rules": []any{map[string]any{
				"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": gwPath}}},
				"backendRefs": []any{map[string]any{"name": "shop", "port": int64(80)}},
			}},
		},
	}}
	if _, err := dyn.Resource(httpRouteGVR).Namespace(ingNamespace).Create(ctx, route, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// ingGet sends GET rt.path with Host rt.host to addr from inside netns and
// returns the status and, for 200, the answering pod (echo's JSON reply).
func ingGet(netns, addr string, rt ingRoute) (int, string, error) {
	var code int
	var pod string
	err := inNetns(netns, func() error {
		conn, err := net.DialTimeout("tcp", addr, probeTimeout)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(probeTimeout))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", rt.path, rt.host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code = resp.StatusCode
		if code == http.StatusOK {
			var reply struct {
				Pod string `json:"pod"`
			}
			if err := json.Unmarshal(b, &reply); err != nil || reply.Pod == "" {
				return fmt.Errorf("200 without an echo reply: %q", b)
			}
			pod = reply.Pod
		}
		return nil
	})
	return code, pod, err
}

// ingReach sends requests until n distinct backends answered 200 (or
// timeout) and returns the sorted backends seen.
func ingReach(netns, addr string, rt ingRoute, n int, timeout time.Duration) ([]string, error) {
	seen := map[string]bool{}
	deadline := time.Now().Add(timeout)
	var last string
	for len(seen) < n {
		code, pod, err := ingGet(netns, addr, rt)
		switch {
		case err != nil:
			last = err.Error()
		case code != http.StatusOK:
			last = fmt.Sprintf("status %d", code)
		default:
			seen[pod] = true
		}
		if time.Now().After(deadline) {
			return sortedKeys(seen), fmt.Errorf("reached %d of %d backends in %s (last failure: %s)", len(seen), n, timeout, last)
		}
		if len(seen) < n && code != http.StatusOK {
			time.Sleep(200 * time.Millisecond)
		}
	}
	return sortedKeys(seen), nil
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// netnsWithIP finds the cluster's network namespace holding ip.
func netnsWithIP(clusterName, ip string) (string, error) {
	nss, err := cluster.Namespaces(clusterName)
	if err != nil {
		return "", err
	}
	for _, ns := range nss {
		out, err := exec.Command("ip", "-n", ns, "-o", "addr", "show").Output()
		if err == nil && strings.Contains(string(out), " "+ip+"/") {
			return ns, nil
		}
	}
	return "", fmt.Errorf("no network namespace of cluster %s holds %s", clusterName, ip)
}

func dynClient(t *testing.T, kubeconfig string) dynamic.Interface {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// hasCondition reports whether obj's status.conditions has type t True.
func hasCondition(obj *unstructured.Unstructured, t string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	return condTrue(conds, t)
}

// hasParentCondition reports whether some status.parents[].conditions has
// type t True (Gateway API route status).
func hasParentCondition(obj *unstructured.Unstructured, t string) bool {
	parents, _, _ := unstructured.NestedSlice(obj.Object, "status", "parents")
	for _, p := range parents {
		m, _ := p.(map[string]any)
		conds, _ := m["conditions"].([]any)
		if condTrue(conds, t) {
			return true
		}
	}
	return false
}

func condTrue(conds []any, t string) bool {
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == t && m["status"] == "True" {
			return true
		}
	}
	return false
}
