// Package configflags loads config.json and lets flags override it, for
// every command that reaches a cluster: Flags for check, resume and clean,
// AgentFlags for diagnose and reach, ClusterFlags (in both, and in the
// monitor's commands) for --kubeconfig, --context and -n. A flag that is set
// wins over the file; the file is never rewritten.
package configflags

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// DefaultConfigPath is where init writes and check/resume/clean read.
const DefaultConfigPath = "config.json"

// ClusterFlags are the kubectl-style flags of every command that reaches a
// cluster (check, resume, clean, diagnose, monitor): --kubeconfig,
// --context and -n/--namespace, read the same way everywhere (kubectl's
// loading rules: $KUBECONFIG, ~/.kube/config, in-cluster).
type ClusterFlags struct {
	Kubeconfig, Context, Namespace string
}

// AddFlags adds --kubeconfig and --context; what names the cluster in the
// help ("" for the only one).
func (c *ClusterFlags) AddFlags(fs *pflag.FlagSet, what string) {
	of := ""
	if what != "" {
		of = " of the " + what
	}
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file"+of+" (default like kubectl: $KUBECONFIG, ~/.kube/config, in-cluster)")
	fs.StringVar(&c.Context, "context", "", "kubeconfig context"+of+" (default: the current context)")
}

// AddNamespaceFlag adds -n/--namespace.
func (c *ClusterFlags) AddNamespaceFlag(fs *pflag.FlagSet, def, help string) {
	fs.StringVarP(&c.Namespace, "namespace", "n", def, help)
}

// RESTConfig is the client config the flags select.
func (c *ClusterFlags) RESTConfig() (*rest.Config, error) {
	return kube.RESTConfig(config.ExpandPath(c.Kubeconfig), c.Context)
}

// Flags are the config overrides. Which ones a command has depends on
// AddClusterFlags / AddCheckFlags.
type Flags struct {
	ConfigPath string

	ClusterFlags
	DstKubeconfig, DstContext string

	Mode, Protocol, IPFamily, Port, ImageRepository, VersionTag string
	DNSServer, DNSName, NodeSelector                            string
	AgentCPURequest, AgentMemoryRequest, AgentMemoryLimit       string
	AgentCPULimit, NetworkPolicy, AgentAccess                   string
	MaxNum, CmdTimeout, PodWaitTime, PacketSize                 int
	AutoClean                                                   bool

	// Read is the config file Load read ("" when none was).
	Read string

	fs *pflag.FlagSet
}

// AddClusterFlags adds --config and the flags that say where the clusters
// and the agents' namespace are.
func (f *Flags) AddClusterFlags(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.ConfigPath, "config", DefaultConfigPath, "config file (created by `netctl init`); when the default file is missing, defaults are used; \"\" reads no file")
	f.ClusterFlags.AddFlags(fs, "source cluster; overrides srcKubeConfig/srcContext")
	fs.StringVar(&f.DstKubeconfig, "dst-kubeconfig", "", "kubeconfig of a second cluster to check against (overrides dstKubeConfig)")
	fs.StringVar(&f.DstContext, "dst-context", "", "kubeconfig context of the second cluster")
	f.AddNamespaceFlag(fs, config.DefaultNamespace, "namespace of the agents (overrides namespace)")
}

// AddCheckFlags adds the flags that shape a check.
func (f *Flags) AddCheckFlags(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.Mode, "mode", config.DefaultMode, "what to check: pod, node, node-to-pod or pod-to-node (overrides mode)")
	fs.StringVar(&f.Protocol, "protocol", config.DefaultProtocol, "tcp, udp, icmp (or ping) or dns (overrides protocol)")
	fs.StringVar(&f.IPFamily, "ip-family", config.DefaultIPFamily, "auto (every family present), ipv4 or ipv6 (overrides ipFamily)")
	fs.StringVar(&f.Port, "port", string(config.DefaultPort), "port the agents listen on (overrides port)")
	fs.IntVar(&f.MaxNum, "max-num", config.DefaultMaxNum, "probes in flight per source agent (overrides maxNum)")
	fs.IntVar(&f.CmdTimeout, "cmd-timeout", config.DefaultCmdTimeout, "seconds allowed per probe (overrides cmdTimeout)")
	fs.IntVar(&f.PodWaitTime, "pod-wait-time", config.DefaultPodWaitTime, "seconds to wait for all agents to be ready (overrides podWaitTime)")
	fs.StringVar(&f.AgentCPURequest, "agent-cpu-request", config.DefaultAgentCPURequest, "CPU request of each agent (overrides agentCPURequest)")
	fs.StringVar(&f.AgentMemoryRequest, "agent-memory-request", config.DefaultAgentMemoryRequest, "memory request of each agent (overrides agentMemoryRequest)")
	fs.StringVar(&f.AgentMemoryLimit, "agent-memory-limit", config.DefaultAgentMemoryLimit, "memory limit of each agent (overrides agentMemoryLimit)")
	fs.StringVar(&f.AgentCPULimit, "agent-cpu-limit", "", "CPU limit of each agent; none by default, since throttling turns probes into timeouts (overrides agentCPULimit)")
	fs.StringVar(&f.NodeSelector, "node-selector", "", "label selector: check only the nodes it matches, e.g. pool=blue (overrides nodeSelector)")
	fs.StringVar(&f.NetworkPolicy, "network-policy", config.DefaultNetworkPolicy, "auto: create a NetworkPolicy admitting exactly the agents' traffic (removed by clean); none: create none (overrides networkPolicy)")
	fs.StringVar(&f.AgentAccess, "agent-access", config.DefaultAgentAccess, "how to reach the agents: auto (pod proxy, port-forward to agents the proxy cannot reach), proxy, or port-forward (overrides agentAccess)")
	fs.IntVar(&f.PacketSize, "packet-size", config.DefaultPacketSize, "IP packet size of tcp/udp/icmp probes, to find MTU problems (overrides packetSize)")
	fs.StringVar(&f.ImageRepository, "image-repository", config.DefaultImageRepository, "repository of the netctl image; the agent image is <repository>/netctl:<version> (overrides srcImageRepository)")
	fs.StringVar(&f.VersionTag, "version-tag", "", "image tag of the agents (overrides version; default this netctl's version)")
	fs.BoolVar(&f.AutoClean, "auto-clean", false, "delete what netctl created after the check (overrides autoClean)")
	fs.StringVar(&f.DNSServer, "dns-server", "", "DNS server IP for protocol dns (overrides targetDNSServer; default the cluster DNS)")
	fs.StringVar(&f.DNSName, "dns-name", config.DefaultTargetHostToLookup, "name to look up for protocol dns (overrides targetHostToLookup)")
}

func (f *Flags) changed(name string) bool {
	fl := f.fs.Lookup(name)
	return fl != nil && fl.Changed
}

// Load reads the config file, applies the flags that were set, and
// completes it (defaults for empty fields, paths expanded). It does not
// validate: callers pick Validate or ValidateClusterAccess. Notes (such as
// "no config file, using defaults") go to log.
func (f *Flags) Load(log io.Writer) (config.Config, error) {
	cfg := config.Default()
	switch {
	case f.ConfigPath == "":
	case !f.changed("config") && !exists(f.ConfigPath):
		fmt.Fprintf(log, "no %s here: using the defaults (`netctl init` writes a file to edit)\n", f.ConfigPath)
	default:
		loaded, err := config.Load(f.ConfigPath)
		if err != nil {
			return cfg, clierr.UsageError(clierr.Problems("config file "+f.ConfigPath, err))
		}
		cfg = loaded
		f.Read = f.ConfigPath
	}
	f.apply(&cfg)
	cfg.Complete()
	return cfg, nil
}

func (f *Flags) apply(c *config.Config) {
	override(f, "kubeconfig", &c.SrcKubeConfig, f.Kubeconfig)
	override(f, "context", &c.SrcContext, f.Context)
	override(f, "dst-kubeconfig", &c.DstKubeConfig, f.DstKubeconfig)
	override(f, "dst-context", &c.DstContext, f.DstContext)
	override(f, "namespace", &c.Namespace, f.Namespace)
	override(f, "mode", &c.Mode, f.Mode)
	override(f, "protocol", &c.Protocol, f.Protocol)
	override(f, "ip-family", &c.IPFamily, f.IPFamily)
	override(f, "port", &c.Port, config.Port(f.Port))
	override(f, "image-repository", &c.SrcImageRepository, f.ImageRepository)
	override(f, "version-tag", &c.Version, f.VersionTag)
	override(f, "dns-server", &c.TargetDNSServer, f.DNSServer)
	override(f, "dns-name", &c.TargetHostToLookup, f.DNSName)
	override(f, "max-num", &c.MaxNum, f.MaxNum)
	override(f, "cmd-timeout", &c.CmdTimeout, f.CmdTimeout)
	override(f, "pod-wait-time", &c.PodWaitTime, f.PodWaitTime)
	override(f, "packet-size", &c.PacketSize, f.PacketSize)
	override(f, "node-selector", &c.NodeSelector, f.NodeSelector)
	override(f, "agent-cpu-request", &c.AgentCPURequest, f.AgentCPURequest)
	override(f, "agent-memory-request", &c.AgentMemoryRequest, f.AgentMemoryRequest)
	override(f, "agent-memory-limit", &c.AgentMemoryLimit, f.AgentMemoryLimit)
	override(f, "agent-cpu-limit", &c.AgentCPULimit, f.AgentCPULimit)
	override(f, "auto-clean", &c.AutoClean, f.AutoClean)
	override(f, "network-policy", &c.NetworkPolicy, f.NetworkPolicy)
	override(f, "agent-access", &c.AgentAccess, f.AgentAccess)
}

// override sets *dst to v when the flag name was given: a set flag wins over
// the file, an unset one leaves the file's value.
func override[T any](f *Flags, name string, dst *T, v T) {
	if f.changed(name) {
		*dst = v
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// AgentFlags are the flags of the commands that deploy agents for one run
// without a check config (diagnose, reach): the cluster flags, an optional
// --config to take the cluster, namespace, port, image and version from,
// and the agents' image, readiness wait and clean-up. Unlike check's
// Flags, no config file is read unless --config names one. With --config a
// flag wins only when set; without it every flag applies, default included.
type AgentFlags struct {
	ClusterFlags
	ConfigFile, ImageRepository string
	PodWaitTime                 int
	AutoClean                   bool

	fs *pflag.FlagSet
}

// Agents is what AgentFlags resolve to: where and how to run the agents.
type Agents struct {
	Kubeconfig, Context, Namespace, Image string
	Port                                  int
	PodWait                               time.Duration
	AutoClean                             bool
}

// AddFlags adds the cluster flags, -n, --config, --image-repository,
// --pod-wait-time and --auto-clean; what names what the namespace holds
// and --auto-clean deletes ("agents", "agents and Services").
func (a *AgentFlags) AddFlags(fs *pflag.FlagSet, what string) {
	a.fs = fs
	a.ClusterFlags.AddFlags(fs, "")
	a.AddNamespaceFlag(fs, config.DefaultNamespace, "namespace of the "+what)
	fs.StringVar(&a.ConfigFile, "config", "", "config.json to take namespace, port, image and version from (optional)")
	fs.StringVar(&a.ImageRepository, "image-repository", config.DefaultImageRepository, "repository of the netctl image; the agent image is <repository>/netctl:<version> (overrides srcImageRepository)")
	fs.IntVar(&a.PodWaitTime, "pod-wait-time", config.DefaultPodWaitTime, "seconds to wait for the agents to be ready")
	fs.BoolVar(&a.AutoClean, "auto-clean", false, "delete the "+what+" when done")
}

// Load merges --config (when given) with the flags and rejects bad input
// (a usage error) before anything touches a cluster.
func (a *AgentFlags) Load() (Agents, error) {
	cfg := config.Default()
	if a.ConfigFile != "" {
		var err error
		if cfg, err = config.Load(config.ExpandPath(a.ConfigFile)); err != nil {
			return Agents{}, clierr.UsageError(fmt.Errorf("--config: %w", err))
		}
	}
	changed := func(name string) bool { return a.fs.Changed(name) }
	fromFlag := func(name string) bool { return changed(name) || a.ConfigFile == "" }
	if fromFlag("namespace") {
		cfg.Namespace = a.Namespace
	}
	if fromFlag("pod-wait-time") {
		cfg.PodWaitTime = a.PodWaitTime
	}
	if fromFlag("auto-clean") {
		cfg.AutoClean = a.AutoClean
	}
	if changed("image-repository") {
		if a.ImageRepository == "" {
			return Agents{}, clierr.Usagef("--image-repository must not be empty")
		}
		cfg.SrcImageRepository = a.ImageRepository
	}
	if changed("kubeconfig") {
		cfg.SrcKubeConfig = a.Kubeconfig
	}
	if changed("context") {
		cfg.SrcContext = a.Context
	}
	if cfg.Namespace == "" {
		return Agents{}, clierr.Usagef("--namespace must not be empty")
	}
	if cfg.PodWaitTime <= 0 {
		return Agents{}, clierr.Usagef("--pod-wait-time must be a positive number of seconds, got %d", cfg.PodWaitTime)
	}
	port, err := cfg.Port.Int()
	if err != nil {
		return Agents{}, clierr.UsageError(fmt.Errorf("port in %s: %w", a.ConfigFile, err))
	}
	kubeconfig := cfg.SrcKubeConfig
	if kubeconfig != "" {
		kubeconfig = config.ExpandPath(kubeconfig)
	}
	return Agents{Kubeconfig: kubeconfig, Context: cfg.SrcContext, Namespace: cfg.Namespace,
		Image: deploy.Image(cfg.SrcImageRepository, cfg.Version), Port: port,
		PodWait: time.Duration(cfg.PodWaitTime) * time.Second, AutoClean: cfg.AutoClean}, nil
}
