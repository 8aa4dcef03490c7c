package monitorcmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
	"github.com/netdoctor/netdoctor/internal/monitor/server"
)

type serverOptions struct {
	cfg        server.Config
	port       int
	listen     string
	tokenFile  string
	namespace  string
	roster     string
	kubeconfig string
	verbose    bool
	vips       server.KubeReachVIPs // the asked reach paths; clients set with the roster
}

func newServerCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the monitor server (deployed by `monitor install`; not for direct use)",
		Long: "Run the monitor server: it receives agents' reports (token required), serves\n" +
			"the k8s-netchecker API (/api/v1/agents/, /api/v1/connectivity_check,\n" +
			"/api/v1/ping), /api/v1/matrix, /api/v1/peers and /metrics. With --roster=auto\n" +
			"it lists agent pods and nodes (in-cluster config or --kubeconfig) to know\n" +
			"which agents should report and which peers to skip.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := readToken(o.tokenFile)
			if err != nil {
				return err
			}
			log := newLogger(streams, o.verbose)
			o.cfg.Token, o.cfg.Logger = tok, log
			if o.roster != "auto" && o.roster != "off" {
				return clierr.Usagef("--roster: must be auto or off, got %q", o.roster)
			}
			if o.roster == "auto" {
				if o.namespace == "" {
					return clierr.Usagef("--namespace (or POD_NAMESPACE): must be set with --roster=auto")
				}
				rc, err := kube.RESTConfig(o.kubeconfig, "")
				if err != nil {
					log.Warn("no Kubernetes config: running without the roster (peers come from reports, no Absent list)", "err", err)
				} else {
					cs, err := kubernetes.NewForConfig(rc)
					if err != nil {
						return fmt.Errorf("building the Kubernetes client: %w", err)
					}
					roster := server.KubeRoster{Client: cs, Namespace: o.namespace}
					o.cfg.Roster, o.cfg.ReachEndpoints = roster, roster
					if o.vips.LoadBalancer || o.vips.Ingress || o.vips.Gateway != "" {
						dyn, err := dynamic.NewForConfig(rc)
						if err != nil {
							return fmt.Errorf("building the Kubernetes client: %w", err)
						}
						o.vips.Client, o.vips.Dynamic, o.vips.Namespace = cs, dyn, o.namespace
						o.cfg.ReachVIPs = o.vips
					}
				}
			}
			s, err := server.New(o.cfg)
			if err != nil {
				return usage(err, "server")
			}
			if err := s.Load(); err != nil {
				return clierr.UsageError(err)
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(o.listen, strconv.Itoa(o.port)))
			if err != nil {
				return fmt.Errorf("listening on port %d: %w", o.port, err)
			}
			log.Info("monitor server listening", "addr", ln.Addr().String(), "interval", o.cfg.Interval, "roster", o.cfg.Roster != nil)
			hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			g, ctx := errgroup.WithContext(contextOf(cmd))
			g.Go(func() error { return s.Run(ctx) })
			g.Go(func() error {
				err := hs.Serve(ln)
				if errors.Is(err, http.ErrServerClosed) {
					return nil
				}
				return err
			})
			g.Go(func() error {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return hs.Shutdown(sctx)
			})
			return g.Wait()
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.port, "port", manifest.DefaultServerPort, "HTTP port")
	f.StringVar(&o.listen, "listen-address", "", "address to listen on (default all)")
	f.DurationVar(&o.cfg.Interval, "interval", manifest.DefaultInterval, "the agents' reporting interval")
	f.DurationVar(&o.cfg.Grace, "grace", 0, "drop agents silent for longer than this (default 10 x --interval)")
	f.IntVar(&o.cfg.AgentPort, "agent-port", manifest.DefaultAgentPort, "port agents answer probes on (sent in the peer list)")
	f.StringVar(&o.tokenFile, "token-file", manifest.TokenFile, "file holding the report token")
	f.StringVar(&o.cfg.StateFile, "state-file", "", "file to save state to and restore it from (empty: keep state in memory only)")
	f.StringVar(&o.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the agent pods (env POD_NAMESPACE)")
	f.StringVar(&o.roster, "roster", "auto", "auto: list agent pods and nodes from the cluster; off: know agents from reports only")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for the roster when not running in a cluster")
	f.Float64Var(&o.cfg.ReachExpectSuccessRate, "reach-expect-success-rate", 1, "expected success ratio of every reach path, exported for the alert rules")
	f.DurationVar(&o.cfg.ReachExpectP99, "reach-expect-p99", time.Second, "expected p99 latency of every reach path, exported for the alert rules (0 = none)")
	f.BoolVar(&o.vips.LoadBalancer, "reach-load-balancer", false, "hand the reach LoadBalancer Service's addresses to the agents (loadbalancer path; needs --roster=auto)")
	f.BoolVar(&o.vips.Ingress, "reach-ingress", false, "hand the reach Ingress's addresses to the agents (ingress path; needs --roster=auto)")
	f.StringVar(&o.vips.Gateway, "reach-gateway", "", "hand this Gateway's (<namespace>/<name>) addresses to the agents (gateway path; needs --roster=auto)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "debug logs")
	return cmd
}
