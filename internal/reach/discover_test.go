package reach

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func TestCapabilitiesFromTheCluster(t *testing.T) {
	ctx := context.Background()
	bare := fake.NewClientset()
	c := discoverCaps(ctx, bare, nil)
	if c.LB == "" || c.NoIngress == "" || c.NoGateway == "" {
		t.Errorf("bare cluster: %+v", c)
	}
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: "traefik"},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8000)}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "100.64.34.1"}}}}}
	other := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "a-other"}}
	def := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "traefik", Annotations: map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}}}
	cs := fake.NewClientset(lb, other, def)
	c = discoverCaps(ctx, cs, nil)
	if c.LB != "" || c.IngressClass != "traefik" {
		t.Errorf("LB and default class: %+v", c)
	}
	g := &GatewayRef{Port: 8000, Addresses: []string{"100.64.34.1"}}
	if p := gatewayPort(ctx, cs, g); p != 80 {
		t.Errorf("gateway port behind the LB Service %d, want 80", p)
	}
	g.Addresses = []string{"100.64.34.9"}
	if p := gatewayPort(ctx, cs, g); p != 8000 {
		t.Errorf("gateway port without a Service %d, want the listener's 8000", p)
	}
}
