package reach

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/kubetest"
)

// fakeCluster has an IngressClass and a Gateway (so the ingress and
// gateway paths run) and answers SelfSubjectAccessReviews allowed except
// for the "verb resource.group" keys in denied. reviewed collects every
// key asked.
func fakeCluster(denied ...string) (*fake.Clientset, *dynfake.FakeDynamicClient, *[]string) {
	cs := fake.NewClientset(&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "traefik"}})
	var reviewed []string
	kubetest.AnswerAccessReviews(cs, func(ra authzv1.ResourceAttributes) bool {
		key := ra.Verb + " " + ra.Resource
		if ra.Group != "" {
			key += "." + ra.Group
		}
		reviewed = append(reviewed, key+"@"+ra.Namespace)
		return !slices.Contains(denied, key)
	})
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "gw", "namespace": "traefik"},
		"spec":     map[string]any{"listeners": []any{map[string]any{"protocol": "HTTP", "port": int64(80)}}},
		"status":   map[string]any{"addresses": []any{map[string]any{"type": "IPAddress", "value": "100.64.34.2"}}},
	}}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gatewayGVR: "GatewayList", httpRouteGVR: "HTTPRouteList", metallbGVR: "IPAddressPoolList"})
	if _, err := dyn.Resource(gatewayGVR).Namespace("traefik").Create(context.Background(), gw, metav1.CreateOptions{}); err != nil {
		panic(err)
	}
	dyn.ClearActions()
	return cs, dyn, &reviewed
}

func preflightOptions() Options {
	s := DefaultSpec()
	s.Request = Request{QPS: 10, DurationInSecond: 1, PerRequestTimeoutInMS: 100}
	return Options{Namespace: "nd", Image: "reg.local/netdoctor-agent:v1", Port: 8889, PodWait: time.Millisecond,
		AddressWait: time.Millisecond, Spec: s}
}

// created lists what the run created, beyond the access reviews.
func created(cs *fake.Clientset, dyn *dynfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range append(cs.Actions(), dyn.Actions()...) {
		switch res := a.GetResource().Resource; {
		case a.GetVerb() != "create" && a.GetVerb() != "update" && a.GetVerb() != "patch":
		case res == "selfsubjectaccessreviews" || res == "selfsubjectreviews":
		default:
			out = append(out, a.GetVerb()+" "+res)
		}
	}
	return out
}

func TestPreflightDeniedNamesThePermissionAndCreatesNothing(t *testing.T) {
	for _, c := range []struct {
		deny  string
		wants []string
	}{
		{"create services", []string{`cannot create services in namespace "nd" (netctl reach)`,
			"a Role in namespace \"nd\"", `resources: ["services"]`, `verbs: ["create"]`}},
		{"create httproutes.gateway.networking.k8s.io", []string{
			`cannot create httproutes.gateway.networking.k8s.io in namespace "nd" (netctl reach's gateway path; --paths without gateway skips it)`,
			`apiGroups: ["gateway.networking.k8s.io"]`, `resources: ["httproutes"]`}},
		{"list gateways.gateway.networking.k8s.io", []string{`cannot list gateways.gateway.networking.k8s.io (cluster-wide)`,
			"a ClusterRole (bound with a ClusterRoleBinding)", `resources: ["gateways"]`}},
		{"list endpointslices.discovery.k8s.io", []string{`cannot list endpointslices.discovery.k8s.io in namespace "nd"`,
			// The dns path reads kube-system's endpoints: its own Role there.
			`cannot list endpointslices.discovery.k8s.io in namespace "kube-system" (netctl reach's dns path`,
			`a Role in namespace "kube-system"`}},
	} {
		cs, dyn, _ := fakeCluster(c.deny)
		cs.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, context.DeadlineExceeded // WhoAmI falls back to "the current user"
		})
		rep, err := run(context.Background(), preflightOptions(), &kube.Client{Name: "src", Clientset: cs}, dyn, io.Discard)
		if err == nil || rep != nil {
			t.Errorf("deny %s: report %v, err %v; want a setup error (exit 2) and no report", c.deny, rep, err)
			continue
		}
		for _, w := range append(c.wants, "nothing was created", "the current user") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("deny %s: error lacks %q:\n%s", c.deny, w, err)
			}
		}
		if got := created(cs, dyn); len(got) > 0 {
			t.Errorf("deny %s: created %v before failing", c.deny, got)
		}
	}
}

func TestPreflightAllowedProceedsAndAsksPerPath(t *testing.T) {
	cs, dyn, reviewed := fakeCluster()
	o := preflightOptions()
	_, err := run(context.Background(), o, &kube.Client{Name: "src", Clientset: cs}, dyn, io.Discard)
	if err != nil && strings.Contains(err.Error(), "missing permissions") {
		t.Fatalf("everything allowed, yet: %v", err)
	}
	got := strings.Join(created(cs, dyn), ",")
	if !strings.Contains(got, "create daemonsets") {
		t.Errorf("allowed: the run did not go on to create the agents (created %s; err %v)", got, err)
	}
	asked := strings.Join(*reviewed, " ")
	for _, w := range []string{"create services@nd", "create ingresses.networking.k8s.io@nd", "list ingressclasses.networking.k8s.io@ ",
		"create httproutes.gateway.networking.k8s.io@nd", "list gateways.gateway.networking.k8s.io@ ", "watch pods@nd",
		"list nodes@ ", "create endpointslices.discovery.k8s.io@nd", "get services@kube-system"} {
		if !strings.Contains(asked+" ", w) {
			t.Errorf("not reviewed: %s (asked %s)", w, asked)
		}
	}
	// Paths not run ask nothing of theirs.
	cs, dyn, reviewed = fakeCluster()
	o.Spec.Paths = []PathKind{PathPod, PathClusterIP}
	run(context.Background(), o, &kube.Client{Name: "src", Clientset: cs}, dyn, io.Discard)
	asked = strings.Join(*reviewed, " ")
	for _, no := range []string{"ingresses", "httproutes", "gateways", "create endpointslices", "kube-system"} {
		if strings.Contains(asked, no) {
			t.Errorf("paths pod,clusterip: reviewed %s (asked %s)", no, asked)
		}
	}
}
