package monitorcmd

import (
	"context"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
)

func reachClients(t *testing.T, withCluster bool) *clients {
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gatewayGVR: "GatewayList"})
	cs := fake.NewSimpleClientset()
	if withCluster {
		cs = fake.NewSimpleClientset(&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "traefik"}})
		gw := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
			"metadata": map[string]any{"name": "main", "namespace": "gw"},
			"spec":     map[string]any{"listeners": []any{map[string]any{"protocol": "HTTP", "port": int64(80)}}},
			"status":   map[string]any{"addresses": []any{map[string]any{"type": "IPAddress", "value": "172.30.0.12"}}}}}
		if _, err := dyn.Resource(gatewayGVR).Namespace("gw").Create(context.Background(), gw, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return &clients{cs: cs, dynamic: dyn}
}

func TestResolveReachPaths(t *testing.T) {
	ctx := context.Background()
	// auto on a cluster with a class and a Gateway: both picked.
	r := manifest.ReachOptions{Schedule: "0 1", IngressClass: "auto", Gateway: "auto"}
	ai, ag, err := takeReachAuto(&r)
	if err != nil || !ai || !ag || r.IngressClass != "" || r.Gateway != "" {
		t.Fatalf("takeReachAuto: %v %v %v %+v", ai, ag, err, r)
	}
	notes, err := resolveReachPaths(ctx, reachClients(t, true), &r, ai, ag)
	if err != nil || len(notes) != 0 || r.IngressClass != "traefik" || r.Gateway != "gw/main" {
		t.Fatalf("auto: %v notes %q options %+v", err, notes, r)
	}
	// auto on a cluster without: both paths off, with a note each.
	r = manifest.ReachOptions{Schedule: "0 1"}
	notes, err = resolveReachPaths(ctx, reachClients(t, false), &r, true, true)
	if err != nil || len(notes) != 2 || r.IngressClass != "" || r.Gateway != "" ||
		!strings.HasPrefix(notes[0], "ingress path off: the cluster has no IngressClass") || !strings.HasPrefix(notes[1], "gateway path off: ") {
		t.Fatalf("auto without: %v notes %q options %+v", err, notes, r)
	}
	// Named ones that do not exist: exit 2 naming the flag.
	for _, c := range []struct {
		r    manifest.ReachOptions
		flag string
	}{
		{manifest.ReachOptions{Schedule: "0 1", IngressClass: "nginx"}, "--reach-ingress-class: IngressClass \"nginx\" does not exist"},
		{manifest.ReachOptions{Schedule: "0 1", Gateway: "gw/other"}, "--reach-gateway: Gateway gw/other does not exist"},
	} {
		_, err := resolveReachPaths(ctx, reachClients(t, true), &c.r, false, false)
		if clierr.Code(err) != clierr.Usage || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%+v: err %v (code %d), want exit 2 with %q", c.r, err, clierr.Code(err), c.flag)
		}
	}
	// Named ones that exist pass unchanged.
	r = manifest.ReachOptions{Schedule: "0 1", IngressClass: "traefik", Gateway: "gw/main"}
	if notes, err := resolveReachPaths(ctx, reachClients(t, true), &r, false, false); err != nil || len(notes) != 0 || r.Gateway != "gw/main" {
		t.Errorf("named: %v %q %+v", err, notes, r)
	}
	r = manifest.ReachOptions{Gateway: "auto"}
	if _, _, err := takeReachAuto(&r); err == nil || !strings.Contains(err.Error(), "need --reach-schedule") {
		t.Errorf("auto without a schedule: %v", err)
	}
}

func TestRenderRefusesReachAuto(t *testing.T) {
	_, _, err := run(context.Background(), "render", "--reach-schedule=0 1", "--reach-gateway=auto")
	if clierr.Code(err) != clierr.Usage || !strings.Contains(err.Error(), "auto needs the cluster") {
		t.Fatalf("render --reach-gateway=auto: %v (code %d), want exit 2", err, clierr.Code(err))
	}
}
