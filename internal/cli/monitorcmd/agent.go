package monitorcmd

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
	"github.com/netdoctor/netdoctor/internal/monitor/reachmon"
	"github.com/netdoctor/netdoctor/internal/monitor/reporter"
	"github.com/netdoctor/netdoctor/internal/version"
)

type agentOptions struct {
	cfg       reporter.Config
	network   string
	port      int
	tokenFile string
	namespace string
	podIPs    string
	resolv    string
	verbose   bool
	kinds     []string
	reach     reachmon.Config
	schedule  string
}

func newAgentCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a monitor agent (deployed by `monitor install`; not for direct use)",
		Long: "Run a monitor agent: it answers peers' probes on --port (GET /identity, UDP\n" +
			"echo), and every --interval probes the server, its peers, the cluster DNS and\n" +
			"the API server, then POSTs the report to --server with the token.\n" +
			"Identity flags default to NODE_NAME, POD_NAME, POD_NAMESPACE and POD_IPS.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := readToken(o.tokenFile)
			if err != nil {
				return err
			}
			o.cfg.Token = tok
			o.cfg.Network = api.Network(o.network)
			o.cfg.IPs = splitList(o.podIPs)
			o.cfg.Kinds = kinds(o.kinds)
			o.cfg.Version = version.Version
			if o.cfg.ProbeTimeout == 0 {
				o.cfg.ProbeTimeout = defaultProbeTimeout(o.cfg.Interval)
			}
			if o.cfg.DNSServer == "" {
				o.cfg.DNSServer = firstNameserver(o.resolv)
			}
			o.cfg.Logger = newLogger(streams, o.verbose).With("agent", api.AgentName(o.cfg.Node, o.cfg.Network))
			rep, err := reporter.New(o.cfg)
			if err != nil {
				return usage(err, "agent")
			}
			reach, err := o.reachConfig()
			if err != nil {
				return usage(err, "agent")
			}
			id := agent.Identity{Node: o.cfg.Node, Pod: o.cfg.Pod, Namespace: o.namespace, IPs: o.cfg.IPs,
				HostNetwork: o.cfg.Network == api.NetworkHost, Version: version.Version}
			// The check agent's server answers peers' tcp/udp probes; no token:
			// its probe API stays off in the monitor.
			srv := agent.NewServer(agent.Options{Identity: id, Port: o.port, Logger: o.cfg.Logger})
			if err := srv.Listen(); err != nil {
				return err
			}
			g, ctx := errgroup.WithContext(contextOf(cmd))
			g.Go(func() error { return srv.Serve(ctx) })
			g.Go(func() error { rep.Run(ctx); return nil })
			if reach != nil {
				g.Go(func() error { reachmon.Run(ctx, *reach, rep); return nil })
			}
			return g.Wait()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cfg.ServerURL, "server", "", "URL of the monitor server, e.g. http://netdoctor-monitor.NAMESPACE.svc:8081")
	f.StringVar(&o.network, "network", string(api.NetworkPod), "which network this agent runs in: pod or host")
	f.IntVar(&o.port, "port", manifest.DefaultAgentPort, "port to answer peers' probes on (TCP and UDP)")
	f.DurationVar(&o.cfg.Interval, "interval", manifest.DefaultInterval, "time between rounds (e.g. 2s for tests)")
	f.Float64Var(&o.cfg.Jitter, "jitter", 0.2, "random spread of each interval, as a fraction of it")
	f.DurationVar(&o.cfg.ProbeTimeout, "probe-timeout", 0, "timeout of each probe, at most --interval (default 5s, or half of --interval when that is shorter)")
	f.IntVar(&o.cfg.PeersPerNode, "peers-per-node", manifest.DefaultPeers, "each node is probed by this many others (all others on small clusters)")
	f.StringSliceVar(&o.kinds, "kinds", nil, "what to probe: tcp, udp, icmp (peers) and dns (the cluster DNS lookup); default tcp,dns")
	f.IntVar(&o.cfg.Concurrency, "concurrency", 16, "probes in flight")
	f.StringVar(&o.tokenFile, "token-file", manifest.TokenFile, "file holding the report token")
	f.StringVar(&o.cfg.Node, "node", os.Getenv("NODE_NAME"), "node name (env NODE_NAME)")
	f.StringVar(&o.cfg.Pod, "pod", os.Getenv("POD_NAME"), "pod name (env POD_NAME)")
	f.StringVar(&o.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace (env POD_NAMESPACE)")
	f.StringVar(&o.podIPs, "pod-ips", os.Getenv("POD_IPS"), "comma-separated IPs of this agent (env POD_IPS)")
	f.StringVar(&o.cfg.DNSServer, "dns-server", "", "cluster DNS server IP (default: first nameserver of --resolv-conf)")
	f.IntVar(&o.cfg.DNSPort, "dns-port", 53, "cluster DNS server port")
	f.StringVar(&o.resolv, "resolv-conf", "/etc/resolv.conf", "resolv.conf to take the DNS server from")
	f.StringVar(&o.cfg.DNSName, "dns-name", "kubernetes.default.svc.cluster.local.", "name to look up at the cluster DNS")
	f.StringVar(&o.cfg.APIServer, "apiserver", apiServerFromEnv(), "host:port of the kubernetes service to connect to (default from KUBERNETES_SERVICE_HOST/PORT; empty skips)")
	f.StringVar(&o.schedule, "reach-schedule", "", "run reach rounds on this schedule (pod-network agents only): \"M N\" or a 5-field cron line; empty = off")
	f.IntVar(&o.reach.QPS, "reach-qps", reachmon.DefaultQPS, "total requests per second of a reach round, split across its targets")
	f.DurationVar(&o.reach.Duration, "reach-duration", reachmon.DefaultDuration, "how long a reach round's load lasts")
	f.DurationVar(&o.reach.Timeout, "reach-timeout", reachmon.DefaultTimeout, "per-request timeout of the reach rounds")
	f.StringVar(&o.reach.Service, "reach-service", "", "DNS name of the reach Service (default "+manifest.ReachService+".<namespace>.svc)")
	f.IntVar(&o.reach.ServicePort, "reach-service-port", 0, "port of the reach Service (default --port)")
	f.IntVar(&o.reach.NodePort, "reach-node-port", manifest.DefaultReachNodePort, "NodePort of the reach Service (0: no nodeport path)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every round")
	return cmd
}

// reachConfig is the reach rounds' configuration, nil when --reach-schedule is empty.
func (o *agentOptions) reachConfig() (*reachmon.Config, error) {
	if o.schedule == "" {
		return nil, nil
	}
	if o.cfg.Network != api.NetworkPod {
		return nil, fmt.Errorf("--reach-schedule: reach rounds run in the pod-network agents only, this one is --network=%s", o.cfg.Network)
	}
	s, err := reachmon.ParseSchedule("--reach-schedule", o.schedule)
	if err != nil {
		return nil, err
	}
	c := o.reach
	c.Schedule, c.Node, c.Logger = s, o.cfg.Node, o.cfg.Logger
	if c.Service == "" && o.namespace != "" {
		c.Service = manifest.ReachService + "." + o.namespace + ".svc"
	}
	if c.ServicePort == 0 {
		c.ServicePort = o.port
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// defaultProbeTimeout leaves half of a short interval for getting the peer
// list and sending the report: the round's context ends after one interval,
// and a report sent after it would be lost.
func defaultProbeTimeout(interval time.Duration) time.Duration {
	if half := interval / 2; half < 5*time.Second {
		return half
	}
	return 5 * time.Second
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func apiServerFromEnv() string {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// firstNameserver returns the first nameserver IP of a resolv.conf ("" if none).
func firstNameserver(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" && net.ParseIP(fields[1]) != nil {
			return fields[1]
		}
	}
	return ""
}
