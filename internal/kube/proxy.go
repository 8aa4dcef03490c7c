package kube

import (
	"fmt"
	"strings"
)

// PodProxyURL is the base URL of a pod's port through the API server's pod
// proxy: HOST/api/v1/namespaces/NS/pods/NAME:PORT/proxy. Requests to it
// with c.HTTP carry the cluster credentials; the API server forwards them
// to the pod (host-network pods included) and streams the answer back.
func (c *Client) PodProxyURL(namespace, pod string, port int) string {
	return fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s:%d/proxy", strings.TrimSuffix(c.Host, "/"), namespace, pod, port)
}
