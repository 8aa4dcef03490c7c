package monitorcmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/configflags"
)

// kubeFlags are the cluster flags every netctl command has (configflags).
type kubeFlags struct {
	configflags.ClusterFlags
}

func (k *kubeFlags) add(fs *pflag.FlagSet) { k.AddFlags(fs, "") }

type clients struct {
	host    string // the API server, naming the cluster in messages
	cs      kubernetes.Interface
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
}

// connect builds clients and proves the API server answers: a bad
// kubeconfig is a usage error (exit 2), an unreachable server exit 1.
func (k *kubeFlags) connect(ctx context.Context) (*clients, error) {
	rc, err := k.RESTConfig()
	if err != nil {
		return nil, clierr.Usagef("loading kubeconfig: %w; check --kubeconfig, --context or $KUBECONFIG", err)
	}
	rc.UserAgent = "netctl-monitor"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, clierr.Usagef("building Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, clierr.Usagef("building Kubernetes client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Raw(); err != nil {
		return nil, fmt.Errorf("reaching the API server at %s: %w", rc.Host, err)
	}
	// Resources are looked up lazily (only the kinds install applies).
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	return &clients{host: rc.Host, cs: cs, dynamic: dyn, mapper: mapper}, nil
}
