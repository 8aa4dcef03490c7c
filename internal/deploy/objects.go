// Package deploy builds the objects netctl puts in a cluster (namespace,
// ServiceAccount, token Secret, agent DaemonSets) as typed values, applies
// them after an RBAC preflight, and cleans them up by label. It creates no
// RBAC: the agents never call the Kubernetes API.
package deploy

import (
	"fmt"
	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/config"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names and labels (docs/DESIGN.md "Objects netctl creates").
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "netctl"
	NameLabel      = "app.kubernetes.io/name"
	AgentName      = "netdoctor-agent"
	NetworkLabel   = "netdoctor.io/network"
	// PartOfLabel tells the check's objects (PartOfValue) from the
	// monitor's (part-of=netdoctor-monitor, same managed-by): `netctl clean`
	// and `netctl monitor uninstall` each touch only their own.
	PartOfLabel = "app.kubernetes.io/part-of"
	PartOfValue = "netdoctor-check"
	// PodSecurityLabel is the Pod Security admission level a namespace
	// enforces; netctl sets it on namespaces it creates (PodSecurityLevel).
	PodSecurityLabel = "pod-security.kubernetes.io/enforce"
	// AgentUser is the non-root user (and group) the pod-network agent runs
	// as; ping_group_range admits its group to unprivileged ICMP sockets.
	AgentUser = 65532
	// CreatedByAnnotation marks a namespace netctl created; only such a
	// namespace is ever deleted.
	CreatedByAnnotation = "netdoctor.io/created-by-netctl"

	ServiceAccountName = "netdoctor-agent"
	TokenSecretName    = "netdoctor-agent-token"
	TokenKey           = "token"
	TokenMountPath     = "/etc/netdoctor"
	containerName      = "agent"
)

// Network says which network an agent DaemonSet's pods use.
type Network string

const (
	PodNetwork  Network = "pod"
	HostNetwork Network = "host"
)

// DaemonSetName is the check's DaemonSet of agents on network n.
func DaemonSetName(n Network) string { return AgentName + "-" + string(n) }

// ManagedSelector selects every object a check (or diagnose) created, and
// never the monitor's.
var ManagedSelector = ManagedByLabel + "=" + ManagedByValue + "," + PartOfLabel + "=" + PartOfValue

// AgentSelector selects the agent pods of network n.
func AgentSelector(n Network) string {
	return fmt.Sprintf("%s=%s,%s=%s", NameLabel, AgentName, NetworkLabel, n)
}

func managedLabels() map[string]string {
	return map[string]string{ManagedByLabel: ManagedByValue, PartOfLabel: PartOfValue}
}

// Image is <repository>/netctl:<version>.
func Image(repository, version string) string {
	return strings.TrimSuffix(repository, "/") + "/netctl:" + version
}

// PodSecurityLevel is the least Pod Security level that admits the agents
// of networks: "restricted" for pod-network agents, "privileged" once a
// host-network agent is among them (hostNetwork is outside baseline).
func PodSecurityLevel(networks []Network) string {
	for _, n := range networks {
		if n == HostNetwork {
			return "privileged"
		}
	}
	return "restricted"
}

// Namespace is the namespace netctl creates when it is missing, enforcing
// Pod Security level (PodSecurityLevel of its agents).
func Namespace(name, level string) *corev1.Namespace {
	labels := managedLabels()
	labels[PodSecurityLabel] = level
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      labels,
		Annotations: map[string]string{CreatedByAnnotation: "true"},
	}}
}

// ServiceAccount is the agents' identity: no API token mounted, no RBAC.
func ServiceAccount(namespace string) *corev1.ServiceAccount {
	f := false
	return &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: ServiceAccountName, Namespace: namespace, Labels: managedLabels()},
		AutomountServiceAccountToken: &f,
	}
}

// TokenSecret holds the token agents require on POST /v1/probe.
func TokenSecret(namespace, token string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: TokenSecretName, Namespace: namespace, Labels: managedLabels()},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{TokenKey: []byte(token)},
	}
}

// AgentSpec is what varies between agent DaemonSets.
type AgentSpec struct {
	Namespace string
	Image     string
	Port      int
	Network   Network
	// RawICMP grants the host-network agent CAP_NET_RAW, for icmp checks
	// (a host's net.ipv4.ping_group_range is not netctl's to set). The
	// pod-network agent never needs it: its pod sets ping_group_range.
	RawICMP bool
	// Diagnose grants the host-network agent what `netctl diagnose` reads
	// with: CAP_NET_ADMIN for the node's nftables ruleset over netlink
	// (kube-proxy's Service rules; nothing is ever written) and CAP_SYSLOG
	// for the kernel log through syslog(2) (kernel.dmesg_restrict=1).
	Diagnose bool
	// Resources of the agent container; zero = DefaultResources.
	Resources corev1.ResourceRequirements
	// Nodes, when set, are the only nodes the agents may run on (those a
	// check covers); windows and virtual-kubelet nodes are always kept out.
	Nodes []string
	// Workload says whose agents these are; the zero value is the check's
	// (and diagnose's).
	Workload Workload
}

// Workload is what tells one netctl agent workload from another (the
// check's from the monitor's): names, labels, rollout and command. The pod
// itself (privileges, affinity, env, probes, token mount) is the same.
type Workload struct {
	// Name is the app.kubernetes.io/name label and the DaemonSet name
	// prefix (<Name>-<network>); "" = AgentName.
	Name string
	// PartOf is the part-of label, the scope `netctl clean` and `netctl
	// monitor uninstall` select by; "" = PartOfValue.
	PartOf         string
	ServiceAccount string // "" = ServiceAccountName
	TokenSecret    string // "" = TokenSecretName
	// SelectPartOf adds part-of to the DaemonSet selector: the monitor's
	// selector always had it and a selector cannot change in place.
	SelectPartOf bool
	// MaxUnavailable of the rolling update; "" = 100% (the check waits for
	// every agent anyway; the monitor keeps most nodes probed).
	MaxUnavailable string
	PullPolicy     corev1.PullPolicy
	// Command replaces `netctl agent`'s; such an agent serves its control
	// endpoints (/readyz) on Port (no separate API port).
	Command []string
}

// agentLabels are the labels of the workload's agents on network n.
func (w Workload) agentLabels(n Network) map[string]string {
	w = w.withDefaults()
	return map[string]string{ManagedByLabel: ManagedByValue, PartOfLabel: w.PartOf, NameLabel: w.Name, NetworkLabel: string(n)}
}

func (w Workload) withDefaults() Workload {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&w.Name, AgentName)
	def(&w.PartOf, PartOfValue)
	def(&w.ServiceAccount, ServiceAccountName)
	def(&w.TokenSecret, TokenSecretName)
	def(&w.MaxUnavailable, "100%")
	return w
}

// AgentDaemonSet runs an agent (`netctl agent` unless the workload's
// command says otherwise) on every Linux node, tainted or not.
func AgentDaemonSet(s AgentSpec) *appsv1.DaemonSet {
	w := s.Workload.withDefaults()
	host := s.Network == HostNetwork
	labels := w.agentLabels(s.Network)
	selector := map[string]string{NameLabel: w.Name, NetworkLabel: string(s.Network)}
	if w.SelectPartOf {
		selector[PartOfLabel] = w.PartOf
	}
	f, t := false, true
	mode := int32(0o440) // readable by the agent's group (fsGroup)
	grace := int64(2)    // the agent drains in well under this; clean stays fast
	// All pods may be replaced at once (the check's default): the agents
	// hold no state; one-at-a-time rollouts would take minutes on large
	// clusters.
	maxUnavailable := intstr.Parse(w.MaxUnavailable)
	dnsPolicy := corev1.DNSClusterFirst
	if host {
		dnsPolicy = corev1.DNSClusterFirstWithHostNet
	}
	port := int32(s.Port)
	apiPort := int32(agent.APIPortFor(s.Port))
	command := []string{"netctl", "agent", "--port=" + strconv.Itoa(s.Port), "--api-port=" + strconv.Itoa(int(apiPort)),
		"--token-file=" + TokenMountPath + "/" + TokenKey}
	if w.Command != nil {
		command, apiPort = w.Command, port
	}
	ports := []corev1.ContainerPort{
		{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP},
		{Name: "echo", ContainerPort: port, Protocol: corev1.ProtocolUDP},
	}
	if apiPort != port {
		ports = append(ports, corev1.ContainerPort{Name: "api", ContainerPort: apiPort, Protocol: corev1.ProtocolTCP})
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: w.Name + "-" + string(s.Network), Namespace: s.Namespace, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext:               podSecurity(host),
					ServiceAccountName:            w.ServiceAccount,
					AutomountServiceAccountToken:  &f,
					EnableServiceLinks:            &f,
					HostNetwork:                   host,
					DNSPolicy:                     dnsPolicy,
					TerminationGracePeriodSeconds: &grace,
					// Every taint: a check must cover control-plane and
					// cordoned nodes too; a node nobody probes is a blind spot.
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: nodeTerms(s.Nodes)},
					}},
					Containers: []corev1.Container{{
						Name:            containerName,
						Image:           s.Image,
						ImagePullPolicy: w.PullPolicy,
						Command:         command,
						Ports:           ports,
						Env: []corev1.EnvVar{
							fieldEnv("NODE_NAME", "spec.nodeName"),
							fieldEnv("POD_NAME", "metadata.name"),
							fieldEnv("POD_NAMESPACE", "metadata.namespace"),
							fieldEnv("POD_IPS", "status.podIPs"),
							{Name: "HOST_NETWORK", Value: strconv.FormatBool(host)},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "token", MountPath: TokenMountPath, ReadOnly: true}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(apiPort)}},
							PeriodSeconds:    2,
							TimeoutSeconds:   2,
							FailureThreshold: 3,
						},
						Resources: resources(s.Resources),
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &f,
							Privileged:               &f,
							ReadOnlyRootFilesystem:   &t,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: hostCaps(host, s)},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
					Volumes: []corev1.Volume{{
						Name: "token",
						VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName:  w.TokenSecret,
							DefaultMode: &mode,
						}},
					}},
				},
			},
		},
	}
}

// podSecurity is the agent pod's security context. The pod-network agent
// passes Pod Security "restricted": non-root, and unprivileged ICMP sockets
// through the safe sysctl net.ipv4.ping_group_range (per pod network
// namespace) instead of CAP_NET_RAW. The host-network agent shares the
// node's network namespace, where pod sysctls are not allowed; it runs as
// root so that CAP_NET_RAW, when granted, is effective (added capabilities
// reach a non-root process only through file capabilities).
func podSecurity(host bool) *corev1.PodSecurityContext {
	sc := &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if host {
		// The image's default user is 65532 (non-root): uid 0 is asked for
		// explicitly, or an added NET_RAW would not be effective.
		root := int64(0)
		sc.RunAsUser = &root
		return sc
	}
	id, t := int64(AgentUser), true
	sc.RunAsUser, sc.RunAsGroup, sc.FSGroup, sc.RunAsNonRoot = &id, &id, &id, &t
	sc.Sysctls = []corev1.Sysctl{PingGroupSysctl(AgentUser)}
	return sc
}

// PingGroupSysctl admits group gid to unprivileged ICMP sockets in a pod's
// own network namespace (a safe sysctl: Pod Security "restricted" allows
// it). Every agent workload that probes icmp from the pod network sets it.
func PingGroupSysctl(gid int64) corev1.Sysctl {
	return corev1.Sysctl{Name: "net.ipv4.ping_group_range", Value: fmt.Sprintf("%d %d", gid, gid)}
}

// RawICMP is the capability a host-network agent needs for icmp probes
// (the host's ping_group_range is not netctl's to set); it is effective
// only for uid 0.
const RawICMP corev1.Capability = "NET_RAW"

// nodeTerms keeps agents off nodes that cannot run them (NotIn also
// matches nodes without the label) and, when nodes is set, on exactly those
// nodes: one term per node (terms are ORed; a pod's metadata.name field
// selector takes one value).
func nodeTerms(nodes []string) []corev1.NodeSelectorTerm {
	if len(nodes) == 0 {
		return []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"windows", "darwin"}},
			{Key: "type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"virtual-kubelet"}},
		}}}
	}
	terms := make([]corev1.NodeSelectorTerm, 0, len(nodes))
	for _, n := range nodes {
		terms = append(terms, corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{n}}}})
	}
	return terms
}

// hostCaps are the capabilities added to the host-network agent (none to
// the pod-network agent).
func hostCaps(host bool, s AgentSpec) []corev1.Capability {
	var out []corev1.Capability
	if host && s.RawICMP {
		out = append(out, RawICMP)
	}
	if host && s.Diagnose {
		out = append(out, "NET_ADMIN", "SYSLOG")
	}
	return out
}

// DefaultResources are the agent's requests and limits when none are given:
// what maxNum probes in flight need, and no CPU limit (throttling would
// turn probes into timeouts).
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(config.DefaultAgentCPURequest), corev1.ResourceMemory: resource.MustParse(config.DefaultAgentMemoryRequest)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(config.DefaultAgentMemoryLimit)},
	}
}

func resources(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		return DefaultResources()
	}
	return r
}
