package reach

import (
	"context"

	"fmt"
	"github.com/netdoctor/netdoctor/internal/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/deploy"
)

// Names of the objects `netctl reach` creates (besides the agents).
const (
	ServiceName         = "netdoctor-reach"          // ClusterIP + NodePort (and the Ingress/HTTPRoute backend)
	LocalServiceName    = "netdoctor-reach-local"    // externalTrafficPolicy: Local
	AffinityServiceName = "netdoctor-reach-affinity" // sessionAffinity: ClientIP
	LBServiceName       = "netdoctor-reach-lb"       // type LoadBalancer
	hairpinPrefix       = "netdoctor-reach-hp-"      // + node index: one single-backend Service per node
	IngressName         = "netdoctor-reach"
	RouteName           = "netdoctor-reach"
	// VirtualHost is the Host header of the ingress and gateway paths; it
	// is never resolved (.invalid, RFC 6761).
	VirtualHost = "reach.netdoctor.invalid"
	// EchoPath is the agent's echo endpoint (anything under it answers).
	EchoPath = "/echo"
	// ComponentLabel marks reach's objects among the check's.
	ComponentLabel = "app.kubernetes.io/component"
	ComponentValue = "reach"
	// NodeAnnotation names the node of a hairpin Service's one backend.
	NodeAnnotation = "netdoctor.io/node"
)

// labels are the check's managed labels (so `netctl clean` and the
// e2e object listings see them) plus the reach component.
func labels() map[string]string {
	return map[string]string{deploy.ManagedByLabel: deploy.ManagedByValue, deploy.PartOfLabel: deploy.PartOfValue, ComponentLabel: ComponentValue}
}

// podAgentSelector selects the pod-network agents: every Service's backends.
func podAgentSelector() map[string]string {
	return map[string]string{deploy.NameLabel: deploy.AgentName, deploy.NetworkLabel: string(deploy.PodNetwork)}
}

// owner makes the pod-network agents' DaemonSet the owner of every reach
// object: `netctl clean` (and autoClean) deletes that DaemonSet with
// background propagation, and the garbage collector then removes the
// Services, EndpointSlices, Ingress and HTTPRoute with it. Nothing the
// user owns is ever an owner or a dependent.
type owner struct {
	Name string
	UID  string
}

func (o owner) refs() []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: o.Name, UID: types.UID(o.UID)}}
}

func meta(name, namespace string, o owner) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels(), OwnerReferences: o.refs()}
}

func servicePort(port int) []corev1.ServicePort {
	return []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: int32(port), TargetPort: intstr.FromInt32(int32(port))}}
}

// Services returns the Services reach needs for paths, over the
// pod-network agents listening on port, in both families where the
// cluster has them (PreferDualStack).
func Services(namespace string, port int, paths map[PathKind]bool, o owner) []*corev1.Service {
	dual := corev1.IPFamilyPolicyPreferDualStack
	svc := func(name string, typ corev1.ServiceType) *corev1.Service {
		return &corev1.Service{ObjectMeta: meta(name, namespace, o), Spec: corev1.ServiceSpec{
			Type: typ, Selector: podAgentSelector(), Ports: servicePort(port), IPFamilyPolicy: &dual,
			// Agents are judged by who answers: an agent not Ready is
			// simply not an endpoint, not a failure of the path.
			PublishNotReadyAddresses: false,
		}}
	}
	var out []*corev1.Service
	if paths[PathClusterIP] || paths[PathNodePort] || paths[PathIngress] || paths[PathGateway] {
		out = append(out, svc(ServiceName, corev1.ServiceTypeNodePort))
	}
	if paths[PathLocal] {
		s := svc(LocalServiceName, corev1.ServiceTypeNodePort)
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		out = append(out, s)
	}
	if paths[PathAffinity] {
		s := svc(AffinityServiceName, corev1.ServiceTypeClusterIP)
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		out = append(out, s)
	}
	if paths[PathLoadBalancer] {
		out = append(out, svc(LBServiceName, corev1.ServiceTypeLoadBalancer))
	}
	return out
}

// HairpinServiceName is the single-backend Service of the i-th node.
func HairpinServiceName(i int) string { return fmt.Sprintf("%s%d", hairpinPrefix, i) }

// HairpinService is a Service without selector whose only backend is the
// agent pod on node (its EndpointSlices come from HairpinSlices).
func HairpinService(namespace string, i int, node string, port int, o owner) *corev1.Service {
	dual := corev1.IPFamilyPolicyPreferDualStack
	m := meta(HairpinServiceName(i), namespace, o)
	m.Annotations = map[string]string{NodeAnnotation: node}
	return &corev1.Service{ObjectMeta: m, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: servicePort(port), IPFamilyPolicy: &dual}}
}

// HairpinSlices are the EndpointSlices (one per family) that make the
// agent pod (name, ips) on node the only backend of hairpin Service i.
func HairpinSlices(namespace string, i int, node, pod string, ips []string, port int, o owner) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	p, proto, name, ready := int32(port), corev1.ProtocolTCP, "http", true
	for _, ip := range ips {
		fam, af := "ipv4", discoveryv1.AddressTypeIPv4
		if strings.Contains(ip, ":") {
			fam, af = "ipv6", discoveryv1.AddressTypeIPv6
		}
		m := meta(HairpinServiceName(i)+"-"+fam, namespace, o)
		m.Labels[discoveryv1.LabelServiceName] = HairpinServiceName(i)
		m.Labels[discoveryv1.LabelManagedBy] = "netctl"
		nodeName := node
		out = append(out, &discoveryv1.EndpointSlice{ObjectMeta: m, AddressType: af,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip}, NodeName: &nodeName,
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: pod}}},
			Ports: []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &p}},
		})
	}
	return out
}

// Ingress routes VirtualHost's EchoPath to ServiceName through class.
func Ingress(namespace, class string, port int, o owner) *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: meta(IngressName, namespace, o), Spec: IngressSpec(class, ServiceName, port)}
}

// IngressSpec routes VirtualHost's EchoPath to port of Service service
// through class (also the monitor's reach Ingress).
func IngressSpec(class, service string, port int) networkingv1.IngressSpec {
	prefix := networkingv1.PathTypePrefix
	return networkingv1.IngressSpec{
		IngressClassName: &class,
		Rules: []networkingv1.IngressRule{{Host: VirtualHost, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: EchoPath, PathType: &prefix, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: service, Port: networkingv1.ServiceBackendPort{Number: int32(port)}}}}},
		}}}},
	}
}

// HTTPRoute (gateway.networking.k8s.io/v1) attaches VirtualHost's EchoPath
// to Gateway gwNamespace/gwName, backed by ServiceName.
func HTTPRoute(namespace, gwNamespace, gwName string, port int, o owner) *unstructured.Unstructured {
	return RouteObject(meta(RouteName, namespace, o), gwNamespace, gwName, ServiceName, port)
}

// RouteObject is an HTTPRoute with m's name, namespace, labels and owners
// attaching VirtualHost's EchoPath to Gateway gwNamespace/gwName, backed by
// port of Service service (also the monitor's reach HTTPRoute).
// Unstructured: the Gateway API types are not worth a module dependency
// for one object.
func RouteObject(m metav1.ObjectMeta, gwNamespace, gwName, service string, port int) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": routeSpec(gwNamespace, gwName, service, port)}}
	u.SetAPIVersion("gateway.networking.k8s.io/v1")
	u.SetKind("HTTPRoute")
	u.SetName(m.Name)
	u.SetNamespace(m.Namespace)
	u.SetLabels(m.Labels)
	u.SetOwnerReferences(m.OwnerReferences)
	return u
}

// routeSpec is the HTTPRoute spec of RouteObject.
func routeSpec(gwNamespace, gwName, service string, port int) map[string]any {
	return map[string]any{
		"parentRefs": []any{map[string]any{"name": gwName, "namespace": gwNamespace}},
		"hostnames":  []any{VirtualHost},
		"rules": []any{map[string]any{
			"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": EchoPath}}},
			"backendRefs": []any{map[string]any{"name": service, "port": int64(port)}},
		}},
	}
}

// applySlice creates or updates one of netctl's EndpointSlices.
func applySlice(ctx context.Context, client *kube.Client, s *discoveryv1.EndpointSlice) error {
	api := client.Clientset.DiscoveryV1().EndpointSlices(s.Namespace)
	_, err := api.Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, gerr := api.Get(ctx, s.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if err = owned(cur.Labels, "EndpointSlice", s.Namespace, s.Name); err == nil {
			s.ResourceVersion = cur.ResourceVersion
			_, err = api.Update(ctx, s, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("creating EndpointSlice %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}
