package kubelet

import (
	"context"
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
