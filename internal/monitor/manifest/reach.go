package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/reachmon"
	"github.com/netdoctor/netdoctor/internal/reach"
)

// ReachService is the Service over the pod-network agents that the reach
// rounds' clusterip and nodeport paths go through.
const (
	ReachService         = api.ReachServiceName
	DefaultReachNodePort = 31082
)

// ReachOptions turn on reach rounds in the pod-network agents (empty
// Schedule: off, and no reach Service).
type ReachOptions struct {
	Schedule string // "M N" or a 5-field cron line
	QPS      int
	Duration time.Duration
	Timeout  time.Duration
	NodePort int
	// LoadBalancer adds the loadbalancer path: a LoadBalancer Service over
	// the pod-network agents (ReachLBService).
	LoadBalancer bool
	// IngressClass, when set, adds the ingress path: an Ingress of that
	// class to the reach Service.
	IngressClass string
	// Gateway ("namespace/name"), when set, adds the gateway path: an
	// HTTPRoute on that Gateway to the reach Service.
	Gateway string
	// Expectations the server exports for the alert rules.
	ExpectSuccessRate float64
	ExpectP99         time.Duration
}

// DefaultReach is the reach options' defaults (Schedule empty: off).
func DefaultReach() ReachOptions {
	return ReachOptions{QPS: reachmon.DefaultQPS, Duration: reachmon.DefaultDuration, Timeout: reachmon.DefaultTimeout,
		NodePort: DefaultReachNodePort, ExpectSuccessRate: 1, ExpectP99: time.Second}
}

func (o Options) validateReach() []error {
	r := o.Reach
	if r.Schedule == "" {
		if r.LoadBalancer || r.IngressClass != "" || r.Gateway != "" {
			return []error{errors.New("--reach-load-balancer, --reach-ingress-class, --reach-gateway: need --reach-schedule (they add paths to the reach rounds)")}
		}
		return nil
	}
	var errs []error
	if _, err := reachmon.ParseSchedule("--reach-schedule", r.Schedule); err != nil {
		errs = append(errs, err)
	}
	c := reachmon.Config{QPS: r.QPS, Duration: r.Duration, Timeout: r.Timeout, Service: ReachService, ServicePort: 1}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if r.NodePort < 30000 || r.NodePort > 32767 {
		errs = append(errs, fmt.Errorf("--reach-node-port: must be within the default NodePort range 30000-32767, got %d", r.NodePort))
	}
	if r.NodePort == o.NodePort {
		errs = append(errs, fmt.Errorf("--reach-node-port and --node-port: must differ, both are %d", r.NodePort))
	}
	if r.Gateway != "" {
		ns, name, ok := strings.Cut(r.Gateway, "/")
		if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			errs = append(errs, fmt.Errorf("--reach-gateway: must be <namespace>/<name> of a Gateway, got %q", r.Gateway))
		}
	}
	if r.IngressClass != "" && len(validation.IsDNS1123Subdomain(r.IngressClass)) > 0 {
		errs = append(errs, fmt.Errorf("--reach-ingress-class: %q is not a valid IngressClass name", r.IngressClass))
	}
	if r.ExpectSuccessRate < 0 || r.ExpectSuccessRate > 1 {
		errs = append(errs, fmt.Errorf("--reach-expect-success-rate: must be within [0, 1], got %v", r.ExpectSuccessRate))
	}
	if r.ExpectP99 < 0 {
		errs = append(errs, errors.New("--reach-expect-p99: must be >= 0 (0 = no p99 alert)"))
	}
	return errs
}

// reachService is a dual-stack (where the cluster has both families)
// NodePort Service over the pod-network agents' echo port.
func reachService(o Options) *corev1.Service {
	policy := corev1.IPFamilyPolicyPreferDualStack
	return &corev1.Service{
		TypeMeta:   service(o).TypeMeta,
		ObjectMeta: meta(o, ReachService, api.AgentAppName),
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeNodePort,
			IPFamilyPolicy: &policy,
			Selector:       map[string]string{api.LabelName: api.AgentAppName, api.LabelPartOf: api.PartOf, api.LabelNetwork: string(api.NetworkPod)},
			Ports: []corev1.ServicePort{{Name: "echo", Port: int32(o.AgentPort), Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString("http"), NodePort: int32(o.Reach.NodePort)}},
		},
	}
}

// reachLBService is the loadbalancer path's Service: the reach Service's
// backends and port, of type LoadBalancer (its own NodePort allocated).
func reachLBService(o Options) *corev1.Service {
	s := reachService(o)
	s.Name = api.ReachLBServiceName
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	s.Spec.Ports[0].NodePort = 0
	return s
}

// reachIngress routes the reach virtual host to the reach Service.
func reachIngress(o Options) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: meta(o, api.ReachIngressName, api.AgentAppName),
		Spec:       reach.IngressSpec(o.Reach.IngressClass, ReachService, o.AgentPort),
	}
}

// reachRoute attaches the reach virtual host to the Gateway, backed by
// the reach Service (netctl reach's HTTPRoute, under the monitor's names).
func reachRoute(o Options) *unstructured.Unstructured {
	ns, name, _ := strings.Cut(o.Reach.Gateway, "/")
	return reach.RouteObject(meta(o, api.ReachRouteName, api.AgentAppName), ns, name, ReachService, o.AgentPort)
}

// reachObjects are the reach Service and the objects of the asked
// loadbalancer, ingress and gateway paths.
func reachObjects(o Options) []Object {
	out := []Object{reachService(o)}
	if o.Reach.LoadBalancer {
		out = append(out, reachLBService(o))
	}
	if o.Reach.IngressClass != "" {
		out = append(out, reachIngress(o))
	}
	if o.Reach.Gateway != "" {
		out = append(out, reachRoute(o))
	}
	return out
}

// reachRBAC are the server's rules for reading the addresses of the
// asked loadbalancer, ingress and gateway paths (KubeReachVIPs): the
// namespace's rules and the cluster's (Gateways may live anywhere; the
// port clients use at a Gateway address can be a LoadBalancer Service's).
func reachRBAC(o Options) (ns, cluster []rbacv1.PolicyRule) {
	read := []string{"get", "list", "watch"}
	if o.Reach.Schedule == "" {
		return nil, nil
	}
	if o.Reach.LoadBalancer {
		ns = append(ns, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: read})
	}
	if o.Reach.IngressClass != "" {
		ns = append(ns, rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: read})
	}
	if o.Reach.Gateway != "" {
		cluster = append(cluster, rbacv1.PolicyRule{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gateways"}, Verbs: read},
			rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: read},
			rbacv1.PolicyRule{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read})
	}
	return ns, cluster
}

// reachServerArgs are the server's flags of the asked paths.
func reachServerArgs(o Options) []string {
	var out []string
	if o.Reach.LoadBalancer {
		out = append(out, "--reach-load-balancer")
	}
	if o.Reach.IngressClass != "" {
		out = append(out, "--reach-ingress")
	}
	if o.Reach.Gateway != "" {
		out = append(out, "--reach-gateway="+o.Reach.Gateway)
	}
	return out
}

// reachAgentArgs are the pod-network agent's reach flags.
func reachAgentArgs(o Options) []string {
	return []string{
		"--reach-schedule=" + o.Reach.Schedule,
		"--reach-qps=" + strconv.Itoa(o.Reach.QPS),
		"--reach-duration=" + o.Reach.Duration.String(),
		"--reach-timeout=" + o.Reach.Timeout.String(),
		"--reach-service=" + ReachService + "." + o.Namespace + ".svc",
		"--reach-node-port=" + strconv.Itoa(o.Reach.NodePort),
	}
}

// withReachServer adds the reach expectation flags to the server when
// reach rounds are on.
func withReachServer(o Options, d *appsv1.Deployment) *appsv1.Deployment {
	if o.Reach.Schedule != "" {
		c := &d.Spec.Template.Spec.Containers[0]
		c.Command = append(c.Command,
			"--reach-expect-success-rate="+strconv.FormatFloat(o.Reach.ExpectSuccessRate, 'f', -1, 64),
			"--reach-expect-p99="+o.Reach.ExpectP99.String())
		c.Command = append(c.Command, reachServerArgs(o)...)
	}
	return d
}
