package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// PortForward opens a port-forward to port of a pod through the API server
// (as `kubectl port-forward` does, over SPDY), with a local listener on
// 127.0.0.1 only, on a port the kernel picks. It returns the base URL of
// the forwarded port (http://127.0.0.1:N) and a stop function that closes
// the listener and the connection. The kubelet connects to localhost:port
// inside the pod's network namespace.
func (c *Client) PortForward(ctx context.Context, namespace, pod string, port int) (string, func(), error) {
	if c.Config == nil {
		return "", nil, errors.New("port-forward: no client configuration")
	}
	rt, upgrader, err := spdy.RoundTripperFor(c.Config)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, pod, err)
	}
	u := c.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, pod, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	var once bool
	stopFn := func() {
		if !once {
			once = true
			close(stop)
		}
	}
	select {
	case <-ready:
	case err := <-done:
		if err == nil {
			err = errors.New("ended before it was ready")
		}
		return "", nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", namespace, pod, port, err)
	case <-ctx.Done():
		stopFn()
		return "", nil, ctx.Err()
	case <-time.After(30 * time.Second):
		stopFn()
		return "", nil, fmt.Errorf("port-forward to pod %s/%s port %d: not ready within 30s", namespace, pod, port)
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		stopFn()
		return "", nil, fmt.Errorf("port-forward to pod %s/%s port %d: no local port: %v", namespace, pod, port, err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", ports[0].Local), stopFn, nil
}

// IsProxyDialError says whether an error message from the API server's pod
// proxy means the API server could not connect to the pod (no route, dial
// timeout, refused): the pod may still be reachable through a port-forward,
// which goes through the kubelet instead.
func IsProxyDialError(status int, msg string) bool {
	if status != http.StatusServiceUnavailable && status != http.StatusBadGateway && status != http.StatusInternalServerError && status != http.StatusGatewayTimeout {
		return false
	}
	for _, s := range []string{"error trying to reach service", "dial tcp", "no route to host", "i/o timeout", "connection refused", "network is unreachable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
