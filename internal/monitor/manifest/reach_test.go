package manifest

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// The loadbalancer, ingress and gateway paths add their objects (with the
// monitor's labels, so uninstall removes them), the server's flags and
// the RBAC the server reads their addresses with.
func TestReachVIPObjects(t *testing.T) {
	o := Defaults()
	o.Reach.Schedule = "0 1"
	o.Reach.LoadBalancer, o.Reach.IngressClass, o.Reach.Gateway = true, "traefik", "gw-ns/main"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var lb *corev1.Service
	var ing *networkingv1.Ingress
	var route *unstructured.Unstructured
	var role *rbacv1.Role
	var crole *rbacv1.ClusterRole
	var serverCmd []string
	for _, obj := range Objects(o) {
		switch x := obj.(type) {
		case *corev1.Service:
			if x.Name == api.ReachLBServiceName {
				lb = x
			}
		case *networkingv1.Ingress:
			ing = x
		case *unstructured.Unstructured:
			route = x
		case *rbacv1.Role:
			role = x
		case *rbacv1.ClusterRole:
			crole = x
		case *appsv1.Deployment:
			serverCmd = x.Spec.Template.Spec.Containers[0].Command
		}
		if obj.GetLabels()[api.LabelPartOf] != api.PartOf {
			t.Errorf("%T %s: part-of %q, want %s", obj, obj.GetName(), obj.GetLabels()[api.LabelPartOf], api.PartOf)
		}
	}
	if lb == nil || lb.Spec.Type != corev1.ServiceTypeLoadBalancer || lb.Spec.Ports[0].NodePort != 0 ||
		lb.Spec.Selector[api.LabelNetwork] != string(api.NetworkPod) || lb.Spec.Ports[0].Port != int32(o.AgentPort) {
		t.Errorf("LB Service %+v: want type LoadBalancer over the pod-network agents' port, NodePort allocated", lb)
	}
	if ing == nil || *ing.Spec.IngressClassName != "traefik" || ing.Name != api.ReachIngressName ||
		ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != ReachService || ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number != int32(o.AgentPort) {
		t.Errorf("Ingress %+v: want class traefik to the reach Service", ing)
	}
	if route == nil || route.GetKind() != "HTTPRoute" || route.GetName() != api.ReachRouteName || route.GetNamespace() != o.Namespace {
		t.Fatalf("HTTPRoute %v", route)
	}
	parents, _, _ := unstructured.NestedSlice(route.Object, "spec", "parentRefs")
	if len(parents) != 1 || parents[0].(map[string]any)["namespace"] != "gw-ns" || parents[0].(map[string]any)["name"] != "main" {
		t.Errorf("HTTPRoute parentRefs %v, want gw-ns/main", parents)
	}
	for _, want := range []string{"--reach-load-balancer", "--reach-ingress", "--reach-gateway=gw-ns/main"} {
		if !slices.Contains(serverCmd, want) {
			t.Errorf("server command %v lacks %s", serverCmd, want)
		}
	}
	has := func(rules []rbacv1.PolicyRule, group, res string) bool {
		for _, r := range rules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, "get") {
				return true
			}
		}
		return false
	}
	if !has(role.Rules, "", "services") || !has(role.Rules, "networking.k8s.io", "ingresses") {
		t.Errorf("Role rules %v: want get on services and ingresses", role.Rules)
	}
	if !has(crole.Rules, "gateway.networking.k8s.io", "gateways") || !has(crole.Rules, "", "services") {
		t.Errorf("ClusterRole rules %v: want get on gateways and services", crole.Rules)
	}

	// Without the paths: none of it.
	o.Reach.LoadBalancer, o.Reach.IngressClass, o.Reach.Gateway = false, "", ""
	for _, obj := range Objects(o) {
		switch x := obj.(type) {
		case *networkingv1.Ingress, *unstructured.Unstructured:
			t.Errorf("without the paths: %T %s", x, obj.GetName())
		case *corev1.Service:
			if x.Name == api.ReachLBServiceName {
				t.Errorf("without the paths: LB Service")
			}
		case *rbacv1.ClusterRole:
			if len(x.Rules) != 1 {
				t.Errorf("without the paths: ClusterRole rules %v", x.Rules)
			}
		}
	}
}

func TestReachVIPOptionsValidated(t *testing.T) {
	o := Defaults()
	o.Reach.LoadBalancer = true
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "need --reach-schedule") {
		t.Errorf("LB path without a schedule: %v", err)
	}
	o.Reach.Schedule, o.Reach.Gateway, o.Reach.IngressClass = "0 1", "main", "Bad_Class"
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), `--reach-gateway: must be <namespace>/<name> of a Gateway, got "main"`) ||
		!strings.Contains(err.Error(), "--reach-ingress-class") {
		t.Errorf("bad gateway and class: %v", err)
	}
}
