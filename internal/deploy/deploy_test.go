package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/kubetest"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// allowAllExcept makes SelfSubjectAccessReviews answer allowed, except for
// the "verb resource[/sub]" keys listed.
func allowAllExcept(cs *fake.Clientset, denied ...string) {
	kubetest.AnswerAccessReviews(cs, func(ra authzv1.ResourceAttributes) bool {
		key := ra.Verb + " " + ra.Resource
		if ra.Subresource != "" {
			key += "/" + ra.Subresource
		}
		return !slices.Contains(denied, key)
	})
}

func client(cs *fake.Clientset) *kube.Client { return &kube.Client{Name: "src", Clientset: cs} }

func TestAgentDaemonSetPodNetwork(t *testing.T) {
	ds := AgentDaemonSet(AgentSpec{Namespace: "nd", Image: Image("reg.local/team/", "v1.2.3"), Port: 8889, Network: PodNetwork})
	if ds.Name != "netdoctor-agent-pod" || ds.Namespace != "nd" {
		t.Errorf("name %s/%s", ds.Namespace, ds.Name)
	}
	for _, labels := range []map[string]string{ds.Labels, ds.Spec.Template.Labels} {
		if labels[ManagedByLabel] != "netctl" || labels[NameLabel] != "netdoctor-agent" || labels[NetworkLabel] != "pod" {
			t.Errorf("labels %v", labels)
		}
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the template", k, v)
		}
	}
	ps := ds.Spec.Template.Spec
	if ps.HostNetwork || ps.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("pod network DS: hostNetwork %v dnsPolicy %s", ps.HostNetwork, ps.DNSPolicy)
	}
	if ps.ServiceAccountName != ServiceAccountName || ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("pod must use the agent SA without an API token")
	}
	if len(ps.Tolerations) != 1 || ps.Tolerations[0].Operator != corev1.TolerationOpExists || ps.Tolerations[0].Key != "" {
		t.Errorf("tolerations %+v, want one operator Exists (all taints)", ps.Tolerations)
	}
	c := ps.Containers[0]
	if c.Image != "reg.local/team/netctl:v1.2.3" {
		t.Errorf("image %s", c.Image)
	}
	if got := strings.Join(c.Command, " "); got != "netctl agent --port=8889 --api-port=8890 --token-file=/etc/netdoctor/token" {
		t.Errorf("command %q", got)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		} else {
			env[e.Name] = "=" + e.Value
		}
	}
	want := map[string]string{"NODE_NAME": "spec.nodeName", "POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace",
		"POD_IPS": "status.podIPs", "HOST_NETWORK": "=false"}
	if fmt.Sprint(env) != fmt.Sprint(want) {
		t.Errorf("env %v\nwant %v", env, want)
	}
	sc := c.SecurityContext
	if sc == nil || *sc.AllowPrivilegeEscalation || *sc.Privileged || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("security context %+v", sc)
	}
	if fmt.Sprint(sc.Capabilities.Drop) != "[ALL]" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop ALL and nothing added", sc.Capabilities)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.IntValue() != 8890 {
		t.Errorf("readiness %+v", c.ReadinessProbe)
	}
	// Requests sized for maxNum probes at once; no CPU limit (throttling
	// would turn probes into timeouts).
	if c.Resources.Requests.Cpu().String() != "50m" || c.Resources.Requests.Memory().String() != "32Mi" ||
		!c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().String() != "128Mi" {
		t.Errorf("resources %+v", c.Resources)
	}
	custom := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	if got := AgentDaemonSet(AgentSpec{Network: PodNetwork, Resources: custom}).Spec.Template.Spec.Containers[0].Resources; got.Limits.Cpu().String() != "1" {
		t.Errorf("configured resources not used: %+v", got)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/netdoctor" || !c.VolumeMounts[0].ReadOnly ||
		ps.Volumes[0].Secret == nil || ps.Volumes[0].Secret.SecretName != TokenSecretName {
		t.Errorf("token volume %+v %+v", c.VolumeMounts, ps.Volumes)
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		t.Errorf("update strategy %+v", ds.Spec.UpdateStrategy)
	}
}

// podSecurityViolations evaluates a pod template with the Pod Security
// admission's own checks (k8s.io/pod-security-admission) at level.
func podSecurityViolations(t *testing.T, ds *appsv1.DaemonSet, level string) []string {
	t.Helper()
	ev, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		t.Fatal(err)
	}
	lvl, err := psapi.ParseLevel(level)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range ev.EvaluatePod(psapi.LevelVersion{Level: lvl, Version: psapi.LatestVersion()}, &ds.Spec.Template.ObjectMeta, &ds.Spec.Template.Spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out
}

// TestAgentPodSecurity: the pod-network agent passes Pod Security
// "restricted" for every protocol (ICMP through ping_group_range, never
// NET_RAW); the host-network agent needs "privileged", and gets NET_RAW only
// for icmp checks.
func TestAgentPodSecurity(t *testing.T) {
	for _, icmp := range []bool{false, true} {
		pod := AgentDaemonSet(AgentSpec{Namespace: "nd", Image: "x/netctl:v1", Port: 8889, Network: PodNetwork, RawICMP: icmp})
		if v := podSecurityViolations(t, pod, "restricted"); len(v) != 0 {
			t.Errorf("pod-network agent (icmp %v) violates restricted: %v", icmp, v)
		}
		ps := pod.Spec.Template.Spec
		if ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot || *ps.SecurityContext.RunAsUser == 0 ||
			fmt.Sprint(ps.SecurityContext.Sysctls) != fmt.Sprintf("[{net.ipv4.ping_group_range %d %d}]", AgentUser, AgentUser) {
			t.Errorf("pod-network agent security context %+v", ps.SecurityContext)
		}
		host := AgentDaemonSet(AgentSpec{Namespace: "nd", Image: "x/netctl:v1", Port: 8889, Network: HostNetwork, RawICMP: icmp})
		if v := podSecurityViolations(t, host, "baseline"); len(v) == 0 {
			t.Error("the host-network agent passes baseline: then it need not ask for privileged")
		}
		if v := podSecurityViolations(t, host, "privileged"); len(v) != 0 {
			t.Errorf("host-network agent violates privileged: %v", v)
		}
		if u := host.Spec.Template.Spec.SecurityContext.RunAsUser; u == nil || *u != 0 {
			t.Errorf("host-network agent runAsUser %v, want 0 explicitly (the image's user is 65532; NET_RAW needs root)", u)
		}
		c := host.Spec.Template.Spec.Containers[0].SecurityContext
		if got := fmt.Sprint(c.Capabilities.Add); (got == "[NET_RAW]") != icmp || fmt.Sprint(c.Capabilities.Drop) != "[ALL]" ||
			*c.AllowPrivilegeEscalation || !*c.ReadOnlyRootFilesystem || c.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("host-network agent (icmp %v) security context %+v", icmp, c)
		}
	}
	if PodSecurityLevel([]Network{PodNetwork}) != "restricted" || PodSecurityLevel([]Network{PodNetwork, HostNetwork}) != "privileged" {
		t.Error("PodSecurityLevel")
	}
}

func TestAgentDaemonSetHostNetwork(t *testing.T) {
	ds := AgentDaemonSet(AgentSpec{Namespace: "nd", Image: "x/netctl:v1", Port: 9000, Network: HostNetwork})
	ps := ds.Spec.Template.Spec
	if ds.Name != "netdoctor-agent-host" || !ps.HostNetwork || ps.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("host DS: name %s hostNetwork %v dnsPolicy %s", ds.Name, ps.HostNetwork, ps.DNSPolicy)
	}
	if ds.Spec.Selector.MatchLabels[NetworkLabel] != "host" {
		t.Errorf("selector %v must tell the two DaemonSets apart", ds.Spec.Selector.MatchLabels)
	}
	for _, e := range ps.Containers[0].Env {
		if e.Name == "HOST_NETWORK" && e.Value != "true" {
			t.Errorf("HOST_NETWORK=%s", e.Value)
		}
	}
}

func TestApplyCreatesObjectsAndNoRBAC(t *testing.T) {
	cs := fake.NewClientset()
	allowAllExcept(cs)
	c := client(cs)
	ctx := context.Background()
	if err := Preflight(ctx, c, "nd"); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := Apply(ctx, c, Plan{Namespace: "nd", Image: "x/netctl:v1", Port: 8889, Networks: []Network{PodNetwork, HostNetwork}}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if !res.CreatedNamespace || len(res.Token) != 64 {
		t.Errorf("applied %+v", res)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "nd", metav1.GetOptions{})
	if err != nil || ns.Annotations[CreatedByAnnotation] != "true" {
		t.Errorf("namespace %+v err %v", ns, err)
	}
	sec, err := cs.CoreV1().Secrets("nd").Get(ctx, TokenSecretName, metav1.GetOptions{})
	if err != nil || string(sec.Data[TokenKey]) != res.Token {
		t.Errorf("secret token mismatch: %v", err)
	}
	for _, name := range []string{"netdoctor-agent-pod", "netdoctor-agent-host"} {
		if _, err := cs.AppsV1().DaemonSets("nd").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("DaemonSet %s: %v", name, err)
		}
	}
	for _, a := range cs.Actions() {
		if a.GetResource().Group == "rbac.authorization.k8s.io" {
			t.Errorf("RBAC action %s %s: agents need no RBAC", a.GetVerb(), a.GetResource().Resource)
		}
	}

	// Second apply: update, same token, namespace not "created".
	res2, err := Apply(ctx, c, Plan{Namespace: "nd", Image: "x/netctl:v2", Port: 8889, Networks: []Network{PodNetwork}}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if res2.CreatedNamespace || res2.Token != res.Token {
		t.Errorf("re-apply: %+v (token must be kept)", res2)
	}
	ds, _ := cs.AppsV1().DaemonSets("nd").Get(ctx, "netdoctor-agent-pod", metav1.GetOptions{})
	if ds.Spec.Template.Spec.Containers[0].Image != "x/netctl:v2" {
		t.Errorf("image not updated: %s", ds.Spec.Template.Spec.Containers[0].Image)
	}
}

func TestApplyKeepsExistingNamespaceUnmarked(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mine"}})
	c := client(cs)
	res, err := Apply(context.Background(), c, Plan{Namespace: "mine", Image: "x/netctl:v1", Port: 1, Networks: []Network{PodNetwork}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := cs.CoreV1().Namespaces().Get(context.Background(), "mine", metav1.GetOptions{})
	if res.CreatedNamespace || ns.Annotations[CreatedByAnnotation] != "" || ns.Labels[ManagedByLabel] != "" {
		t.Errorf("pre-existing namespace touched: %+v", ns.ObjectMeta)
	}
}

func TestPreflightDeniedCreatesNothing(t *testing.T) {
	cs := fake.NewClientset()
	allowAllExcept(cs, "create daemonsets", "create pods/proxy")
	cs.PrependReactor("create", "selfsubjectreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("not served")
	})
	err := Preflight(context.Background(), client(cs), "netdoctor-system")
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{
		`the current user cannot create daemonsets.apps in namespace "netdoctor-system"`,
		`the current user cannot create pods/proxy in namespace "netdoctor-system"`,
		"nothing was created",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "cannot get") {
		t.Errorf("allowed verbs reported: %s", err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource != "selfsubjectaccessreviews" && a.GetResource().Resource != "selfsubjectreviews" {
			t.Errorf("preflight created %s", a.GetResource().Resource)
		}
	}
}

func TestPreflightNamesUserAndNamespaceCreate(t *testing.T) {
	cs := fake.NewClientset()
	allowAllExcept(cs, "create namespaces")
	cs.PrependReactor("create", "selfsubjectreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := &authnv1.SelfSubjectReview{}
		r.Status.UserInfo.Username = "alice"
		return true, r, nil
	})
	err := Preflight(context.Background(), client(cs), "nd")
	if err == nil || !strings.Contains(err.Error(), `user "alice" cannot create namespaces (cluster-wide)`) {
		t.Fatalf("err = %v", err)
	}
	// With the namespace present, create namespaces is not needed.
	_, _ = cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nd"}}, metav1.CreateOptions{})
	if err := Preflight(context.Background(), client(cs), "nd"); err != nil {
		t.Errorf("existing namespace: %v", err)
	}
}

func TestApplyRollsBackOnFailure(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("admission webhook denied the request")
	})
	_, err := Apply(context.Background(), client(cs), Plan{Namespace: "nd", Image: "x/netctl:v1", Port: 1, Networks: []Network{PodNetwork}}, nil)
	if err == nil || !strings.Contains(err.Error(), "admission webhook denied") {
		t.Fatalf("err = %v", err)
	}
	ctx := context.Background()
	if nss, _ := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); len(nss.Items) != 0 {
		t.Errorf("namespace left behind: %v", nss.Items)
	}
	if s, _ := cs.CoreV1().Secrets("nd").List(ctx, metav1.ListOptions{}); len(s.Items) != 0 {
		t.Errorf("secret left behind")
	}
	if s, _ := cs.CoreV1().ServiceAccounts("nd").List(ctx, metav1.ListOptions{}); len(s.Items) != 0 {
		t.Errorf("service account left behind")
	}
}

func TestCleanDeletesOnlyLabelledObjects(t *testing.T) {
	user := map[string]string{"app": "user"}
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "users-ns"}}, // pre-existing, holds our objects
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ours", Labels: managedLabels(), Annotations: map[string]string{CreatedByAnnotation: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "labelled-only", Labels: managedLabels()}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-agent-pod", Namespace: "users-ns", Labels: managedLabels()}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "user-ds", Namespace: "users-ns", Labels: user}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: TokenSecretName, Namespace: "users-ns", Labels: managedLabels()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "user-secret", Namespace: "users-ns"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName, Namespace: "ours", Labels: managedLabels()}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "users-ns"}},
	)
	ctx := context.Background()
	var log bytes.Buffer
	if err := Clean(ctx, client(cs), CleanScope{Namespace: "users-ns", AllNamespaces: true}, &log); err != nil {
		t.Fatal(err)
	}
	exists := func(get func() error) bool { return get() == nil }
	keep := map[string]func() error{
		"ns users-ns": func() error { _, e := cs.CoreV1().Namespaces().Get(ctx, "users-ns", metav1.GetOptions{}); return e },
		"ns labelled-only": func() error {
			_, e := cs.CoreV1().Namespaces().Get(ctx, "labelled-only", metav1.GetOptions{})
			return e
		},
		"ds user-ds": func() error {
			_, e := cs.AppsV1().DaemonSets("users-ns").Get(ctx, "user-ds", metav1.GetOptions{})
			return e
		},
		"secret user": func() error {
			_, e := cs.CoreV1().Secrets("users-ns").Get(ctx, "user-secret", metav1.GetOptions{})
			return e
		},
		"sa default": func() error {
			_, e := cs.CoreV1().ServiceAccounts("users-ns").Get(ctx, "default", metav1.GetOptions{})
			return e
		},
	}
	gone := map[string]func() error{
		"ns ours": func() error { _, e := cs.CoreV1().Namespaces().Get(ctx, "ours", metav1.GetOptions{}); return e },
		"ds agent": func() error {
			_, e := cs.AppsV1().DaemonSets("users-ns").Get(ctx, "netdoctor-agent-pod", metav1.GetOptions{})
			return e
		},
		"secret tok": func() error {
			_, e := cs.CoreV1().Secrets("users-ns").Get(ctx, TokenSecretName, metav1.GetOptions{})
			return e
		},
		"sa agent": func() error {
			_, e := cs.CoreV1().ServiceAccounts("ours").Get(ctx, ServiceAccountName, metav1.GetOptions{})
			return e
		},
	}
	for name, get := range keep {
		if !exists(get) {
			t.Errorf("%s was deleted; it is not netctl's", name)
		}
	}
	for name, get := range gone {
		if exists(get) {
			t.Errorf("%s was kept", name)
		}
	}
	// Cleaning again finds nothing and says so.
	log.Reset()
	if err := Clean(ctx, client(cs), CleanScope{Namespace: "users-ns"}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "kept namespace users-ns") || !strings.Contains(log.String(), "nothing to clean") {
		t.Errorf("log: %s", log.String())
	}
}

// TestApplyAdmissionRejected: when admission rejects an agent pod (here as
// the PodSecurity plugin answers a dry run in a "baseline" namespace),
// Apply fails with the admission message and the label that fixes it, asks
// only with a dry run, and leaves nothing it created.
func TestApplyAdmissionRejected(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{PodSecurityLabel: "baseline"}}})
	allowAllExcept(cs)
	const msg = `pods "netdoctor-agent-host-admission-check" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`
	var dryRuns, realPods int
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca := a.(k8stesting.CreateActionImpl)
		if len(ca.CreateOptions.DryRun) == 0 {
			realPods++
			return false, nil, nil
		}
		dryRuns++
		if ca.GetObject().(*corev1.Pod).Spec.HostNetwork {
			return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "netdoctor-agent-host-admission-check", errors.New(`violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`))
		}
		return true, ca.GetObject(), nil
	})
	_, err := Apply(context.Background(), client(cs), Plan{Namespace: "team", Image: "x/netctl:v1", Port: 8889, Networks: []Network{HostNetwork, PodNetwork}}, nil)
	var ae *AdmissionError
	if !errors.As(err, &ae) {
		t.Fatalf("err %v, want an AdmissionError", err)
	}
	for _, want := range []string{msg, "kubectl label namespace team pod-security.kubernetes.io/enforce=privileged --overwrite", "hostNetwork", "nothing was created"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%s", want, err)
		}
	}
	if dryRuns == 0 || realPods != 0 {
		t.Errorf("%d dry runs, %d real pod creates", dryRuns, realPods)
	}
	ctx := context.Background()
	if l, _ := cs.AppsV1().DaemonSets("team").List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("DaemonSets created: %d", len(l.Items))
	}
	if l, _ := cs.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("Secret left behind")
	}
	if l, _ := cs.CoreV1().ServiceAccounts("team").List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("ServiceAccount left behind")
	}
	if ns, _ := cs.CoreV1().Namespaces().Get(ctx, "team", metav1.GetOptions{}); ns.Labels[PodSecurityLabel] != "baseline" {
		t.Errorf("the user's namespace labels changed: %v", ns.Labels)
	}
}

// TestApplyNamespacePodSecurityLevel: a namespace netctl creates enforces
// the least level its agents need, raised when a later check needs more.
func TestApplyNamespacePodSecurityLevel(t *testing.T) {
	cs := fake.NewClientset()
	c := client(cs)
	ctx := context.Background()
	level := func() string {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, "nd", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ns.Labels[PodSecurityLabel]
	}
	if _, err := Apply(ctx, c, Plan{Namespace: "nd", Image: "x", Port: 8889, Networks: []Network{PodNetwork}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := level(); got != "restricted" {
		t.Errorf("pod mode: namespace enforces %q, want restricted", got)
	}
	var log bytes.Buffer
	if _, err := Apply(ctx, c, Plan{Namespace: "nd", Image: "x", Port: 8889, Networks: []Network{HostNetwork}}, &log); err != nil {
		t.Fatal(err)
	}
	if got := level(); got != "privileged" || !strings.Contains(log.String(), `now enforces Pod Security "privileged"`) {
		t.Errorf("node mode: namespace enforces %q, log %s", got, log.String())
	}
}
