// Package report turns check results into what users read: the earlier
// tables, a wide table, JSON, JUnit and resume.json.
package report

import (
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Result is the RESULT column. FAILED means the network answered no;
// EXCEPTION means the check itself could not run. Never mixed.
type Result string

const (
	Succeeded Result = "SUCCEEDED"
	Failed    Result = "FAILED"
	Exception Result = "EXCEPTION"
)

// Pair identifies one check: what resume.json stores to re-plan it.
type Pair struct {
	Mode       string       `json:"mode"`
	Protocol   probe.Kind   `json:"protocol"`
	Family     probe.Family `json:"family"`
	SrcCluster string       `json:"srcCluster,omitempty"` // "src" or "dst" ("" = src)
	SrcNode    string       `json:"srcNodeName"`
	SrcPod     string       `json:"srcPod,omitempty"`
	SrcIP      string       `json:"srcIP,omitempty"` // source agent's address of that family
	DstCluster string       `json:"dstCluster,omitempty"`
	DstNode    string       `json:"dstNodeName"` // for dns: the DNS server's name ("cluster-dns" or the IP)
	DstPod     string       `json:"dstPod,omitempty"`
	TargetIP   string       `json:"targetIP"`
	Port       int          `json:"port,omitempty"`
}

// Row is one checked pair and its outcome.
type Row struct {
	Pair
	Result  Result             `json:"result"`
	Class   probe.FailureClass `json:"class,omitempty"`
	Log     string             `json:"log,omitempty"` // one human line; empty on success
	Latency time.Duration      `json:"latency,omitempty"`
	// PacketSize is the IP packet size probed (tcp, udp, icmp); Note says
	// when it was lowered to the route's MTU (a setup note, not a failure).
	PacketSize int    `json:"packetSize,omitempty"`
	Note       string `json:"note,omitempty"`
	// Agent is set on EXCEPTION rows whose check could not run because an
	// agent could not take part: the facts, so that diagnosis never has to
	// parse Log.
	Agent *AgentProblem `json:"agentProblem,omitempty"`
}

// AgentProblem says which agent kept a pair from being checked, and why.
type AgentProblem struct {
	Side   string `json:"side"` // AgentSource or AgentTarget
	Kind   string `json:"kind"` // AgentNotReady or AgentUnreachable
	Node   string `json:"node"`
	Pod    string `json:"pod,omitempty"` // "" when no pod exists for the node
	Reason string `json:"reason"`        // e.g. "ImagePullBackOff", "no answer within 13s"
}

// AgentProblem sides and kinds.
const (
	AgentSource      = "source"
	AgentTarget      = "target"
	AgentNotReady    = "not-ready"   // no Ready agent pod on the node
	AgentUnreachable = "unreachable" // the CLI could not run the agent's batch
)

// Report is a whole run.
type Report struct {
	Rows     []Row         `json:"rows"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Interrupted is set when the run was stopped (Ctrl-C, error) before
	// every pair was checked; Rows then holds what was gathered.
	Interrupted bool `json:"interrupted,omitempty"`
	// Phases are the durations of the run's phases, in order (deploy agents,
	// wait for readiness, probe), for users and the benchmark.
	Phases []Phase `json:"phases,omitempty"`
	// Skipped lists the nodes no agent can run on (windows, virtual-kubelet,
	// no InternalIP), once each with the reason; they are in no row.
	Skipped []SkippedNode `json:"skippedNodes,omitempty"`
	// Findings name the likely culprits of the failures (package diagnose);
	// empty when every pair succeeded or no analysis ran.
	Findings []Finding `json:"findings,omitempty"`
	// NetworkPolicies are the NetworkPolicies (namespace/name; cluster/
	// namespace/name in two-cluster checks) other than netctl's own that
	// select the agent pods; read only when some row FAILED.
	NetworkPolicies []string `json:"networkPolicies,omitempty"`
}

// Phase is one timed phase of a run.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
}

// SkippedNode is a node a check left out because no agent can run there.
type SkippedNode struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Reason  string `json:"reason"`
}

// RowFor maps a probe result to a row: FAILED only when the network said
// no; everything else that is not a success is an EXCEPTION.
func RowFor(p Pair, res probe.Result) Row {
	row := Row{Pair: p, Latency: res.Timings.Total, PacketSize: res.Size, Note: res.Note}
	switch {
	case res.OK:
		row.Result = Succeeded
	case res.Class.IsNetworkFailure():
		row.Result, row.Class, row.Log = Failed, res.Class, res.Reason
	default:
		row.Result, row.Class, row.Log = Exception, res.Class, res.Reason
		if row.Class == "" {
			row.Class, row.Log = probe.ClassAgentError, "agent reported a failure without a class: "+res.Reason
		}
	}
	return row
}
