// Package kube builds Kubernetes clients the way kubectl does (kubeconfig
// path + context, KUBECONFIG, ~/.kube/config, in-cluster), discovers the
// nodes, pods and cluster DNS a check needs, and talks to agents through the
// API server's pod proxy.
package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client is one cluster: the typed clientset plus an authenticated HTTP
// client for streaming pod-proxy requests (kept apart so tests can pair a
// fake clientset with a real HTTP path to a local server).
type Client struct {
	// Name says which cluster this is in messages: "src" or "dst".
	Name      string
	Host      string
	Clientset kubernetes.Interface
	// Dynamic reaches kinds the clientset does not know (the Prometheus
	// Operator's, which the monitor may create); nil in tests with a fake.
	Dynamic dynamic.Interface
	// HTTP carries the kubeconfig's credentials and TLS settings
	// (rest.HTTPClientFor) and has no overall timeout, so a response body
	// can be read as a stream for as long as the request's context allows.
	HTTP *http.Client
	// Config is the rest.Config the client was built from (port-forwards
	// need it for their SPDY connection); nil in tests with a fake.
	Config *rest.Config
}

// Options say where the cluster is. Kubeconfig "" means what kubectl uses
// ($KUBECONFIG, ~/.kube/config, then the in-cluster config).
type Options struct {
	Kubeconfig string
	Context    string
	// Hint names the setting to fix in error messages, e.g.
	// "srcKubeConfig/--kubeconfig".
	Hint string
	// ReachTimeout bounds the first request that proves the API server
	// answers (default 10s).
	ReachTimeout time.Duration
}

// Fan-out: one pod-proxy stream per source agent plus discovery, so the
// client-side limiter (default 5/10) must not serialize them.
const (
	clientQPS   = 100
	clientBurst = 200
)

// RESTConfig loads a rest.Config like kubectl: explicit path (only that
// file), else the default loading rules; context "" = current context.
func RESTConfig(kubeconfig, contextName string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: contextName}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS = clientQPS
	cfg.Burst = clientBurst
	cfg.UserAgent = "netctl"
	// No cfg.Timeout: it would cut the long probe streams. Every request
	// carries a context instead.
	return cfg, nil
}

// New builds a Client and proves the API server answers within
// ReachTimeout, so a stopped cluster fails in seconds with a message that
// says what to fix.
func New(ctx context.Context, name string, o Options) (*Client, error) {
	hint := o.Hint
	if hint == "" {
		hint = "--kubeconfig"
	}
	cfg, err := RESTConfig(o.Kubeconfig, o.Context)
	if err != nil {
		where := o.Kubeconfig
		if where == "" {
			where = "the default kubeconfig ($KUBECONFIG, ~/.kube/config) or in-cluster config"
		}
		return nil, fmt.Errorf("loading %s (context %q): %w; check %s", where, o.Context, err, hint)
	}
	c, err := NewForConfig(name, cfg)
	if err != nil {
		return nil, err
	}
	timeout := o.ReachTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if err := c.Ping(ctx, timeout); err != nil {
		return nil, fmt.Errorf("%w; check %s", err, hint)
	}
	return c, nil
}

// NewForConfig builds a Client without contacting the server.
func NewForConfig(name string, cfg *rest.Config) (*Client, error) {
	logRequests(cfg)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building HTTP client for %s: %w", cfg.Host, err)
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("building Kubernetes client for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("building Kubernetes client for %s: %w", cfg.Host, err)
	}
	// The server URL as client-go resolves it (scheme added, path kept),
	// so pod-proxy URLs match what the clientset uses.
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("parsing API server address %q: %w", cfg.Host, err)
	}
	return &Client{Name: name, Host: base.String(), Clientset: cs, Dynamic: dyn, HTTP: hc, Config: cfg}, nil
}

// Ping asks the server for /version within timeout.
func (c *Client) Ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := c.Clientset.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	if err == nil || apierrors.IsForbidden(err) {
		// Forbidden still proves the server is there and knows us;
		// real permission problems are reported by the preflight.
		return nil
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err() // interrupted, not unreachable
	}
	return fmt.Errorf("cannot reach the Kubernetes API server at %s: %s", c.Host, describeReachError(err, timeout))
}

// describeReachError turns a transport error into the short cause a user
// can act on, instead of Go's nested "Get ...: dial tcp ...:" text.
func describeReachError(err error, timeout time.Duration) string {
	var (
		uerr    *url.Error
		dnsErr  *net.DNSError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %q", dnsErr.Name)
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return "TLS certificate not trusted: " + err.Error()
	case apierrors.IsUnauthorized(err):
		return "the server rejected the credentials (401 Unauthorized)"
	case errors.As(err, &uerr):
		var nerr net.Error
		if errors.As(uerr.Err, &nerr) && nerr.Timeout() {
			return fmt.Sprintf("no answer within %s", timeout)
		}
		return uerr.Err.Error()
	}
	return err.Error()
}

// WhoAmI names the user the server sees (SelfSubjectReview), for messages
// such as `user "x" cannot create daemonsets.apps`. It falls back to
// "the current user" when the server cannot say.
func (c *Client) WhoAmI(ctx context.Context) string {
	r, err := c.Clientset.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return "the current user"
	}
	return fmt.Sprintf("user %q", r.Status.UserInfo.Username)
}
