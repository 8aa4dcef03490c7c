package kubelet

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"
)

// TestPortForward (the server may need a moment after Running to listen:
// the GET retries) speaks SPDY port-forward to the kubelet server as the API
// server does (mutual TLS), forwards a local port to the pod's 8080 and
// fetches a page the container serves; a closed port reports an error.
func TestPortForward(t *testing.T) {
	needRoot(t)
	node, pki, client, ctx := servingKubelet(t, "p", "10.254.3.0/24")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "pf-test-uid"},
		Spec: corev1.PodSpec{NodeName: "node-p", TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{Name: "srv", Image: "example.com/test/server:v1",
				Env: []corev1.EnvVar{{Name: "ND_TEST_SERVE", Value: "8080"}}}}}}
	if _, err := client.CoreV1().Pods("ns1").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod running", 10*time.Second, func() (bool, error) {
		p, err := client.CoreV1().Pods("ns1").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	addr := proxyIntoNetns(t, netnsPath(node.Netns), "10.254.255.1:10250")
	rc := &rest.Config{Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{
		CAData: pki.caPEM, CertData: pki.clientCert, KeyData: pki.clientKey}}
	rt, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	forward := func(remote int) (string, error) {
		u, _ := url.Parse("https://" + addr + "/portForward/ns1/web")
		dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
		stop, ready := make(chan struct{}), make(chan struct{})
		defer close(stop)
		fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", remote)}, stop, ready, io.Discard, io.Discard)
		if err != nil {
			return "", err
		}
		errc := make(chan error, 1)
		go func() { errc <- fw.ForwardPorts() }()
		select {
		case <-ready:
		case err := <-errc:
			return "", err
		case <-time.After(10 * time.Second):
			return "", fmt.Errorf("port-forward not ready")
		}
		ports, err := fw.GetPorts()
		if err != nil {
			return "", err
		}
		hc := &http.Client{Timeout: 5 * time.Second}
		var body []byte
		var lastErr error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", ports[0].Local))
			if err != nil {
				lastErr = err
				continue
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body), nil
		}
		return "", lastErr
	}
	got, err := forward(8080)
	if err != nil || got != "web" {
		t.Errorf("GET /hostname through port-forward: %q, %v; want web", got, err)
	}
	if got, err := forward(8081); err == nil {
		t.Errorf("port-forward to a closed port answered %q", got)
	}
}
