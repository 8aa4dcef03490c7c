package config

import (
	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Allowed values, in the order messages list them.
var (
	Modes      = []string{"pod", "node", "node-to-pod", "pod-to-node"}
	Protocols  = []string{"tcp", "udp", "icmp", "ping", "dns"}
	IPFamilies = []string{"auto", "ipv4", "ipv6"}
	// NetworkPolicies are the values of networkPolicy.
	NetworkPolicies = []string{"auto", "none"}
	// AgentAccesses are the values of agentAccess (AgentAccessAuto...).
	AgentAccesses = []string{"auto", "proxy", "port-forward"}
)

// Values of agentAccess.
const (
	AgentAccessAuto        = "auto"
	AgentAccessProxy       = "proxy"
	AgentAccessPortForward = "port-forward"
)

// Complete prepares a loaded config (with flag overrides applied) for
// Validate and for use: empty strings get their defaults, "ping" becomes
// "icmp", "~" and $HOME expand in paths, and an empty srcKubeConfig becomes
// what kubectl would use ($KUBECONFIG, ~/.kube/config; "" = in-cluster).
func (c *Config) Complete() {
	c.fillEmpty()
	c.Protocol = string(probe.ParseKind(c.Protocol))
	if c.SrcKubeConfig == "" {
		c.SrcKubeConfig = defaultKubeconfig()
	} else {
		c.SrcKubeConfig = ExpandPath(c.SrcKubeConfig)
	}
	c.DstKubeConfig = ExpandPath(c.DstKubeConfig)
}

// imageTag is the Docker reference grammar for a tag.
var imageTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Validate reports every problem at once (errors.Join), each naming the
// field, the bad value and what is allowed. Call Complete first.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		add("namespace: %q is not a valid namespace name (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63)", c.Namespace)
	}
	if !imageTag.MatchString(c.Version) {
		add("version: %q is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)", c.Version)
	}
	oneOf(&errs, "mode", c.Mode, Modes)
	oneOf(&errs, "protocol", c.Protocol, Protocols)
	atLeast(&errs, "podWaitTime", c.PodWaitTime, 1)
	if _, err := c.Port.Int(); err != nil {
		add("port: %w", err)
	}
	atLeast(&errs, "maxNum", c.MaxNum, 1)
	atLeast(&errs, "cmdTimeout", c.CmdTimeout, 1)
	if err := kubeconfigProblem("srcKubeConfig", "--kubeconfig", c.SrcKubeConfig, true); err != nil {
		errs = append(errs, err)
	}
	if c.SrcImageRepository == "" {
		add("srcImageRepository: empty; set the registry path that holds the netctl image")
	}
	if err := kubeconfigProblem("dstKubeConfig", "--dst-kubeconfig", c.DstKubeConfig, false); err != nil {
		errs = append(errs, err)
	}
	if c.TargetDNSServer != "" {
		if _, err := netip.ParseAddr(c.TargetDNSServer); err != nil {
			add("targetDNSServer: %q is not an IP address; give the DNS server's IP, or leave it empty for the cluster DNS", c.TargetDNSServer)
		}
	}
	if c.Protocol == "dns" && strings.TrimSpace(c.TargetHostToLookup) == "" {
		add("targetHostToLookup: empty; protocol dns needs a name to look up")
	}
	for i, ip := range c.CustomizedTargetIPList {
		if _, err := netip.ParseAddr(ip); err != nil {
			add("customizedTargetIPList[%d]: %q is not an IP address", i, ip)
		}
	}
	for i, p := range c.CustomizedTargetPortList {
		if _, err := p.Int(); err != nil {
			add("customizedTargetPortList[%d]: %w", i, err)
		}
	}
	switch {
	case len(c.CustomizedTargetIPList) > 0 && len(c.CustomizedTargetPortList) == 0 && c.Protocol != "icmp":
		add("customizedTargetPortList: empty, but customizedTargetIPList has %d address(es); list the ports to check on them", len(c.CustomizedTargetIPList))
	case len(c.CustomizedTargetPortList) > 0 && len(c.CustomizedTargetIPList) == 0:
		add("customizedTargetIPList: empty, but customizedTargetPortList has %d port(s); list the addresses to check them on", len(c.CustomizedTargetPortList))
	}
	oneOf(&errs, "ipFamily", c.IPFamily, IPFamilies)
	oneOf(&errs, "networkPolicy", c.NetworkPolicy, NetworkPolicies)
	oneOf(&errs, "agentAccess", c.AgentAccess, AgentAccesses)
	if c.PacketSize < 64 || c.PacketSize > 65535 {
		add("packetSize: %d is out of range; use 64 to 65535 (0 means %d)", c.PacketSize, DefaultPacketSize)
	}
	for _, q := range []struct{ name, v string }{
		{"agentCPURequest", c.AgentCPURequest}, {"agentMemoryRequest", c.AgentMemoryRequest},
		{"agentMemoryLimit", c.AgentMemoryLimit}, {"agentCPULimit", c.AgentCPULimit},
	} {
		if _, err := resource.ParseQuantity(q.v); q.v != "" && err != nil {
			add("%s: %q is not a Kubernetes quantity; use e.g. \"50m\" (CPU) or \"64Mi\" (memory)", q.name, q.v)
		}
	}
	if _, err := labels.Parse(c.NodeSelector); err != nil {
		add("nodeSelector: %q is not a label selector (%v); use e.g. \"pool=blue\" or \"zone in (a,b)\"", c.NodeSelector, err)
	}
	return errors.Join(errs...)
}

func oneOf(errs *[]error, field, v string, allowed []string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	*errs = append(*errs, fmt.Errorf("%s: %q is not one of %s", field, v, strings.Join(allowed, ", ")))
}

func atLeast(errs *[]error, field string, v, min int) {
	if v < min {
		*errs = append(*errs, fmt.Errorf("%s: %d must be at least %d", field, v, min))
	}
}

// kubeconfigProblem checks that a kubeconfig value names an existing file.
// required: an empty value must resolve to a $KUBECONFIG path list with at
// least one existing file (kubectl skips missing ones) or to the in-cluster
// config.
func kubeconfigProblem(field, flag, v string, required bool) error {
	if v == "" {
		if !required {
			return nil
		}
		if env := os.Getenv("KUBECONFIG"); env != "" {
			for _, p := range filepath.SplitList(env) {
				if _, err := os.Stat(p); err == nil {
					return nil
				}
			}
			return fmt.Errorf("%s: none of the files in $KUBECONFIG (%s) exists; set %s or %s to a kubeconfig file", field, env, field, flag)
		}
		if InCluster() {
			return nil
		}
		return fmt.Errorf("%s: no kubeconfig found ($KUBECONFIG is unset, ~/.kube/config does not exist, not running in a cluster); set %s or %s to a kubeconfig file", field, field, flag)
	}
	st, err := os.Stat(v)
	switch {
	case err != nil:
		return fmt.Errorf("%s: file %q does not exist; set %s or %s to a kubeconfig file", field, v, field, flag)
	case st.IsDir():
		return fmt.Errorf("%s: %q is a directory, not a kubeconfig file; set %s or %s to a kubeconfig file", field, v, field, flag)
	}
	return nil
}

// ValidateClusterAccess checks only what reaching the clusters needs
// (srcKubeConfig, dstKubeConfig, namespace), for commands such as
// `netctl clean` that must work whatever the check settings say.
func (c Config) ValidateClusterAccess() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace: %q is not a valid namespace name (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63)", c.Namespace))
	}
	errs = append(errs,
		kubeconfigProblem("srcKubeConfig", "--kubeconfig", c.SrcKubeConfig, true),
		kubeconfigProblem("dstKubeConfig", "--dst-kubeconfig", c.DstKubeConfig, false))
	return errors.Join(errs...)
}
