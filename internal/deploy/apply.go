package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// Plan is what to deploy in one cluster.
type Plan struct {
	Namespace string
	Image     string
	Port      int
	// Networks lists the agent DaemonSets the check needs.
	Networks []Network
	// RawICMP: the check probes icmp (the host-network agent gets NET_RAW).
	RawICMP bool
	// Diagnose: the host-network agent reads what `netctl diagnose` needs
	// (AgentSpec.Diagnose).
	Diagnose bool
	// Nodes the agents run on (AgentSpec.Nodes); nil = every eligible node.
	Nodes []string
	// Resources of the agents (AgentSpec.Resources).
	Resources corev1.ResourceRequirements
	// NetworkPolicy: create the agents' NetworkPolicy (networkPolicy: auto);
	// Policy says what else it admits (customized targets).
	NetworkPolicy bool
	Policy        PolicySpec
}

// Applied is the outcome of Apply.
type Applied struct {
	// Token is the probe-API token in effect: an existing Secret's token is
	// kept so agents already running keep accepting requests.
	Token string
	// CreatedNamespace is true when this Apply created the namespace.
	CreatedNamespace bool
}

// access is one permission the run needs.
type access struct {
	verb, group, resource, subresource string
	namespaced                         bool
	// ns, when set, is the namespace the permission is needed in instead
	// of the run's (reach reads kube-system's DNS Service).
	ns string
	// why names the feature that needs it, and how to do without when
	// there is a way.
	why string
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.subresource != "" {
		r = a.resource + "/" + a.subresource
	}
	return a.verb + " " + r
}

// namespace is where the permission is needed ("" cluster-wide).
func (a access) namespace(run string) string {
	switch {
	case a.ns != "":
		return a.ns
	case a.namespaced:
		return run
	}
	return ""
}

// needs are the permissions a check uses, in the order they are used.
// Namespace create is checked only when the namespace is missing.
var needs = []access{
	{verb: "get", resource: "namespaces"},
	{verb: "get", resource: "serviceaccounts", namespaced: true},
	{verb: "create", resource: "serviceaccounts", namespaced: true},
	{verb: "update", resource: "serviceaccounts", namespaced: true},
	{verb: "get", resource: "secrets", namespaced: true},
	{verb: "create", resource: "secrets", namespaced: true},
	{verb: "get", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "create", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "update", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "delete", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "list", resource: "pods", namespaced: true},
	{verb: "create", resource: "pods", subresource: "proxy", namespaced: true},
	{verb: "get", resource: "pods", subresource: "proxy", namespaced: true},
}

// Need is an optional feature whose permissions Preflight checks too.
type Need int

const (
	NeedNetworkPolicy Need = iota + 1 // networkPolicy: auto
	NeedPortForward                   // agentAccess: port-forward
	// netctl reach: NeedReach always, the others for their path kinds.
	NeedReach
	NeedReachHairpin // hairpin: its own EndpointSlices
	NeedReachIngress // ingress: an Ingress
	NeedReachGateway // gateway: an HTTPRoute
	NeedReachMultus  // multus with --multus-networks: the agents' template annotated
	NeedReachDNS     // dns: kube-system's DNS Service and its endpoints
)

// needAccess are the permissions of each optional feature. Objects reach
// creates are owned by its DaemonSet (the garbage collector deletes them
// with it), so only Services, which it replaces on a type change and
// `clean` deletes, need delete.
var needAccess = map[Need][]access{
	NeedNetworkPolicy: {
		{verb: "get", group: "networking.k8s.io", resource: "networkpolicies", namespaced: true, why: policyWhy},
		{verb: "create", group: "networking.k8s.io", resource: "networkpolicies", namespaced: true, why: policyWhy},
		{verb: "update", group: "networking.k8s.io", resource: "networkpolicies", namespaced: true, why: policyWhy},
	},
	NeedPortForward: {{verb: "create", resource: "pods", subresource: "portforward", namespaced: true, why: "agentAccess: port-forward"}},
	NeedReach: {
		// The agents are waited for by watching them (inventory).
		{verb: "get", resource: "pods", namespaced: true, why: reachWhy},
		{verb: "watch", resource: "pods", namespaced: true, why: reachWhy},
		{verb: "list", group: "apps", resource: "daemonsets", namespaced: true, why: reachWhy},
		{verb: "watch", group: "apps", resource: "daemonsets", namespaced: true, why: reachWhy},
		{verb: "list", resource: "nodes", why: reachWhy},
		{verb: "get", resource: "services", namespaced: true, why: reachWhy},
		{verb: "create", resource: "services", namespaced: true, why: reachWhy},
		{verb: "update", resource: "services", namespaced: true, why: reachWhy},
		{verb: "delete", resource: "services", namespaced: true, why: reachWhy},
		{verb: "list", group: "discovery.k8s.io", resource: "endpointslices", namespaced: true, why: reachWhy},
	},
	NeedReachHairpin: {
		{verb: "get", group: "discovery.k8s.io", resource: "endpointslices", namespaced: true, why: pathWhy("hairpin")},
		{verb: "create", group: "discovery.k8s.io", resource: "endpointslices", namespaced: true, why: pathWhy("hairpin")},
		{verb: "update", group: "discovery.k8s.io", resource: "endpointslices", namespaced: true, why: pathWhy("hairpin")},
	},
	NeedReachIngress: {
		{verb: "list", group: "networking.k8s.io", resource: "ingressclasses", why: pathWhy("ingress")},
		{verb: "get", group: "networking.k8s.io", resource: "ingresses", namespaced: true, why: pathWhy("ingress")},
		{verb: "create", group: "networking.k8s.io", resource: "ingresses", namespaced: true, why: pathWhy("ingress")},
		{verb: "update", group: "networking.k8s.io", resource: "ingresses", namespaced: true, why: pathWhy("ingress")},
	},
	NeedReachGateway: {
		{verb: "list", group: "gateway.networking.k8s.io", resource: "gateways", why: pathWhy("gateway")},
		{verb: "get", group: "gateway.networking.k8s.io", resource: "httproutes", namespaced: true, why: pathWhy("gateway")},
		{verb: "create", group: "gateway.networking.k8s.io", resource: "httproutes", namespaced: true, why: pathWhy("gateway")},
		{verb: "update", group: "gateway.networking.k8s.io", resource: "httproutes", namespaced: true, why: pathWhy("gateway")},
	},
	NeedReachMultus: {{verb: "patch", group: "apps", resource: "daemonsets", namespaced: true, why: "the multus path's --multus-networks"}},
	NeedReachDNS: {
		{verb: "get", resource: "services", ns: "kube-system", why: pathWhy("dns")},
		{verb: "list", group: "discovery.k8s.io", resource: "endpointslices", ns: "kube-system", why: pathWhy("dns")},
	},
}

const (
	// networkPolicy: auto is the default: say how to do without it.
	policyWhy = "for networkPolicy: auto; --network-policy none creates no policy"
	reachWhy  = "netctl reach"
)

func pathWhy(path string) string {
	return "netctl reach's " + path + " path; --paths without " + path + " skips it"
}

// Preflight asks the API server (SelfSubjectAccessReview) whether the
// current user may do everything a check does in namespace, and returns
// one error listing every missing permission and the RBAC rules that grant
// them. It creates nothing. extra adds the permissions of optional features
// (and of netctl reach).
func Preflight(ctx context.Context, c *kube.Client, namespace string, extra ...Need) error {
	checks := append([]access(nil), needs...)
	for _, e := range extra {
		checks = append(checks, needAccess[e]...)
	}
	_, err := c.Clientset.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		checks = append(checks, access{verb: "create", resource: "namespaces"})
	case err != nil && !apierrors.IsForbidden(err):
		return fmt.Errorf("reading namespace %s in cluster %s: %w", namespace, c.Name, err)
	}
	var denied []access
	seen := map[access]bool{}
	for _, a := range checks {
		key := a
		key.why = ""
		if seen[key] {
			continue
		}
		seen[key] = true
		ok, err := allowed(ctx, c, namespace, a)
		if err != nil {
			return fmt.Errorf("checking permission to %s in cluster %s: %w", a, c.Name, err)
		}
		if !ok {
			denied = append(denied, a)
		}
	}
	if len(denied) == 0 {
		return nil
	}
	who := c.WhoAmI(ctx)
	var lines []string
	for _, a := range denied {
		where := "(cluster-wide)"
		if ns := a.namespace(namespace); ns != "" {
			where = fmt.Sprintf("in namespace %q", ns)
		}
		if a.why != "" {
			where += " (" + a.why + ")"
		}
		lines = append(lines, fmt.Sprintf("%s cannot %s %s", who, a, where))
	}
	return fmt.Errorf("missing permissions in cluster %s (nothing was created):\n  %s\n%s\nor use a kubeconfig/context that has them",
		c.Name, strings.Join(lines, "\n  "), rbacRules(denied, namespace))
}

// rbacRules says what to grant: the RBAC rules (Role per namespace,
// ClusterRole for cluster-wide permissions) that allow the denied accesses.
func rbacRules(denied []access, namespace string) string {
	type rule struct{ ns, group, resource string }
	verbs := map[rule][]string{}
	var order []rule
	for _, a := range denied {
		res := a.resource
		if a.subresource != "" {
			res += "/" + a.subresource
		}
		r := rule{a.namespace(namespace), a.group, res}
		if _, ok := verbs[r]; !ok {
			order = append(order, r)
		}
		if !slices.Contains(verbs[r], a.verb) {
			verbs[r] = append(verbs[r], a.verb)
		}
	}
	var namespaces []string
	for _, r := range order {
		if !slices.Contains(namespaces, r.ns) {
			namespaces = append(namespaces, r.ns)
		}
	}
	var b strings.Builder
	b.WriteString("ask a cluster admin to grant them:")
	for _, ns := range namespaces {
		if ns == "" {
			b.WriteString("\n  a ClusterRole (bound with a ClusterRoleBinding) with the rules")
		} else {
			fmt.Fprintf(&b, "\n  a Role in namespace %q (bound with a RoleBinding there) with the rules", ns)
		}
		for _, r := range order {
			if r.ns == ns {
				fmt.Fprintf(&b, "\n    - apiGroups: [%q]\n      resources: [%q]\n      verbs: [%s]", r.group, r.resource, quoteAll(verbs[r]))
			}
		}
	}
	return b.String()
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func allowed(ctx context.Context, c *kube.Client, namespace string, a access) (bool, error) {
	attrs := &authzv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource,
		Namespace: a.namespace(namespace)}
	if attrs.Namespace == "" && a.resource == "namespaces" {
		attrs.Name = namespace
	}
	r, err := c.Clientset.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
		&authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}

// Apply creates or updates the namespace (only if missing), ServiceAccount,
// token Secret and the planned DaemonSets. When a step fails, what this
// call created is deleted again so nothing is left half-made. Call
// Preflight first.
func Apply(ctx context.Context, c *kube.Client, p Plan, log io.Writer) (*Applied, error) {
	if log == nil {
		log = io.Discard
	}
	var undo []func(context.Context) error
	res, err := apply(ctx, c, p, log, &undo)
	if err == nil {
		return res, nil
	}
	// Roll back with a fresh context: ctx may be the reason we failed.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var rerrs []error
	for i := len(undo) - 1; i >= 0; i-- {
		if uerr := undo[i](rctx); uerr != nil && !apierrors.IsNotFound(uerr) {
			rerrs = append(rerrs, uerr)
		}
	}
	if len(rerrs) > 0 {
		return nil, fmt.Errorf("%w (rolling back also failed: %v; run `netctl clean`)", err, errors.Join(rerrs...))
	}
	return nil, err
}

func apply(ctx context.Context, c *kube.Client, p Plan, log io.Writer, undo *[]func(context.Context) error) (*Applied, error) {
	core := c.Clientset.CoreV1()
	apps := c.Clientset.AppsV1()
	res := &Applied{}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}

	// Namespace: only when missing, and marked so clean may delete it. A
	// namespace netctl created enforces the least Pod Security level its
	// agents need; a user's namespace is never changed.
	level := PodSecurityLevel(p.Networks)
	ns, err := core.Namespaces().Get(ctx, p.Namespace, metav1.GetOptions{})
	switch {
	case err == nil && ns.Annotations[CreatedByAnnotation] == "true" && ns.Labels[PartOfLabel] == PartOfValue && ns.Labels[PodSecurityLabel] != level:
		ns.Labels[PodSecurityLabel] = level
		if _, err := core.Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("setting %s=%s on namespace %s (netctl created it) in cluster %s: %w", PodSecurityLabel, level, p.Namespace, c.Name, err)
		}
		fmt.Fprintf(log, "namespace %s in cluster %s now enforces Pod Security %q (what its agents need)\n", p.Namespace, c.Name, level)
	case apierrors.IsNotFound(err):
		if _, err := core.Namespaces().Create(ctx, Namespace(p.Namespace, level), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating namespace %s in cluster %s: %w", p.Namespace, c.Name, err)
		} else if err == nil {
			res.CreatedNamespace = true
			fmt.Fprintf(log, "created namespace %s in cluster %s (Pod Security %s)\n", p.Namespace, c.Name, level)
			*undo = append(*undo, func(ctx context.Context) error {
				return core.Namespaces().Delete(ctx, p.Namespace, del)
			})
		}
	case err != nil:
		return nil, fmt.Errorf("reading namespace %s in cluster %s: %w", p.Namespace, c.Name, err)
	}

	// ServiceAccount.
	sa := ServiceAccount(p.Namespace)
	created, err := createOrUpdate(ctx,
		func() error {
			_, err := core.ServiceAccounts(p.Namespace).Create(ctx, sa, metav1.CreateOptions{})
			return err
		},
		func() error {
			cur, err := core.ServiceAccounts(p.Namespace).Get(ctx, sa.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Labels = mergeLabels(cur.Labels, sa.Labels)
			cur.AutomountServiceAccountToken = sa.AutomountServiceAccountToken
			_, err = core.ServiceAccounts(p.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("applying ServiceAccount %s/%s in cluster %s: %w", p.Namespace, sa.Name, c.Name, err)
	}
	if created {
		*undo = append(*undo, func(ctx context.Context) error {
			return core.ServiceAccounts(p.Namespace).Delete(ctx, sa.Name, del)
		})
	}

	// Secret: keep an existing token, so agents that already run (and
	// read their token file at start) still accept our requests.
	cur, err := core.Secrets(p.Namespace).Get(ctx, TokenSecretName, metav1.GetOptions{})
	switch {
	case err == nil && len(cur.Data[TokenKey]) > 0:
		res.Token = string(cur.Data[TokenKey])
	case err == nil || apierrors.IsNotFound(err):
		tok, terr := newToken()
		if terr != nil {
			return nil, terr
		}
		res.Token = tok
		if err == nil { // exists without a token: fill it in
			cur.Data = TokenSecret(p.Namespace, tok).Data
			cur.Labels = mergeLabels(cur.Labels, managedLabels())
			if _, err := core.Secrets(p.Namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return nil, fmt.Errorf("updating Secret %s/%s in cluster %s: %w", p.Namespace, TokenSecretName, c.Name, err)
			}
			break
		}
		if _, err := core.Secrets(p.Namespace).Create(ctx, TokenSecret(p.Namespace, tok), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating Secret %s/%s in cluster %s: %w", p.Namespace, TokenSecretName, c.Name, err)
		}
		*undo = append(*undo, func(ctx context.Context) error {
			return core.Secrets(p.Namespace).Delete(ctx, TokenSecretName, del)
		})
	default:
		return nil, fmt.Errorf("reading Secret %s/%s in cluster %s: %w", p.Namespace, TokenSecretName, c.Name, err)
	}

	// Admission (Pod Security, webhooks) judges pods, not DaemonSets: ask it
	// about each agent pod (server-side dry run) before any DaemonSet
	// exists, so a rejection is a clear setup error, not missing agents.
	var sets []*appsv1.DaemonSet
	for _, n := range p.Networks {
		sets = append(sets, AgentDaemonSet(AgentSpec{Namespace: p.Namespace, Image: p.Image, Port: p.Port, Network: n, RawICMP: p.RawICMP, Diagnose: p.Diagnose, Nodes: p.Nodes, Resources: p.Resources}))
	}
	for _, ds := range sets {
		if err := dryRunPod(ctx, c, ds, level); err != nil {
			return nil, err
		}
	}

	// NetworkPolicy, before the agents start: a default-deny namespace
	// would otherwise cut them off.
	if p.NetworkPolicy {
		ps := p.Policy
		ps.Namespace, ps.Port, ps.ICMP = p.Namespace, p.Port, p.RawICMP
		created, err := applyNetworkPolicy(ctx, c, ps)
		if err != nil {
			return nil, fmt.Errorf("applying NetworkPolicy %s/%s in cluster %s (networkPolicy: none skips it): %w", p.Namespace, NetworkPolicyName, c.Name, err)
		}
		if created {
			fmt.Fprintf(log, "created NetworkPolicy %s/%s in cluster %s (admits the agents' traffic)\n", p.Namespace, NetworkPolicyName, c.Name)
			*undo = append(*undo, func(ctx context.Context) error {
				return c.Clientset.NetworkingV1().NetworkPolicies(p.Namespace).Delete(ctx, NetworkPolicyName, del)
			})
		}
	}

	// DaemonSets.
	for _, ds := range sets {
		created, err := createOrUpdate(ctx,
			func() error {
				_, err := apps.DaemonSets(p.Namespace).Create(ctx, ds, metav1.CreateOptions{})
				return err
			},
			func() error {
				cur, err := apps.DaemonSets(p.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur.Labels = mergeLabels(cur.Labels, ds.Labels)
				cur.Spec = ds.Spec
				_, err = apps.DaemonSets(p.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
				return err
			})
		if err != nil {
			return nil, fmt.Errorf("applying DaemonSet %s/%s in cluster %s: %w", p.Namespace, ds.Name, c.Name, err)
		}
		verb := "updated"
		if created {
			verb = "created"
			*undo = append(*undo, func(ctx context.Context) error {
				return apps.DaemonSets(p.Namespace).Delete(ctx, ds.Name, del)
			})
		}
		fmt.Fprintf(log, "%s DaemonSet %s/%s in cluster %s (image %s)\n", verb, p.Namespace, ds.Name, c.Name, p.Image)
	}
	return res, nil
}

// createOrUpdate runs create; when the object exists it runs update,
// retrying on write conflicts. It reports whether create made the object.
func createOrUpdate(ctx context.Context, create, update func() error) (bool, error) {
	err := create()
	if err == nil {
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, err
	}
	return false, retry.RetryOnConflict(retry.DefaultRetry, update)
}

func mergeLabels(cur, add map[string]string) map[string]string {
	if cur == nil {
		cur = map[string]string{}
	}
	for k, v := range add {
		cur[k] = v
	}
	return cur
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating agent token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// dryRunPod asks the API server to admit one pod of ds without creating it.
// A rejection is an error quoting the admission message and naming what
// to change; level is what the agents need from Pod Security.
func dryRunPod(ctx context.Context, c *kube.Client, ds *appsv1.DaemonSet, level string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: ds.Name + "-admission-check", Namespace: ds.Namespace, Labels: ds.Spec.Template.Labels},
		Spec:       ds.Spec.Template.Spec,
	}
	_, err := c.Clientset.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	msg := err.Error()
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		msg = st.Status().Message
	}
	fix := "ask a cluster admin to exempt the netdoctor-agent pods, or use another namespace (--namespace)"
	if strings.Contains(msg, "PodSecurity") {
		why := "the pod-network agent runs non-root with no capabilities and needs only Pod Security \"restricted\""
		if level == "privileged" {
			why = "the host-network agent (modes node, node-to-pod, pod-to-node) uses hostNetwork, which only Pod Security \"privileged\" admits"
		}
		fix = fmt.Sprintf("%s: label the namespace `kubectl label namespace %s %s=%s --overwrite`, or set namespace (--namespace) to a namespace netctl creates (it labels its own)",
			why, ds.Namespace, PodSecurityLabel, level)
	}
	return &AdmissionError{Message: fmt.Sprintf("admission rejected the agent pods of DaemonSet %s/%s in cluster %s (nothing was created): %s\n%s",
		ds.Namespace, ds.Name, c.Name, msg, fix)}
}

// AdmissionError is a pod template the cluster's admission rejects: a setup
// error the user fixes (exit status 2).
type AdmissionError struct{ Message string }

func (e *AdmissionError) Error() string { return e.Message }
