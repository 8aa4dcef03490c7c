package runner

import (
	"context"
	"net/http"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// maxBatch is the most targets one request may carry (the agent refuses more).
const maxBatch = agent.MaxTargets

// streamProbe posts one batch to an agent pod through the API server's pod
// proxy (url: kube.Client.PodProxyURL) and calls onResult as each result line arrives.
func streamProbe(ctx context.Context, c agent.Doer, url, token string,
	targets []probe.Target, concurrency int, timeout time.Duration, onResult func(probe.Result)) error {
	req := agent.ProbeRequest{Targets: targets, Concurrency: concurrency, TimeoutSeconds: timeout.Seconds()}
	return agent.StreamProbe(ctx, c, url, token, req, onResult)
}

// forwardClient talks to port-forward listeners on 127.0.0.1: no cluster
// credentials, never a proxy.
var forwardClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// streamProbeForwarded is streamProbe through a port-forward to the pod's
// api port (the kubelet's path instead of the API server's pod proxy),
// opened for this batch and closed after it.
func streamProbeForwarded(ctx context.Context, c *kube.Client, touch func(), namespace, pod string, port int, token string,
	targets []probe.Target, concurrency int, timeout time.Duration, onResult func(probe.Result)) error {
	base, stop, err := c.PortForward(ctx, namespace, pod, port)
	if err != nil {
		return err
	}
	defer stop()
	req := agent.ProbeRequest{Targets: targets, Concurrency: concurrency, TimeoutSeconds: timeout.Seconds()}
	return agent.StreamProbe(ctx, touchDoer{forwardClient, touch}, base, token, req, onResult)
}
