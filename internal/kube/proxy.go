package kube

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ProxyStream sends a request to a pod's port through the API server's pod
// proxy (/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH) and returns the
// response body unread, so the caller can consume a stream as it arrives.
// A non-2xx answer is an error carrying the status and body text.
// method is "GET" or "POST"; body may be nil.
func (c *Client) ProxyStream(ctx context.Context, method, namespace, pod string, port int, path string, headers map[string]string, body []byte) (io.ReadCloser, error) {
	req := c.Proxy.Verb(method).
		Namespace(namespace).
		Resource("pods").
		Name(pod + ":" + strconv.Itoa(port)).
		SubResource("proxy").
		Suffix(strings.TrimPrefix(path, "/"))
	for k, v := range headers {
		req = req.SetHeader(k, v)
	}
	if body != nil {
		req = req.SetHeader("Content-Type", "application/json").Body(body)
	}
	rc, err := req.Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s %s through the pod proxy of %s/%s: %w", method, path, namespace, pod, err)
	}
	return rc, nil
}
