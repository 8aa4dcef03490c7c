// Package config holds netctl's config.json: the fields NetDoctor users
// already have (same names, same JSON types), defaults, strict loading and
// one validation pass that reports every problem at once.
package config

// Config is config.json. Field names and JSON types follow the earlier
// NetDoctor netctl so existing files load unchanged.
type Config struct {
	Namespace                string   `json:"namespace"`
	Version                  string   `json:"version"`
	Mode                     string   `json:"mode"`        // pod | node | node-to-pod | pod-to-node
	Protocol                 string   `json:"protocol"`    // tcp | udp | icmp (alias ping) | dns
	PodWaitTime              int      `json:"podWaitTime"` // seconds, total, for all agents together
	Port                     Port     `json:"port"`        // accepts "8889" or 8889
	MaxNum                   int      `json:"maxNum"`      // concurrent probes per source agent
	CmdTimeout               int      `json:"cmdTimeout"`  // seconds per probe
	SrcKubeConfig            string   `json:"srcKubeConfig"`
	SrcImageRepository       string   `json:"srcImageRepository"`
	DstKubeConfig            string   `json:"dstKubeConfig"`
	DstImageRepository       string   `json:"dstImageRepository"`
	AutoClean                bool     `json:"autoClean"`
	TargetDNSServer          string   `json:"targetDNSServer"`
	TargetHostToLookup       string   `json:"targetHostToLookup"`
	CustomizedTargetIPList   []string `json:"customizedTargetIPList"`
	CustomizedTargetPortList []Port   `json:"customizedTargetPortList"`

	// Fields netctl adds (optional in files; defaults keep old files working).

	// IPFamily limits checks to one family: "" or "auto" (every family an
	// address exists for), "ipv4", "ipv6".
	IPFamily string `json:"ipFamily,omitempty"`
	// SrcContext / DstContext pick a kubeconfig context ("" = current).
	SrcContext string `json:"srcContext,omitempty"`
	DstContext string `json:"dstContext,omitempty"`
	// PacketSize is the IP packet size tcp/udp/icmp probes carry (0 = 1500)
	// so that MTU black holes are found.
	PacketSize int `json:"packetSize,omitempty"`
	// NodeSelector (a label selector, e.g. "pool=blue") scopes a check to
	// the matching nodes; "" = every node that can run an agent.
	NodeSelector string `json:"nodeSelector,omitempty"`
	// Agent container resources (Kubernetes quantities). There is no CPU
	// limit unless AgentCPULimit is set: a limit throttles a busy agent and
	// turns its probes into timeouts.
	AgentCPURequest    string `json:"agentCPURequest,omitempty"`
	AgentMemoryRequest string `json:"agentMemoryRequest,omitempty"`
	AgentMemoryLimit   string `json:"agentMemoryLimit,omitempty"`
	AgentCPULimit      string `json:"agentCPULimit,omitempty"`
	// NetworkPolicy: "auto" (default) creates a NetworkPolicy in the
	// agents' namespace that admits exactly the agents' traffic, so a
	// default-deny namespace does not fail the check; "none" creates none.
	NetworkPolicy string `json:"networkPolicy,omitempty"`
	// AgentAccess is how the CLI reaches the agents' API: "auto" (default)
	// uses the API server's pod proxy and falls back to a port-forward to
	// an agent the proxy cannot reach; "proxy" or "port-forward" force one.
	AgentAccess string `json:"agentAccess,omitempty"`
}

// Port is a TCP/UDP port that decodes from a JSON string ("8889") or number.
// It encodes as a string, as the earlier tool wrote it.
type Port string
