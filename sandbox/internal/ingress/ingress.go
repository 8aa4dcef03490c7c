// Package ingress runs the sandbox's Ingress controller and Gateway API
// implementation (`up --ingress`): Traefik, a real Deployment in namespace
// traefik whose pod runs the static traefik binary chrooted into an image
// pulled from the cluster's own registry, with its ServiceAccount and RBAC,
// the kubernetesIngress provider (IngressClass traefik, the default class)
// and the kubernetesGateway provider (GatewayClass traefik, Gateway
// traefik/traefik), exposed through Service traefik/traefik: type
// LoadBalancer when the cluster has a load balancer, else NodePort.
//
// Traefik v3.6 is the newest line that builds from the Go module proxy
// (v3.7 does not: see hack/build-traefik.sh); it is only ever run inside the
// sandbox and is never part of anything netdoctor ships.
package ingress

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const (
	// Version is the Traefik release the Makefile builds.
	Version = "v3.6.12"
	// GatewayAPIVersion is the sigs.k8s.io/gateway-api release Traefik
	// Version's go.mod requires: the CRDs installed are its standard channel.
	GatewayAPIVersion = "v1.4.0"
	// Component names the implementation in the state and in messages.
	Component = "traefik " + Version + " (Ingress + Gateway API " + GatewayAPIVersion + ")"
	// BinaryName is the file next to netdoctor-sandbox.
	BinaryName = "traefik"
	// CRDDirName is the directory next to the binary holding the Gateway API
	// standard-channel CRDs (copied there by hack/build-traefik.sh).
	CRDDirName = "gateway-api-crds"
	// MakeTarget builds both.
	MakeTarget = "make sandbox-traefik"

	// Namespace holds every Traefik object; Name is the Deployment, Service,
	// ServiceAccount and the Gateway.
	Namespace = "traefik"
	Name      = "traefik"
	// ClassName is the IngressClass and the GatewayClass.
	ClassName = "traefik"
	// IngressController and GatewayController are the controller names
	// Traefik matches IngressClasses and GatewayClasses by.
	IngressController = "traefik.io/ingress-controller"
	GatewayController = "traefik.io/gateway-controller"

	// WebPort is the container port of entry point "web" (HTTP, Ingress
	// routers and the Gateway's listener); ServicePort is where the Service
	// exposes it. PingPort serves /ping (readiness) and nothing else.
	WebPort     = 8000
	ServicePort = 80
	PingPort    = 8080
	// ListenerName is the Gateway's one listener (HTTP on WebPort: Traefik
	// maps a listener to the entry point with the same port).
	ListenerName = "web"

	// imageRepo is the image's repository in the cluster's registry.
	imageRepo = "sandbox/traefik"
	// binaryInImage is where the image holds the binary.
	binaryInImage = "/usr/local/bin/traefik"
	// uid runs Traefik as non-root, like the Helm chart.
	uid = 65532
)

// Binary returns where traefik is expected: next to the sandbox binary.
func Binary(self string) string { return filepath.Join(filepath.Dir(self), BinaryName) }

// CRDDir returns the Gateway API CRD directory next to a traefik binary.
func CRDDir(bin string) string { return filepath.Join(filepath.Dir(bin), CRDDirName) }

// Image returns the image reference Traefik's pods run, in registry.
func Image(registry string) string { return registry + "/" + imageRepo + ":" + Version }

var versionLine = regexp.MustCompile(`(?m)^Version:\s+(\S+)\s*$`)

// Check verifies that the traefik binary is Version and the Gateway API
// CRDs of GatewayAPIVersion are next to it. Errors name what to do.
func Check(bin string) error {
	fi, err := os.Stat(bin)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is missing: run `%s` (builds traefik %s)", bin, MakeTarget, Version)
	}
	out, _ := exec.Command(bin, "version").CombinedOutput()
	m := versionLine.FindSubmatch(out)
	if m == nil || "v"+string(m[1]) != Version {
		return fmt.Errorf("%s is not traefik %s (it says %q): run `%s`", bin, Version, strings.TrimSpace(string(out)), MakeTarget)
	}
	if _, err := readCRDs(CRDDir(bin)); err != nil {
		return fmt.Errorf("%w: run `%s`", err, MakeTarget)
	}
	return nil
}

// Args is Traefik's static configuration (command line, no file): entry
// points web (:WebPort) and traefik (:PingPort, /ping only), both providers,
// and no call home (version check, anonymous usage). publishedService is
// "namespace/name" of the LoadBalancer Service whose address Traefik writes
// into Ingress and Gateway status, "" for none (NodePort).
func Args(publishedService string) []string {
	args := []string{
		"--global.checknewversion=false",
		"--global.sendanonymoususage=false",
		fmt.Sprintf("--entrypoints.web.address=:%d", WebPort),
		fmt.Sprintf("--entrypoints.traefik.address=:%d", PingPort),
		"--ping=true",
		"--log.level=INFO",
		"--accesslog=true",
		"--providers.kubernetesingress=true",
		"--providers.kubernetesgateway=true",
	}
	if publishedService != "" {
		ns, name, _ := strings.Cut(publishedService, "/")
		args = append(args,
			"--providers.kubernetesingress.ingressendpoint.publishedservice="+publishedService,
			"--providers.kubernetesgateway.statusaddress.service.namespace="+ns,
			"--providers.kubernetesgateway.statusaddress.service.name="+name,
		)
	}
	return args
}

var labels = map[string]string{"app.kubernetes.io/name": "traefik", "app.kubernetes.io/managed-by": "netdoctor-sandbox"}

// selector picks Traefik's pods.
const selector = "app.kubernetes.io/name=traefik"

// rbac is what Traefik's two providers read and write (its documented
// ClusterRoles for kubernetesIngress and kubernetesGateway, merged; nodes
// because the Ingress provider starts a node informer).
func rbac() (*rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding) {
	read := []string{"get", "list", "watch"}
	gw := "gateway.networking.k8s.io"
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "netdoctor:traefik", Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "secrets", "configmaps", "namespaces", "nodes"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses/status"}, Verbs: []string{"update"}},
			{APIGroups: []string{gw}, Resources: []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies"}, Verbs: read},
			{APIGroups: []string{gw}, Resources: []string{"gatewayclasses/status", "gateways/status", "httproutes/status", "grpcroutes/status", "backendtlspolicies/status"}, Verbs: []string{"update"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: Name, Namespace: Namespace}},
	}
	return role, binding
}

// ingressClass is Traefik's IngressClass, the cluster's default (as the
// Helm chart makes it), so Ingresses without a class are served too.
func ingressClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: ClassName, Labels: labels,
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec: networkingv1.IngressClassSpec{Controller: IngressController},
	}
}

// deployment is Traefik's Deployment: one replica (the Helm chart's
// default), restricted-PodSecurity compliant (non-root, no privilege
// escalation, all capabilities dropped), ready when /ping answers.
func deployment(image string, args []string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "traefik"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: Name,
					NodeSelector:       map[string]string{corev1.LabelOSStable: "linux"},
					SecurityContext: &corev1.PodSecurityContext{
						RunAsUser: ptr.To[int64](uid), RunAsGroup: ptr.To[int64](uid), RunAsNonRoot: ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  "traefik",
						Image: image,
						Args:  args,
						Ports: []corev1.ContainerPort{
							{Name: "web", ContainerPort: WebPort, Protocol: corev1.ProtocolTCP},
							{Name: "traefik", ContainerPort: PingPort, Protocol: corev1.ProtocolTCP},
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ping", Port: intstr.FromInt32(PingPort)}},
							PeriodSeconds: 2,
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

// service exposes entry point web on ServicePort, both families where the
// cluster has them.
func service(typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			Type:           typ,
			Selector:       map[string]string{"app.kubernetes.io/name": "traefik"},
			IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicyPreferDualStack),
			Ports:          []corev1.ServicePort{{Name: "web", Port: ServicePort, TargetPort: intstr.FromString("web"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// crdBundleVersion is the annotation every Gateway API CRD carries.
const crdBundleVersion = "gateway.networking.k8s.io/bundle-version"

// readCRDs reads the standard-channel CRD files of dir, checking that each
// is of GatewayAPIVersion's standard channel.
func readCRDs(dir string) (map[string][]byte, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "gateway.networking.k8s.io_*.yaml"))
	if len(files) == 0 {
		return nil, fmt.Errorf("no Gateway API CRDs in %s", dir)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !bytes.Contains(b, []byte(crdBundleVersion+": "+GatewayAPIVersion+"\n")) || !bytes.Contains(b, []byte("gateway.networking.k8s.io/channel: standard\n")) {
			return nil, fmt.Errorf("%s is not a Gateway API %s standard-channel CRD", f, GatewayAPIVersion)
		}
		out[filepath.Base(f)] = b
	}
	return out, nil
}
