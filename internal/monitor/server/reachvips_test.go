package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// gatewayObject is a Gateway with an HTTP listener on port and addrs in
// its status.
func gatewayObject(ns, name string, port int64, addrs ...string) *unstructured.Unstructured {
	var as []any
	for _, a := range addrs {
		as = append(as, map[string]any{"type": "IPAddress", "value": a})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"listeners": []any{map[string]any{"name": "web", "protocol": "HTTP", "port": port}}},
		"status":   map[string]any{"addresses": as},
	}}
}

// dynClient is a fake dynamic client holding the Gateways gws.
func dynClient(t *testing.T, gws ...*unstructured.Unstructured) *dynfake.FakeDynamicClient {
	gvr := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "GatewayList"})
	for _, g := range gws {
		if _, err := dyn.Resource(gvr).Namespace(g.GetNamespace()).Create(context.Background(), g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return dyn
}

func TestKubeReachVIPsReadsAddresses(t *testing.T) {
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: api.ReachLBServiceName, Namespace: "mon"},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 8890}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "fd00:lb::1"}, {IP: "172.30.0.10"}, {Hostname: "lb.example"}}}}}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: api.ReachIngressName, Namespace: "mon"},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "172.30.0.11"}}}}}
	k := KubeReachVIPs{Client: fake.NewSimpleClientset(lb, ing), Dynamic: dynClient(t, gatewayObject("gw", "main", 8000, "172.30.0.12", "fd00:lb::12")),
		Namespace: "mon", LoadBalancer: true, Ingress: true, Gateway: "gw/main"}
	got := k.ReachVIPs(context.Background())
	var rows []string
	for _, v := range got.Targets {
		b, _ := json.Marshal(v)
		rows = append(rows, string(b))
	}
	want := []string{
		`{"kind":"loadbalancer","ip":"172.30.0.10","port":8890}`,
		`{"kind":"loadbalancer","ip":"fd00:lb::1","port":8890}`,
		`{"kind":"ingress","ip":"172.30.0.11","port":80,"host":"reach.netdoctor.invalid"}`,
		`{"kind":"gateway","ip":"172.30.0.12","port":8000,"host":"reach.netdoctor.invalid"}`,
		`{"kind":"gateway","ip":"fd00:lb::12","port":8000,"host":"reach.netdoctor.invalid"}`,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") || len(got.Notes) != 0 {
		t.Fatalf("targets:\n%s\nnotes %v\nwant:\n%s", strings.Join(rows, "\n"), got.Notes, strings.Join(want, "\n"))
	}
}

// Asked paths the cluster cannot serve give a note each, no target and
// no error.
func TestKubeReachVIPsNotes(t *testing.T) {
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: api.ReachLBServiceName, Namespace: "mon"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 8890}}}}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: api.ReachIngressName, Namespace: "mon"}}
	k := KubeReachVIPs{Client: fake.NewSimpleClientset(lb, ing), Dynamic: dynClient(t, gatewayObject("gw", "main", 80)),
		Namespace: "mon", LoadBalancer: true, Ingress: true, Gateway: "gw/main"}
	got := k.ReachVIPs(context.Background())
	if len(got.Targets) != 0 || len(got.Notes) != 3 ||
		!strings.HasPrefix(got.Notes[0], "loadbalancer path: Service mon/netdoctor-monitor-reach-lb has no LoadBalancer IP") ||
		!strings.HasPrefix(got.Notes[1], "ingress path: Ingress mon/netdoctor-monitor-reach has no address") ||
		!strings.HasPrefix(got.Notes[2], "gateway path: Gateway gw/main has no HTTP listener with an IP address") {
		t.Fatalf("targets %v notes %q: want three notes, no target", got.Targets, got.Notes)
	}
	k.Gateway = "gw/other"
	if got := k.ReachVIPs(context.Background()); !strings.Contains(got.Notes[2], "reading Gateway gw/other") {
		t.Fatalf("missing Gateway: notes %q", got.Notes)
	}
}

// countingVIPs answers fixed targets and counts the reads.
type countingVIPs struct {
	reads *int
	out   api.ReachTargets
}

func (c countingVIPs) ReachVIPs(context.Context) api.ReachTargets { *c.reads++; return c.out }

// GET /api/v1/reach-targets needs the token, reads the cluster at most
// once per vipCacheFor, and the notes show in GET /api/v1/reach.
func TestReachTargetsEndpoint(t *testing.T) {
	reads := 0
	vips := countingVIPs{&reads, api.ReachTargets{Targets: []api.ReachVIP{{Kind: "ingress", IP: "172.30.0.11", Port: 80, Host: "h"}},
		Notes: []string{"gateway path: no Gateway"}}}
	_, clk, hs := newTestServer(t, func(c *Config) { c.ReachVIPs = vips })
	get := func(token string) (int, api.ReachTargets) {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+api.PathReachTargets, nil)
		if token != "" {
			req.Header.Set(api.TokenHeader, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out api.ReachTargets
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Fatalf("without token: status %d, want 401", code)
	}
	code, got := get(testToken)
	if code != http.StatusOK || len(got.Targets) != 1 || got.Targets[0].IP != "172.30.0.11" || got.Targets[0].Host != "h" {
		t.Fatalf("status %d, targets %+v", code, got)
	}
	get(testToken)
	clk.Add(5 * time.Second)
	get(testToken)
	if reads != 1 {
		t.Fatalf("%d cluster reads within %s, want 1", reads, vipCacheFor)
	}
	clk.Add(vipCacheFor)
	get(testToken)
	if reads != 2 {
		t.Fatalf("%d cluster reads after the cache expired, want 2", reads)
	}
	resp, err := http.Get(hs.URL + api.PathReach)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Notes []string `json:"notes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || !slices.Equal(st.Notes, []string{"gateway path: no Gateway"}) {
		t.Fatalf("GET /api/v1/reach notes %q (%v), want the gateway note", st.Notes, err)
	}
}

// Without a ReachVIPs the server hands out no targets (an empty list).
func TestReachTargetsNone(t *testing.T) {
	s, _, _ := newTestServer(t, nil)
	if got := s.ReachTargets(context.Background()); got.Targets == nil || len(got.Targets) != 0 {
		t.Fatalf("targets %v, want an empty list", got.Targets)
	}
}

// vipPath is a one-row path of kind through addr: answered 40 times by
// every agent, or by nobody (refused) when down.
func vipPath(kind, addr string, down bool) api.ReachPath {
	r := api.ReachTarget{Address: addr, Requests: 120, Succeeded: 120}
	for _, n := range reachNodes {
		r.Backends = append(r.Backends, api.ReachBackend{Node: n, Pod: "agent-" + n, Count: 40})
	}
	if down {
		r.Succeeded, r.Backends, r.Errors = 0, nil, map[string]int64{"refused": 120}
	}
	return api.ReachPath{Kind: kind, Family: "IPv4", Targets: 1, Requests: r.Requests, Succeeded: r.Succeeded, Latency: hist(100), Rows: []api.ReachTarget{r}}
}

// The loadbalancer, ingress and gateway rows are judged like the
// ClusterIP's (the reach Service's ready endpoints): backends gauges per
// path; with the ingress controller down, path-down for ingress and
// gateway (netctl reach's finding) while the LoadBalancer works.
func TestReachVIPPathsJudged(t *testing.T) {
	s, _, hs := newTestServer(t, func(c *Config) {
		c.ReachExpectSuccessRate = 1
		c.ReachEndpoints = fixedEndpoints{eps: agentEndpoints()}
	})
	post := func(ingressDown bool) {
		for _, n := range reachNodes {
			rep := round(n, 60, []string{"agent-n1", "agent-n2", "agent-n3"}, nil)
			rep.Paths = append(rep.Paths, vipPath("loadbalancer", "172.30.0.10:8890", false),
				vipPath("ingress", "172.30.0.11:80", ingressDown), vipPath("gateway", "172.30.0.12:8000", ingressDown))
			if code := postReach(t, hs.URL, n+"-private_network", rep); code != http.StatusOK {
				t.Fatalf("POST reach %s: %d", n, code)
			}
		}
	}
	post(false)
	g := gauges(t, s)
	for _, n := range reachNodes {
		for _, p := range []string{"loadbalancer", "ingress", "gateway"} {
			if g[n+"/"+p+"/IPv4"] != "3/3" {
				t.Errorf("%s %s backends %q, want 3/3 (gauges %v)", n, p, g[n+"/"+p+"/IPv4"], g)
			}
		}
	}
	if f := findingKinds(s); len(f) != 0 {
		t.Fatalf("healthy: findings %q", f)
	}
	post(true)
	g = gauges(t, s)
	if g["n1/ingress/IPv4"] != "0/3" || g["n2/gateway/IPv4"] != "0/3" || g["n3/loadbalancer/IPv4"] != "3/3" {
		t.Errorf("ingress down: gauges %v, want ingress and gateway 0/3, loadbalancer 3/3", g)
	}
	if f := findingKinds(s); !slices.Equal(f, []string{"path-down  ingress", "path-down  gateway"}) && !slices.Equal(f, []string{"path-down  gateway", "path-down  ingress"}) {
		t.Errorf("ingress down: findings %q, want path-down for ingress and gateway only", f)
	}
}
