package check

import (
	"context"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// maxBatch is the most targets one request may carry (the agent refuses more).
const maxBatch = agent.MaxTargets

// streamProbe posts one batch to an agent pod through the API server's pod
// proxy and calls onResult as each result line arrives.
func streamProbe(ctx context.Context, c *kube.Client, namespace, pod string, port int, token string,
	targets []probe.Target, concurrency int, timeout time.Duration, onResult func(probe.Result)) error {
	req := agent.ProbeRequest{Targets: targets, Concurrency: concurrency, TimeoutSeconds: timeout.Seconds()}
	return agent.StreamProbe(ctx, c.HTTP, c.PodProxyURL(namespace, pod, port), token, req, onResult)
}
