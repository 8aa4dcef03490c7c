// Package manifest builds every Kubernetes object of the monitor as typed
// values: `netctl monitor install` applies them and the committed
// deploy/*.yaml files are rendered from them (a golden test keeps the two
// equal), so the builder is the one source of truth for both.
package manifest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// Object names.
const (
	DefaultNamespace = "netdoctor-monitor"
	AgentSA          = "netdoctor-monitor-agent"
	ServerSA         = "netdoctor-monitor-server"
	ServerRBAC       = "netdoctor-monitor-server" // ClusterRole(+Binding) for nodes, Role(+Binding) for pods
	TokenSecret      = "netdoctor-monitor-token"
	TokenKey         = "token"
	PodAgentDS       = "netdoctor-monitor-agent-pod"
	HostAgentDS      = "netdoctor-monitor-agent-host"
	ServerDeploy     = "netdoctor-monitor-server"
	ServiceName      = "netdoctor-monitor"
	NodePortService  = "netdoctor-monitor-nodeport"

	TokenDir  = "/etc/netdoctor"
	TokenFile = TokenDir + "/token"
	StateDir  = "/var/lib/netdoctor"
	StateFile = StateDir + "/state.json"

	DefaultServerPort = 8081
	DefaultNodePort   = 31081
	DefaultAgentPort  = 8890
	DefaultInterval   = 15 * time.Second
	DefaultPeers      = 5
	// ReleaseVersion is the image tag of the committed deploy/ files.
	ReleaseVersion = "v0.1.0"
	// DefaultImageRepository matches config.DefaultImageRepository.
	DefaultImageRepository = "ghcr.io/netdoctor"
)

// Options are the knobs of the monitor objects.
type Options struct {
	Namespace string
	// Image is the full image of netctl, <repository>/netctl:<version>.
	Image        string
	Interval     time.Duration
	ServerPort   int
	AgentPort    int
	PeersPerNode int
	// Kinds the agents probe (tcp, udp, icmp to peers; dns the cluster DNS
	// lookup); empty = the agent's default (tcp, dns). icmp adds the
	// privileges it needs: ping_group_range for the pod-network agent,
	// root with NET_RAW for the host-network one.
	Kinds []probe.Kind
	// NodePort, when non-zero, adds a NodePort Service on that port.
	NodePort int
	// Reach turns on scheduled reach rounds (reach.go).
	Reach ReachOptions
	// Token, when set, adds the token Secret with it. The committed
	// manifests leave it out: users create the Secret (see docs/monitoring.md).
	Token string
	// Namespace object: included when true (annotated created-by-netctl).
	IncludeNamespace bool
}

// Image returns <repository>/netctl:<version> (DESIGN.md image rule).
func Image(repository, version string) string {
	return repository + "/netctl:" + version
}

// Defaults returns the options of the committed manifests.
func Defaults() Options {
	return Options{
		Namespace:        DefaultNamespace,
		Image:            Image(DefaultImageRepository, ReleaseVersion),
		Interval:         DefaultInterval,
		ServerPort:       DefaultServerPort,
		AgentPort:        DefaultAgentPort,
		PeersPerNode:     DefaultPeers,
		Reach:            DefaultReach(),
		IncludeNamespace: true,
	}
}

// Validate reports every bad option at once, by flag name.
func (o Options) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--namespace: %q is not a valid namespace name: %s", o.Namespace, msgs[0]))
	}
	if o.Image == "" {
		errs = append(errs, errors.New("--image-repository/--version: the image must not be empty"))
	}
	if o.Interval < time.Second || o.Interval%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--interval: must be whole seconds and >= 1s, got %s", o.Interval))
	}
	for _, p := range []struct {
		flag string
		v    int
	}{{"--server-port", o.ServerPort}, {"--agent-port", o.AgentPort}} {
		if p.v < 1 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s: must be 1-65535, got %d", p.flag, p.v))
		}
	}
	if o.ServerPort == o.AgentPort {
		errs = append(errs, fmt.Errorf("--server-port and --agent-port: must differ, both are %d", o.AgentPort))
	}
	if o.NodePort != 0 && (o.NodePort < 30000 || o.NodePort > 32767) {
		errs = append(errs, fmt.Errorf("--node-port: must be within the default NodePort range 30000-32767, got %d", o.NodePort))
	}
	if o.PeersPerNode < 1 {
		errs = append(errs, fmt.Errorf("--peers-per-node: must be >= 1, got %d", o.PeersPerNode))
	}
	for _, k := range o.Kinds {
		if k != probe.KindDNS && !slices.Contains(plan.MeshKinds, k) {
			errs = append(errs, fmt.Errorf("--kinds: %q is not one of %v and dns", k, plan.MeshKinds))
		}
	}
	errs = append(errs, o.validateReach()...)
	return errors.Join(errs...)
}

// Object is what the builder returns: a typed API object with metadata.
type Object interface {
	runtime.Object
	metav1.Object
}

// Labels common to every object.
func commonLabels(app string) map[string]string {
	return map[string]string{
		api.LabelManagedBy: api.ManagedBy,
		api.LabelPartOf:    api.PartOf,
		api.LabelName:      app,
	}
}

// ServerURL is the server's in-cluster URL, through the Service name so the
// agents' HTTP probe measures a real cluster DNS lookup.
func ServerURL(o Options) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", ServiceName, o.Namespace, o.ServerPort)
}

// Objects returns every object in apply order (namespace first, workloads last).
func Objects(o Options) []Object {
	var out []Object
	if o.IncludeNamespace {
		out = append(out, &corev1.Namespace{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: o.Namespace, Labels: commonLabels(ServerDeploy),
				Annotations: map[string]string{deploy.CreatedByAnnotation: "true"}},
		})
	}
	out = append(out,
		serviceAccount(o, AgentSA, api.AgentAppName, false),
		serviceAccount(o, ServerSA, api.ServerAppName, true),
	)
	out = append(out, rbac(o)...)
	if o.Token != "" {
		out = append(out, &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: meta(o, TokenSecret, api.ServerAppName),
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{TokenKey: []byte(o.Token)},
		})
	}
	out = append(out, service(o), withReachServer(o, serverDeployment(o)), agentDaemonSet(o, api.NetworkPod), agentDaemonSet(o, api.NetworkHost))
	if o.NodePort != 0 {
		out = append(out, nodePortService(o))
	}
	if o.Reach.Schedule != "" {
		out = append(out, reachObjects(o)...)
	}
	return out
}

func meta(o Options, name, app string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: commonLabels(app)}
}

func serviceAccount(o Options, name, app string, automount bool) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   meta(o, name, app),
		AutomountServiceAccountToken: &automount,
	}
}

// rbac gives the server read access to agent pods (its namespace) and nodes
// (cluster): it builds the peer list and the expected-agent list from them;
// and to EndpointSlices (its namespace): the reach Service's ready
// endpoints are the backends its reach verdict expects. Agents get no API
// rights at all.
func rbac(o Options) []Object {
	read := []string{"get", "list", "watch"}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: ServerSA, Namespace: o.Namespace}}
	clusterMeta := metav1.ObjectMeta{Name: ServerRBAC + "-" + o.Namespace, Labels: commonLabels(api.ServerAppName)}
	reachNS, reachCluster := reachRBAC(o)
	return []Object{
		&rbacv1.ClusterRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: clusterMeta,
			Rules:      append([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: read}}, reachCluster...),
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: clusterMeta,
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: clusterMeta.Name},
			Subjects:   subject,
		},
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: meta(o, ServerRBAC, api.ServerAppName),
			Rules: append([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: read},
				{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read}}, reachNS...),
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: meta(o, ServerRBAC, api.ServerAppName),
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: ServerRBAC},
			Subjects:   subject,
		},
	}
}

func service(o Options) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(o, ServiceName, api.ServerAppName),
		Spec: corev1.ServiceSpec{
			Selector: serverSelector(),
			Ports: []corev1.ServicePort{{Name: "http", Port: int32(o.ServerPort), Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString("http")}},
		},
	}
}

func nodePortService(o Options) *corev1.Service {
	s := service(o)
	s.Name = NodePortService
	s.Spec.Type = corev1.ServiceTypeNodePort
	s.Spec.Ports[0].NodePort = int32(o.NodePort)
	return s
}

func serverSelector() map[string]string {
	return map[string]string{api.LabelName: api.ServerAppName, api.LabelPartOf: api.PartOf}
}

func envFromField(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func tokenVolume() (corev1.Volume, corev1.VolumeMount) {
	mode := int32(0o444)
	return corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: TokenSecret, DefaultMode: &mode, Items: []corev1.KeyToPath{{Key: TokenKey, Path: "token"}}}}},
		corev1.VolumeMount{Name: "token", MountPath: TokenDir, ReadOnly: true}
}

func securityContext() *corev1.SecurityContext {
	f, t := false, true
	uid := int64(65534)
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &f,
		ReadOnlyRootFilesystem:   &t,
		RunAsNonRoot:             &t,
		RunAsUser:                &uid,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func resources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
}

func httpProbe(path string, port string, period int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
		PeriodSeconds: period,
	}
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d/time.Second)) + "s" }

func serverDeployment(o Options) *appsv1.Deployment {
	replicas := int32(1)
	tokenVol, tokenMount := tokenVolume()
	labels := commonLabels(api.ServerAppName)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(o, ServerDeploy, api.ServerAppName),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: serverSelector()},
			// One server owns the state file: never two at once.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: ServerSA,
					Containers: []corev1.Container{{
						Name:            "server",
						Image:           o.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"netctl", "monitor", "server",
							"--port=" + strconv.Itoa(o.ServerPort),
							"--interval=" + seconds(o.Interval),
							"--agent-port=" + strconv.Itoa(o.AgentPort),
							"--token-file=" + TokenFile,
							"--state-file=" + StateFile,
						},
						// The server reads its namespace from POD_NAMESPACE (no
						// $(VAR) in the command: one way to pass it).
						Env:             []corev1.EnvVar{envFromField("POD_NAMESPACE", "metadata.namespace")},
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: int32(o.ServerPort), Protocol: corev1.ProtocolTCP}},
						ReadinessProbe:  httpProbe("/readyz", "http", 5),
						LivenessProbe:   httpProbe("/healthz", "http", 10),
						Resources:       resources(),
						SecurityContext: securityContext(),
						VolumeMounts:    []corev1.VolumeMount{tokenMount, {Name: "state", MountPath: StateDir}},
					}},
					Volumes: []corev1.Volume{tokenVol, {Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}

// agentDaemonSet is deploy's agent DaemonSet (the check's pod, privileges
// and affinity) running `netctl monitor agent` under the monitor's names.
func agentDaemonSet(o Options, n api.Network) *appsv1.DaemonSet {
	command := []string{"netctl", "monitor", "agent",
		"--server=" + ServerURL(o),
		"--network=" + string(n),
		"--port=" + strconv.Itoa(o.AgentPort),
		"--interval=" + seconds(o.Interval),
		"--peers-per-node=" + strconv.Itoa(o.PeersPerNode),
		"--token-file=" + TokenFile,
	}
	if len(o.Kinds) > 0 {
		var ks []string
		for _, k := range o.Kinds {
			ks = append(ks, string(k))
		}
		command = append(command, "--kinds="+strings.Join(ks, ","))
	}
	if n == api.NetworkPod && o.Reach.Schedule != "" {
		command = append(command, reachAgentArgs(o)...)
	}
	return deploy.AgentDaemonSet(deploy.AgentSpec{
		Namespace: o.Namespace,
		Image:     o.Image,
		Port:      o.AgentPort,
		Network:   n.Deploy(),
		RawICMP:   slices.Contains(o.Kinds, probe.KindICMP),
		Resources: resources(),
		Workload: deploy.Workload{
			Name:           api.AgentAppName,
			PartOf:         api.PartOf,
			ServiceAccount: AgentSA,
			TokenSecret:    TokenSecret,
			SelectPartOf:   true,
			// Most nodes stay probed while the agents roll.
			MaxUnavailable: "10%",
			PullPolicy:     corev1.PullIfNotPresent,
			Command:        command,
		},
	})
}
