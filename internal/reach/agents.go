package reach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/load"
)

// access reaches agents' control API through the API server's pod proxy
// and, for an agent the proxy cannot dial, through a port-forward (as
// check's agentAccess auto does).
type access struct {
	client    *kube.Client
	namespace string
	apiPort   int
	token     string
	forwarded sync.Map // pod -> true
	log       io.Writer
}

var forwardClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// do runs fn against the pod's control API base URL, retrying once through
// a port-forward when the pod proxy cannot dial the pod.
func (a *access) do(ctx context.Context, pod string, fn func(c agent.Doer, base string) error) error {
	if _, ok := a.forwarded.Load(pod); !ok {
		err := fn(a.client.HTTP, a.client.PodProxyURL(a.namespace, pod, a.apiPort))
		var herr *agent.HTTPError
		if err == nil || !errors.As(err, &herr) || !kube.IsProxyDialError(herr.StatusCode, herr.Body) || a.client.Config == nil {
			return err
		}
		fmt.Fprintf(a.log, "agent pod %s: the API server cannot reach it (%s); using a port-forward\n", pod, firstLine(herr.Body))
		a.forwarded.Store(pod, true)
	}
	base, stop, err := a.client.PortForward(ctx, a.namespace, pod, a.apiPort)
	if err != nil {
		return err
	}
	defer stop()
	return fn(forwardClient, base)
}

// runLoad posts one load batch to pod and returns its results.
func (a *access) runLoad(ctx context.Context, pod string, req load.Request) ([]load.TargetResult, error) {
	ctx, cancel := context.WithTimeout(ctx, req.Duration+2*req.PerRequestTimeout+batchSlack)
	defer cancel()
	var resp load.Response
	err := a.do(ctx, pod, func(c agent.Doer, base string) error {
		var err error
		resp, err = agent.Load(ctx, c, base, a.token, req)
		return err
	})
	return resp.Results, err
}

// batchSlack is the time a load batch may take beyond its duration and
// two request timeouts (a wait for a slot, then the request) (API server proxy, encoding).
const batchSlack = 30 * time.Second

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
