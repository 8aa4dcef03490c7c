// Package agentcmd implements `netctl agent`, the in-cluster agent that
// netctl deploys as DaemonSets (see internal/agent).
package agentcmd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/version"
)

// DefaultPort is the earlier tool's floater port.
const DefaultPort = 8889

// Options of `netctl agent`.
type Options struct {
	Port        int
	APIPort     int
	TokenFile   string
	Node        string
	Pod         string
	Namespace   string
	PodIPs      string // comma-separated, as the POD_IPS env carries them
	HostNetwork bool

	token    string
	identity agent.Identity
	genericiooptions.IOStreams
}

// NewCommand returns `netctl agent`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the in-cluster agent (netctl deploys it; not for direct use)",
		Long: "Run the netdoctor agent: it answers tcp probes on GET /identity, echoes udp\n" +
			"probes on the same port number, and runs batches of probes for netctl on\n" +
			"POST /v1/probe (requires the token from --token-file). netctl deploys it as\n" +
			"DaemonSets; identity flags default to the NODE_NAME, POD_NAME, POD_NAMESPACE,\n" +
			"POD_IPS and HOST_NETWORK environment variables set by the downward API.\n" +
			"Logs are JSON lines on stderr. SIGTERM or SIGINT stops it gracefully.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return o.Run(ctx)
		},
	}
	hostNet, _ := strconv.ParseBool(os.Getenv("HOST_NETWORK")) // checked again in Complete
	f := cmd.Flags()
	f.IntVar(&o.Port, "port", DefaultPort, "TCP and UDP port to listen on (0 = any free port)")
	f.IntVar(&o.APIPort, "api-port", 0, "separate TCP port for the control API (POST /v1/probe, /healthz, /readyz); 0 = serve it on --port")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the probe API token; without it POST /v1/probe answers 503")
	f.StringVar(&o.Node, "node", os.Getenv("NODE_NAME"), "node name to report (env NODE_NAME; default: host name)")
	f.StringVar(&o.Pod, "pod", os.Getenv("POD_NAME"), "pod name to report (env POD_NAME)")
	f.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace to report (env POD_NAMESPACE)")
	f.StringVar(&o.PodIPs, "pod-ips", os.Getenv("POD_IPS"), "comma-separated pod IPs to report (env POD_IPS)")
	f.BoolVar(&o.HostNetwork, "host-network", hostNet, "report that the agent runs in the host network (env HOST_NETWORK)")
	return cmd
}

// Complete reads the token and fills defaults.
func (o *Options) Complete() error {
	if v := os.Getenv("HOST_NETWORK"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return clierr.Usagef("environment HOST_NETWORK=%q is not true or false", v)
		}
	}
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return clierr.Usagef("--token-file: %w", err)
		}
		o.token = strings.TrimSpace(string(b))
		if o.token == "" {
			return clierr.Usagef("--token-file: %s is empty; write the token into it or omit the flag", o.TokenFile)
		}
	}
	if o.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return clierr.Usagef("--node not set (nor NODE_NAME) and the host name is unknown: %w", err)
		}
		o.Node = h
	}
	o.identity = agent.Identity{
		Node:        o.Node,
		Pod:         o.Pod,
		Namespace:   o.Namespace,
		HostNetwork: o.HostNetwork,
		Version:     version.Get().Version,
	}
	for _, ip := range strings.Split(o.PodIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			o.identity.IPs = append(o.identity.IPs, ip)
		}
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Port < 0 || o.Port > 65535 {
		return clierr.Usagef("--port: %d is not in 0-65535", o.Port)
	}
	if o.APIPort < 0 || o.APIPort > 65535 || (o.APIPort != 0 && o.APIPort == o.Port) {
		return clierr.Usagef("--api-port: %d must be 0 (share --port) or another port in 1-65535", o.APIPort)
	}
	for _, ip := range o.identity.IPs {
		if net.ParseIP(ip) == nil {
			return clierr.Usagef("--pod-ips: %q is not an IP address", ip)
		}
	}
	// Node and pod names travel as single words in the UDP echo.
	for name, v := range map[string]string{"--node": o.identity.Node, "--pod": o.identity.Pod} {
		if strings.ContainsAny(v, " \t\r\n") {
			return clierr.Usagef("%s: %q contains white space", name, v)
		}
	}
	return nil
}

// Run serves until SIGTERM/SIGINT or ctx ends.
func (o *Options) Run(ctx context.Context) error {
	log := slog.New(slog.NewJSONHandler(o.ErrOut, nil)).With("component", "agent")
	if o.token == "" {
		log.Warn("no --token-file: the probe API is disabled")
	}
	if os.Getenv("GOGC") == "" {
		// The agent's live heap is small (a load run: its requests in
		// flight), so collecting at +50% instead of +100% costs about 1% CPU
		// and keeps its RSS within budget (docs/PERFORMANCE.md, load engine).
		debug.SetGCPercent(50)
	}
	// GOGC alone lets the heap double what is live, whatever the container
	// allows: a burst (maxInFlight requests of a run stuck on a slow path,
	// a large probe batch) could take the agent past its memory limit and
	// get it OOM-killed, as kdoctor's agents were. A soft limit at 70% of
	// the container's (cgroup) limit makes the GC collect harder, and give
	// memory back sooner, only when the agent nears it; the other 30% is for
	// what the Go runtime does not count but the cgroup does: the netctl
	// binary's pages (about 25 MiB) and socket buffers. Below the limit it
	// changes nothing, so it costs no throughput (docs/PERFORMANCE.md, load
	// engine). GOMEMLIMIT in the environment wins; AUTOMEMLIMIT=off or a
	// ratio in (0,1] changes it. No cgroup limit: no Go limit.
	if _, err := memlimit.Set(memlimit.WithRatio(0.7), memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(log)); err != nil {
		log.Warn("no runtime memory limit from the container's", "error", err.Error())
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	s := agent.NewServer(agent.Options{Identity: o.identity, Port: o.Port, APIPort: o.APIPort, Token: o.token, Logger: log})
	if err := s.Run(ctx); err != nil {
		log.Error("agent stopped", "error", err.Error())
		return fmt.Errorf("agent: %w", err)
	}
	log.Info("agent stopped")
	return nil
}
