// Package api is the wire contract between monitor agents and the monitor
// server: paths, the token header, the report an agent POSTs every round,
// the peer list it GETs, and the matrix the server serves. The JSON names of
// the report follow k8s-netchecker where a field already existed there, so
// users' scripts reading GET /api/v1/agents/ keep working.
package api

import (
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/load"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Server paths.
const (
	PathPing         = "/api/v1/ping"
	PathAgents       = "/api/v1/agents/" // + {name}: POST a report, GET one agent
	PathConnectivity = "/api/v1/connectivity_check"
	PathMatrix       = "/api/v1/matrix"
	PathPeers        = "/api/v1/peers"
	PathReach        = "/api/v1/reach/"        // + {name}: POST a reach round's ReachReport; GET (no name): ReachStatus
	PathReachTargets = "/api/v1/reach-targets" // GET (token): ReachTargets, the addresses only the server can read
	PathFindings     = "/api/v1/findings"
	PathMetrics      = "/metrics"
)

// TokenHeader carries the shared agent token on reports and peer-list
// requests. Same header as the check agents (the API server's pod/service
// proxy strips Authorization).
const TokenHeader = agent.TokenHeader

// Network says which network namespace an agent runs in.
type Network string

const (
	NetworkPod  Network = "pod"
	NetworkHost Network = "host"
)

// Deploy is the agent network as netctl's agents name it.
func (n Network) Deploy() deploy.Network {
	if n == NetworkHost {
		return deploy.HostNetwork
	}
	return deploy.PodNetwork
}

// NetworkOf is the wire name of an agent network.
func NetworkOf(n deploy.Network) Network {
	if n == deploy.HostNetwork {
		return NetworkHost
	}
	return NetworkPod
}

// AgentName is the agent's name in URLs and in the `agent` metric label:
// `<node>-private_network` or `<node>-host_network`, as k8s-netchecker named them.
func AgentName(node string, n Network) string {
	if n == NetworkHost {
		return node + "-host_network"
	}
	return node + "-private_network"
}

// ParseAgentName splits a name made by AgentName. ok is false for any other shape.
func ParseAgentName(name string) (node string, n Network, ok bool) {
	if s, found := strings.CutSuffix(name, "-host_network"); found && s != "" {
		return s, NetworkHost, true
	}
	if s, found := strings.CutSuffix(name, "-private_network"); found && s != "" {
		return s, NetworkPod, true
	}
	return "", "", false
}

// Report is what an agent POSTs to PathAgents+name after every round.
type Report struct {
	ReportInterval int       `json:"report_interval"` // seconds between rounds
	NodeName       string    `json:"nodename"`
	PodName        string    `json:"podname"`
	Network        Network   `json:"network"`
	HostDate       time.Time `json:"hostdate"` // agent's clock when the round ended
	Uptime         string    `json:"uptime"`   // since the agent started, Go duration text
	IPs            []string  `json:"ips"`
	Version        string    `json:"version,omitempty"`
	// Round counts the agent's rounds since it started (1 = first).
	Round         int64   `json:"round"`
	RoundDuration float64 `json:"round_duration_ms"`

	// HTTPProbe is the agent -> server GET /api/v1/ping with phase timings.
	HTTPProbe *HTTPProbe `json:"http_probe,omitempty"`
	// DNS is the lookup of the cluster name at the cluster DNS server.
	DNS *Outcome `json:"dns,omitempty"`
	// APIServer is a TCP connect to kubernetes.default (its service address).
	APIServer *Outcome `json:"apiserver,omitempty"`
	// Peers holds one result per probed peer address.
	Peers []PeerResult `json:"peers,omitempty"`
	// SkippedPeers are peers the agent did not probe, each with a reason
	// (not ready, terminating, cordoned, no IP). They are not failures.
	SkippedPeers []SkippedPeer `json:"skipped_peers,omitempty"`
}

// HTTPProbe is one timed HTTP GET. Milliseconds, as k8s-netchecker reported them.
type HTTPProbe struct {
	URL              string  `json:"url"`
	ConnectionResult bool    `json:"connection_result"`
	Code             int     `json:"code"`
	Error            string  `json:"error,omitempty"`
	DNSLookupMs      float64 `json:"dns_lookup_ms"`
	TCPConnectionMs  float64 `json:"tcp_connection_ms"`
	ConnectMs        float64 `json:"connect_ms"` // DNS lookup + TCP connection
	ServerProcessMs  float64 `json:"server_processing_ms"`
	ContentTransMs   float64 `json:"content_transfer_ms"`
	TotalMs          float64 `json:"total_ms"`
}

// Outcome is a single probe's result in a report.
type Outcome struct {
	Target    string             `json:"target"` // address (and name for DNS)
	OK        bool               `json:"ok"`
	Class     probe.FailureClass `json:"class,omitempty"`
	Reason    string             `json:"reason,omitempty"`
	LatencyMs float64            `json:"latency_ms"`
}

// PeerResult is one probe from the reporting agent to one peer address.
type PeerResult struct {
	Target        string             `json:"target"` // peer agent name
	TargetNode    string             `json:"target_node"`
	TargetNetwork Network            `json:"target_network"`
	Address       string             `json:"address"`
	Family        probe.Family       `json:"family"`
	Kind          probe.Kind         `json:"kind"`
	OK            bool               `json:"ok"`
	Class         probe.FailureClass `json:"class,omitempty"`
	Reason        string             `json:"reason,omitempty"`
	LatencyMs     float64            `json:"latency_ms"`
}

// SkippedPeer is a peer left out of the round with the reason.
type SkippedPeer struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// AgentEntry is one value of GET /api/v1/agents/: the latest report plus
// what the server knows about it.
type AgentEntry struct {
	Report
	LastUpdated time.Time `json:"last_updated"` // server clock at receipt
}

// PeerList is GET /api/v1/peers: every agent the server knows of.
type PeerList struct {
	// Interval is the server's reporting interval in seconds.
	Interval int    `json:"interval"`
	Peers    []Peer `json:"peers"`
}

// Peer is one agent in the peer list. A non-empty Skip means "do not
// probe, report it as skipped with this reason".
type Peer struct {
	Name    string   `json:"name"`
	Node    string   `json:"node"`
	Network Network  `json:"network"`
	Pod     string   `json:"pod,omitempty"`
	IPs     []string `json:"ips"`
	Port    int      `json:"port"`
	Skip    string   `json:"skip,omitempty"`
}

// ConnectivityProblem is the 400 body of GET /api/v1/connectivity_check.
// The key names are k8s-netchecker's.
type ConnectivityProblem struct {
	Message  string   `json:"Message"`
	Absent   []string `json:"Absent"`
	Outdated []string `json:"Outdated"`
}

// ConnectivityOK is the 200 body of GET /api/v1/connectivity_check.
type ConnectivityOK struct {
	Message string `json:"Message"`
}

// Matrix is GET /api/v1/matrix: the latest result of every source -> target
// probe the server knows of.
type Matrix struct {
	Generated time.Time    `json:"generated"`
	Interval  int          `json:"interval"`
	Total     int          `json:"total"`
	Failing   int          `json:"failing"`
	Pairs     []MatrixPair `json:"pairs"`
	// Stale counts pairs whose source agent stopped reporting: their
	// latest result is older than two of its intervals (unknown now).
	Stale int `json:"stale"`
	// Nodes are every node the server knows (from the roster and from
	// reports), with their zone and their agents' status, sorted by name.
	Nodes []MatrixNode `json:"nodes"`
}

// MatrixNode is one node of the matrix: its zone and agents.
type MatrixNode struct {
	Name string `json:"name"`
	// Zone is the node's topology.kubernetes.io/zone label ("" = none).
	Zone   string            `json:"zone,omitempty"`
	Agents []MatrixNodeAgent `json:"agents"`
}

// MatrixNodeAgent is one agent of a node and its reporting status.
type MatrixNodeAgent struct {
	Name    string  `json:"name"`
	Network Network `json:"network"`
	// Status is reporting, outdated (no report for two intervals: its
	// pairs are stale) or absent (expected, never reported).
	Status string `json:"status"`
	// LastReport is when the server received its latest report.
	LastReport *time.Time `json:"last_report,omitempty"`
	// Skip is why peers do not probe it (roster), if they do not.
	Skip string `json:"skip,omitempty"`
}

// Agent statuses in MatrixNodeAgent.
const (
	AgentReporting = "reporting"
	AgentOutdated  = "outdated"
	AgentAbsent    = "absent"
)

// HistoryRounds is how many rounds of each pair the server keeps.
const HistoryRounds = 20

// Round is one past result of a pair.
type Round struct {
	At        time.Time          `json:"at"`
	OK        bool               `json:"ok"`
	Class     probe.FailureClass `json:"class,omitempty"`
	LatencyMs float64            `json:"latency_ms"`
}

// MatrixPair is one source agent -> target address probe.
type MatrixPair struct {
	Source              string             `json:"source"`
	SourceNode          string             `json:"source_node"`
	SourceNetwork       Network            `json:"source_network"`
	Target              string             `json:"target"`
	TargetNode          string             `json:"target_node"`
	TargetNetwork       Network            `json:"target_network"`
	Address             string             `json:"address"`
	Family              probe.Family       `json:"family"`
	Kind                probe.Kind         `json:"kind"`
	OK                  bool               `json:"ok"`
	Class               probe.FailureClass `json:"class,omitempty"`
	Reason              string             `json:"reason,omitempty"`
	LatencyMs           float64            `json:"latency_ms"`
	LastChecked         time.Time          `json:"last_checked"`
	FailingSince        *time.Time         `json:"failing_since,omitempty"`
	ConsecutiveFailures int                `json:"consecutive_failures"`
	// Stale: the source agent has not reported for two of its intervals,
	// so this result is old; the pair's state now is unknown.
	Stale bool `json:"stale,omitempty"`
	// Recent is the last rounds, oldest first: '+' succeeded, '-' failed.
	Recent string `json:"recent,omitempty"`
	// LatencyP50Ms and LatencyP99Ms are over the successful rounds kept.
	LatencyP50Ms float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99Ms float64 `json:"latency_p99_ms,omitempty"`
	// History is the last HistoryRounds rounds, oldest first: only with
	// ?history=true (and in the state file).
	History []Round `json:"history,omitempty"`
}

// Row is the pair as a check row: the matrix is a view over the same
// result model as netctl check, so the same analysis reads both.
func (p MatrixPair) Row() report.Row {
	r := report.Row{Pair: report.Pair{
		Mode: plan.ModeFor(p.SourceNetwork.Deploy(), p.TargetNetwork.Deploy()), Protocol: p.Kind, Family: p.Family,
		SrcNode: p.SourceNode, DstNode: p.TargetNode, TargetIP: p.Address,
	}, Result: report.Succeeded}
	if !p.OK {
		r.Result, r.Class, r.Log = report.Failed, p.Class, p.Reason
	}
	return r
}

// Findings is GET /api/v1/findings: the likely culprits read from the
// matrix's current (not stale) results, plus agents that stopped reporting.
type Findings struct {
	Generated time.Time        `json:"generated"`
	Findings  []report.Finding `json:"findings"`
}

// Kubernetes names shared by the manifest builder, the server's roster and
// the CLI.
const (
	LabelName      = deploy.NameLabel
	LabelManagedBy = deploy.ManagedByLabel
	LabelPartOf    = deploy.PartOfLabel
	LabelNetwork   = deploy.NetworkLabel // pod | host

	ManagedBy = deploy.ManagedByValue
	PartOf    = deploy.MonitorPartOf

	AgentAppName  = "netdoctor-monitor-agent"
	ServerAppName = "netdoctor-monitor-server"
)

// ReachReport is what a pod-network agent POSTs to PathReach+name after
// each scheduled reach round (internal/monitor/reachmon).
type ReachReport struct {
	NodeName string    `json:"nodename"`
	Round    int64     `json:"round"`
	Started  time.Time `json:"started"`
	// Next is when the agent's next round starts: the server counts the
	// round stale once a whole period (Next - Started) has passed after it
	// was due and no newer round came (zero: never stale).
	Next  time.Time   `json:"next,omitzero"`
	Paths []ReachPath `json:"paths"`
	// Errors are problems outside the load itself (a Service name that did
	// not resolve): the paths they concern are missing from Paths.
	Errors []string `json:"errors,omitempty"`
}

// ReachPath is one round's totals of one path kind and family, summed over
// its targets (every pod IP, ClusterIP or node IP): addresses stay out of
// the report so the server's series stay bounded.
type ReachPath struct {
	Kind      string           `json:"kind"`   // pod, clusterip, nodeport, loadbalancer, ingress, gateway
	Family    probe.Family     `json:"family"` // IPv4, IPv6
	Targets   int              `json:"targets"`
	Requests  int64            `json:"requests"`
	Succeeded int64            `json:"succeeded"`
	Errors    map[string]int64 `json:"errors,omitempty"` // error class -> count
	// Latency of the succeeded requests in microseconds (load.Histogram JSON).
	Latency *load.Histogram `json:"latency"`
	// Rows are the path's targets one by one, with who answered: the
	// server judges them against the reach Service's EndpointSlices and
	// reads findings from them (never exported as metric labels).
	Rows []ReachTarget `json:"rows,omitempty"`
}

// ReachTarget is one target (address) of a reach round.
type ReachTarget struct {
	Address string `json:"address"` // IP:port
	// TargetNode and TargetPod name the agent behind a pod address, or the
	// node of a NodePort address (TargetPod empty).
	TargetNode  string           `json:"targetNode,omitempty"`
	TargetPod   string           `json:"targetPod,omitempty"`
	Requests    int64            `json:"requests"`
	Succeeded   int64            `json:"succeeded"`
	StatusCodes map[int]int64    `json:"statusCodes,omitempty"`
	Errors      map[string]int64 `json:"errors,omitempty"`
	// Backends are the agents that answered, as their echo replies named them.
	Backends []ReachBackend `json:"backends,omitempty"`
}

// ReachBackend is one backend that answered a target.
type ReachBackend struct {
	Node  string `json:"node"`
	Pod   string `json:"pod"`
	PodIP string `json:"podIP"`
	Count int64  `json:"count"`
}

// ReachServiceName is the Service over the pod-network agents that reach
// rounds' clusterip and nodeport paths go through; the server reads its
// EndpointSlices for the backends verdict.
const ReachServiceName = "netdoctor-monitor-reach"

// Names of the reach objects behind the loadbalancer, ingress and gateway
// paths (besides ReachServiceName, the Ingress's and HTTPRoute's backend).
const (
	ReachLBServiceName = "netdoctor-monitor-reach-lb" // type LoadBalancer over the pod-network agents
	ReachIngressName   = "netdoctor-monitor-reach"
	ReachRouteName     = "netdoctor-monitor-reach"
)

// ReachTargets is GET PathReachTargets: the loadbalancer, ingress and
// gateway addresses of the reach objects, read by the server (the agents
// have no API rights) and put under load by every pod-network agent.
type ReachTargets struct {
	Targets []ReachVIP `json:"targets"`
	// Notes say why an asked path has no address (no LB address assigned,
	// the Gateway has none, ...): those paths are left out of the round.
	Notes []string `json:"notes,omitempty"`
}

// ReachVIP is one address of a loadbalancer, ingress or gateway path.
type ReachVIP struct {
	Kind string `json:"kind"` // loadbalancer, ingress, gateway
	IP   string `json:"ip"`
	Port int    `json:"port"`
	Host string `json:"host,omitempty"` // Host header (ingress, gateway)
}

// ReachStatus is GET /api/v1/reach: the backends verdict of every source
// node's latest reach round per (path kind, family), and its failed rows.
type ReachStatus struct {
	Generated time.Time         `json:"generated"`
	Paths     []ReachPathStatus `json:"paths"`
	Failed    []ReachRowStatus  `json:"failed"`
	// Notes say why an asked loadbalancer, ingress or gateway path is not
	// in the rounds (ReachTargets.Notes).
	Notes []string `json:"notes,omitempty"`
}

// ReachPathStatus sums one (source node, path kind, family) of the latest
// round. BackendsReached/BackendsExpected sum the judged rows' backends
// (pod rows: one each; clusterip and nodeport rows: the Service's ready
// endpoints of the family); rows with too few answers to judge them are
// counted in Inconclusive instead.
type ReachPathStatus struct {
	SourceNode       string       `json:"sourceNode"`
	Path             string       `json:"path"`
	Family           probe.Family `json:"family"`
	Round            int64        `json:"round"`
	Started          time.Time    `json:"started"`
	Targets          int          `json:"targets"`
	Requests         int64        `json:"requests"`
	Succeeded        int64        `json:"succeeded"`
	BackendsReached  int          `json:"backendsReached"`
	BackendsExpected int          `json:"backendsExpected"`
	Inconclusive     int          `json:"inconclusive,omitempty"`
	Result           string       `json:"result"` // SUCCEEDED, FAILED, EXCEPTION (netctl reach's verdicts)
	// Stale: the source node's next round is overdue (its agent stopped or
	// cannot reach the server); a stale round gives no gauges and no
	// findings.
	Stale bool `json:"stale,omitempty"`
}

// ReachRowStatus is one failed target of a latest round, with the reasons.
type ReachRowStatus struct {
	SourceNode string       `json:"sourceNode"`
	Path       string       `json:"path"`
	Family     probe.Family `json:"family"`
	Address    string       `json:"address"`
	Result     string       `json:"result"`
	Reasons    []string     `json:"reasons"`
}
