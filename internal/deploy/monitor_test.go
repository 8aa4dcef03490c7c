package deploy_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
)

// twoMonitors are the objects of a monitor installed into its own
// namespace and of one installed into namespace "ours" (a check's).
func twoMonitors() []runtime.Object {
	var objs []runtime.Object
	for _, ns := range []string{manifest.DefaultNamespace, "ours"} {
		o := manifest.Defaults()
		o.Namespace, o.Token = ns, "monitor-token"
		for _, obj := range manifest.Objects(o) {
			if _, isNS := obj.(*corev1.Namespace); isNS && ns == "ours" {
				continue // installed into the namespace the check created
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

// TestCleanLeavesTheMonitor: with the monitor's own objects (as `monitor
// install` builds them) in the cluster, in their namespace and in a
// namespace a check created, clean deletes the check's objects only and
// keeps both namespaces.
func TestCleanLeavesTheMonitor(t *testing.T) {
	objs := twoMonitors()
	objs = append(objs,
		deploy.Namespace("ours", "restricted"), deploy.ServiceAccount("ours"), deploy.TokenSecret("ours", "t"),
		deploy.AgentDaemonSet(deploy.AgentSpec{Namespace: "ours", Image: "x", Port: 8889, Network: deploy.PodNetwork}))
	cs := fake.NewClientset(objs...)
	ctx := context.Background()
	var log bytes.Buffer
	if err := deploy.Clean(ctx, &kube.Client{Name: "src", Clientset: cs}, deploy.CleanScope{Namespace: "ours", AllNamespaces: true}, &log); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{manifest.DefaultNamespace, "ours"} {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
		for _, name := range []string{manifest.PodAgentDS, manifest.HostAgentDS} {
			if _, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("monitor DaemonSet %s/%s: %v", ns, name, err)
			}
		}
		if _, err := cs.CoreV1().Secrets(ns).Get(ctx, manifest.TokenSecret, metav1.GetOptions{}); err != nil {
			t.Errorf("monitor Secret %s/%s: %v", ns, manifest.TokenSecret, err)
		}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, manifest.AgentSA, metav1.GetOptions{}); err != nil {
			t.Errorf("monitor deploy.ServiceAccount %s/%s: %v", ns, manifest.AgentSA, err)
		}
	}
	if _, err := cs.AppsV1().DaemonSets("ours").Get(ctx, deploy.DaemonSetName(deploy.PodNetwork), metav1.GetOptions{}); err == nil {
		t.Error("the check's DaemonSet was kept")
	}
	if _, err := cs.CoreV1().Secrets("ours").Get(ctx, deploy.TokenSecretName, metav1.GetOptions{}); err == nil {
		t.Error("the check's Secret was kept")
	}
	if !strings.Contains(log.String(), "kept namespace ours in cluster src: Deployment "+manifest.ServerDeploy) {
		t.Errorf("log does not say why namespace ours was kept:\n%s", log.String())
	}
}

// TestUninstallLeavesTheCheck: `monitor uninstall`'s scope (part-of=
// netdoctor-monitor, one namespace) deletes that namespace's monitor
// objects, its cluster-scoped RBAC and not another namespace's; the check's
// objects and the check's namespace stay; the monitor's own namespace goes
// once nothing else runs there.
func TestUninstallLeavesTheCheck(t *testing.T) {
	objs := twoMonitors()
	checkDS := deploy.AgentDaemonSet(deploy.AgentSpec{Namespace: "ours", Image: "x", Port: 8889, Network: deploy.PodNetwork})
	objs = append(objs, deploy.Namespace("ours", "restricted"), deploy.ServiceAccount("ours"), deploy.TokenSecret("ours", "t"), checkDS)
	cs := fake.NewClientset(objs...)
	ctx := context.Background()
	client := &kube.Client{Name: "src", Clientset: cs}
	var log bytes.Buffer
	if err := deploy.Clean(ctx, client, deploy.CleanScope{Namespace: "ours", PartOf: deploy.MonitorPartOf}, &log); err != nil {
		t.Fatal(err)
	}
	monitorSel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=netdoctor-monitor"}
	count := func(ns string) int {
		n := 0
		dss, _ := cs.AppsV1().DaemonSets(ns).List(ctx, monitorSel)
		deps, _ := cs.AppsV1().Deployments(ns).List(ctx, monitorSel)
		svcs, _ := cs.CoreV1().Services(ns).List(ctx, monitorSel)
		secs, _ := cs.CoreV1().Secrets(ns).List(ctx, monitorSel)
		sas, _ := cs.CoreV1().ServiceAccounts(ns).List(ctx, monitorSel)
		roles, _ := cs.RbacV1().Roles(ns).List(ctx, monitorSel)
		rbs, _ := cs.RbacV1().RoleBindings(ns).List(ctx, monitorSel)
		for _, l := range []int{len(dss.Items), len(deps.Items), len(svcs.Items), len(secs.Items), len(sas.Items), len(roles.Items), len(rbs.Items)} {
			n += l
		}
		return n
	}
	if n := count("ours"); n != 0 {
		t.Errorf("%d monitor objects left in namespace ours", n)
	}
	if n := count(manifest.DefaultNamespace); n < 7 {
		t.Errorf("the other namespace's monitor lost objects: %d left", n)
	}
	if _, err := cs.RbacV1().ClusterRoles().Get(ctx, manifest.ServerRBAC+"-ours", metav1.GetOptions{}); err == nil {
		t.Error("ClusterRole of the uninstalled monitor kept")
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, manifest.ServerRBAC+"-"+manifest.DefaultNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("ClusterRoleBinding of the other namespace's monitor: %v", err)
	}
	for what, err := range map[string]error{
		"namespace ours": func() error { _, e := cs.CoreV1().Namespaces().Get(ctx, "ours", metav1.GetOptions{}); return e }(),
		"check DaemonSet": func() error {
			_, e := cs.AppsV1().DaemonSets("ours").Get(ctx, checkDS.Name, metav1.GetOptions{})
			return e
		}(),
		"check Secret": func() error {
			_, e := cs.CoreV1().Secrets("ours").Get(ctx, deploy.TokenSecretName, metav1.GetOptions{})
			return e
		}(),
	} {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	// The monitor's own namespace (created by it, nothing else there) goes,
	// unless a check's agents run there.
	log.Reset()
	other := deploy.AgentDaemonSet(deploy.AgentSpec{Namespace: manifest.DefaultNamespace, Image: "x", Port: 8889, Network: deploy.HostNetwork})
	if _, err := cs.AppsV1().DaemonSets(manifest.DefaultNamespace).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	scope := deploy.CleanScope{Namespace: manifest.DefaultNamespace, PartOf: deploy.MonitorPartOf}
	if err := deploy.Clean(ctx, client, scope, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "kept namespace "+manifest.DefaultNamespace+" in cluster src: DaemonSet "+other.Name) {
		t.Errorf("log does not say the check's agents keep the namespace:\n%s", log.String())
	}
	if err := cs.AppsV1().DaemonSets(manifest.DefaultNamespace).Delete(ctx, other.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := deploy.Clean(ctx, client, scope, &log); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, manifest.DefaultNamespace, metav1.GetOptions{}); err == nil {
		t.Errorf("namespace %s kept after the uninstall:\n%s", manifest.DefaultNamespace, log.String())
	}
}
