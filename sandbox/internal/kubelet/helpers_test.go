package kubelet

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// runKubelet runs cfg's kubelet against client until stop is called or the
// test ends. stop cancels it once and returns Run's error; the context is
// the kubelet's, for API calls while it runs.
func runKubelet(t *testing.T, cfg Config, client kubernetes.Interface) (k *kubelet, ctx context.Context, stop func() error) {
	t.Helper()
	k, err := newKubeletWithClient(cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	return k, ctx, stop
}

// fakeAPIWithTokens is a fake API server with namespace ns1's default
// ServiceAccount and root CA ConfigMap, answering TokenRequest as the real
// API server would (the fake clientset has no TokenRequest of its own).
func fakeAPIWithTokens() *fake.Clientset {
	client := fake.NewSimpleClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "ns1"}, Data: map[string]string{"ca.crt": "CA-PEM"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns1"}},
	)
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		return true, &authv1.TokenRequest{Status: authv1.TokenRequestStatus{Token: "sa-token"}}, nil
	})
	return client
}

// servingKubelet runs a kubelet with one node (named node-TAG, pod CIDR
// cidr, kubelet API on 10.254.255.1:10250 inside its namespace) serving
// TLS with a fresh test PKI; images example.com/test/server:* run this test
// binary. It returns the node, the PKI for clients, the fake API and the
// kubelet's context.
func servingKubelet(t *testing.T, tag, cidr string) (Node, testPKI, *fake.Clientset, context.Context) {
	t.Helper()
	self, _ := os.Executable()
	cluster := fmt.Sprintf("k%s%d", tag, os.Getpid()%100000)
	node := testNode(t, "node-"+tag, "nd-"+cluster+"-n-"+tag, cidr)
	run(t, "ip", "-n", node.Netns, "addr", "add", "10.254.255.1/32", "dev", "lo")
	pki := newTestPKI(t)
	client := fake.NewSimpleClientset()
	cfg := Config{Nodes: []Node{node}, ClusterName: cluster, ClusterDomain: "cluster.local",
		Images: map[string]string{"example.com/test/server:*": self}, StateDir: t.TempDir(),
		ServingCert: pki.serverCert, ServingKey: pki.serverKey, ClientCA: pki.caFile}
	_, ctx, _ := runKubelet(t, cfg, client)
	return node, pki, client, ctx
}
