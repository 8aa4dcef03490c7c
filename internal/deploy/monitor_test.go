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

// TestCleanLeavesTheMonitor: with the monitor's own objects (as `monitor
// install` builds them) in the cluster, in their namespace and in a
// namespace a check created, clean deletes the check's objects only and
// keeps both namespaces.
func TestCleanLeavesTheMonitor(t *testing.T) {
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
