package ingress

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
)

// Gateway API resources the sandbox creates (cluster-scoped GatewayClass,
// namespaced Gateway).
var (
	GatewayClassGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gatewayclasses"}
	GatewayGVR      = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
)

// Options say where Traefik comes from and how it is exposed.
type Options struct {
	Binary   string // the traefik binary (checked by Check)
	Registry string // the cluster's registry, "127.0.0.1:PORT"
	// LoadBalancer exposes Traefik through a Service of type LoadBalancer
	// (the cluster has a load-balancer implementation) and makes Traefik
	// publish its address in Ingress and Gateway status; else NodePort.
	LoadBalancer bool
}

// clients are the three API clients Install needs.
type clients struct {
	kube kubernetes.Interface
	ext  apiextensions.Interface
	dyn  dynamic.Interface
}

func newClients(kubeconfig string) (*clients, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	rc.QPS, rc.Burst, rc.Timeout = 50, 100, 15*time.Second
	c := &clients{}
	if c.kube, err = kubernetes.NewForConfig(rc); err != nil {
		return nil, err
	}
	if c.ext, err = apiextensions.NewForConfig(rest.CopyConfig(rc)); err != nil {
		return nil, err
	}
	if c.dyn, err = dynamic.NewForConfig(rest.CopyConfig(rc)); err != nil {
		return nil, err
	}
	return c, nil
}

// Install pushes Traefik's image, installs the Gateway API CRDs and creates
// Traefik's objects. It returns once they exist; Wait waits until Traefik
// serves.
func Install(ctx context.Context, kubeconfig string, o Options, logf func(string, ...any)) error {
	c, err := newClients(kubeconfig)
	if err != nil {
		return err
	}
	// The push (a few seconds: the binary is large) overlaps with the CRDs
	// becoming established.
	pushed := make(chan error, 1)
	var ref string
	go func() {
		var err error
		ref, err = PushImage(ctx, o.Binary, o.Registry)
		pushed <- err
	}()
	if err := installCRDs(ctx, c.ext, CRDDir(o.Binary)); err != nil {
		<-pushed
		return err
	}
	logf("Gateway API %s standard CRDs established", GatewayAPIVersion)
	if err := <-pushed; err != nil {
		return err
	}
	logf("pushed traefik's image as %s", ref)
	typ := corev1.ServiceTypeNodePort
	published := ""
	if o.LoadBalancer {
		typ = corev1.ServiceTypeLoadBalancer
		published = Namespace + "/" + Name
	}
	role, binding := rbac()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: labels}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: labels}}
	k := c.kube
	steps := []struct {
		what string
		fn   func() error
	}{
		{"Namespace " + Namespace, func() error { _, err := k.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); return err }},
		{"ServiceAccount " + Name, func() error {
			_, err := k.CoreV1().ServiceAccounts(Namespace).Create(ctx, sa, metav1.CreateOptions{})
			return err
		}},
		{"ClusterRole " + role.Name, func() error {
			_, err := k.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
			return err
		}},
		{"ClusterRoleBinding " + binding.Name, func() error {
			_, err := k.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
			return err
		}},
		{"IngressClass " + ClassName, func() error {
			_, err := k.NetworkingV1().IngressClasses().Create(ctx, ingressClass(), metav1.CreateOptions{})
			return err
		}},
		{"GatewayClass " + ClassName, func() error {
			_, err := c.dyn.Resource(GatewayClassGVR).Create(ctx, gatewayClass(), metav1.CreateOptions{})
			return err
		}},
		{"Gateway " + Namespace + "/" + Name, func() error {
			_, err := c.dyn.Resource(GatewayGVR).Namespace(Namespace).Create(ctx, gateway(), metav1.CreateOptions{})
			return err
		}},
		{"Service " + Namespace + "/" + Name, func() error {
			_, err := k.CoreV1().Services(Namespace).Create(ctx, service(typ), metav1.CreateOptions{})
			return err
		}},
		{"Deployment " + Namespace + "/" + Name, func() error {
			_, err := k.AppsV1().Deployments(Namespace).Create(ctx, deployment(ref, Args(published)), metav1.CreateOptions{})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s: %w", s.what, err)
		}
	}
	return nil
}

// installCRDs creates the Gateway API CRDs of dir and waits until the API
// server serves them (Established).
func installCRDs(ctx context.Context, c apiextensions.Interface, dir string) error {
	files, err := readCRDs(dir)
	if err != nil {
		return err
	}
	var names []string
	for f, b := range files {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			return fmt.Errorf("decoding %s: %w", f, err)
		}
		if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		names = append(names, crd.Name)
	}
	sort.Strings(names)
	return controlplane.WaitFor(ctx, "Gateway API CRDs established", 300*time.Millisecond, func(ctx context.Context) error {
		for _, n := range names {
			crd, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			established := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return fmt.Errorf("CRD %s not established yet", n)
			}
		}
		return nil
	})
}

func gatewayClass() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "GatewayClass",
		"metadata":   map[string]any{"name": ClassName, "labels": toAny(labels)},
		"spec":       map[string]any{"controllerName": GatewayController},
	}}
}

// gateway has one HTTP listener on entry point web that takes HTTPRoutes
// from every namespace (as a cluster's shared gateway does).
func gateway() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "Gateway",
		"metadata":   map[string]any{"name": Name, "namespace": Namespace, "labels": toAny(labels)},
		"spec": map[string]any{
			"gatewayClassName": ClassName,
			"listeners": []any{map[string]any{
				"name": ListenerName, "protocol": "HTTP", "port": int64(WebPort),
				"allowedRoutes": map[string]any{"namespaces": map[string]any{"from": "All"}},
			}},
		},
	}}
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Wait waits until Traefik serves: its Deployment available, the
// GatewayClass accepted and the Gateway programmed (which Traefik writes
// once its providers loaded), and with a LoadBalancer Service an address
// assigned to it.
func Wait(ctx context.Context, kubeconfig string, loadBalancer bool) error {
	c, err := newClients(kubeconfig)
	if err != nil {
		return err
	}
	return controlplane.WaitFor(ctx, "traefik serving", 300*time.Millisecond, func(ctx context.Context) error {
		if err := deploymentAvailable(ctx, c.kube); err != nil {
			return err
		}
		gc, err := c.dyn.Resource(GatewayClassGVR).Get(ctx, ClassName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !conditionTrue(gc, "Accepted") {
			return fmt.Errorf("GatewayClass %s not Accepted yet", ClassName)
		}
		gw, err := c.dyn.Resource(GatewayGVR).Namespace(Namespace).Get(ctx, Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !conditionTrue(gw, "Programmed") {
			return fmt.Errorf("gateway %s/%s not Programmed yet", Namespace, Name)
		}
		if loadBalancer {
			svc, err := c.kube.CoreV1().Services(Namespace).Get(ctx, Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(svc.Status.LoadBalancer.Ingress) == 0 {
				return fmt.Errorf("service %s/%s has no load-balancer address yet", Namespace, Name)
			}
		}
		return nil
	})
}

func deploymentAvailable(ctx context.Context, k kubernetes.Interface) error {
	d, err := k.AppsV1().Deployments(Namespace).Get(ctx, Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas < want || d.Status.UpdatedReplicas < want {
		return fmt.Errorf("deployment %s/%s: %d/%d replicas available", Namespace, Name, d.Status.AvailableReplicas, want)
	}
	return nil
}

// conditionTrue reports whether status.conditions has type t with status True.
func conditionTrue(u *unstructured.Unstructured, t string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == t && m["status"] == "True" {
			return true
		}
	}
	return false
}
