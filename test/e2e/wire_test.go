package e2e

import "github.com/netdoctor/netdoctor/internal/probe"

// The documents netctl prints, as these tests read them: the tests' own
// minimal types with the JSON names users' scripts rely on, never the
// producer's structs, so a renamed or dropped field fails a test.

// result is a row's "result".
type result string

const (
	resultSucceeded result = "SUCCEEDED"
	resultFailed    result = "FAILED"
	resultException result = "EXCEPTION"
)

// Agent problem sides and kinds ("agentProblem").
const (
	agentSource   = "source"
	agentTarget   = "target"
	agentNotReady = "not-ready"
)

// jsonReport is `netctl check -o json`.
type jsonReport struct {
	Rows     []jsonRow     `json:"rows"`
	Findings []jsonFinding `json:"findings"`
}

// jsonPair is a pair in a row and in resume.json.
type jsonPair struct {
	Mode       string       `json:"mode"`
	Protocol   probe.Kind   `json:"protocol"`
	Family     probe.Family `json:"family"`
	SrcCluster string       `json:"srcCluster"`
	SrcNode    string       `json:"srcNodeName"`
	SrcPod     string       `json:"srcPod"`
	SrcIP      string       `json:"srcIP"`
	DstCluster string       `json:"dstCluster"`
	DstNode    string       `json:"dstNodeName"`
	DstPod     string       `json:"dstPod"`
	TargetIP   string       `json:"targetIP"`
	Port       int          `json:"port"`
}

type jsonRow struct {
	jsonPair
	Result         result             `json:"result"`
	Class          probe.FailureClass `json:"class"`
	Log            string             `json:"log"`
	LatencySeconds float64            `json:"latencySeconds"`
	Agent          *jsonAgentProblem  `json:"agentProblem"`
	PacketSize     int                `json:"packetSize"`
	Note           string             `json:"note"`
}

type jsonAgentProblem struct {
	Side   string `json:"side"`
	Kind   string `json:"kind"`
	Node   string `json:"node"`
	Pod    string `json:"pod"`
	Reason string `json:"reason"`
}

type jsonFinding struct {
	Kind     string       `json:"kind"`
	Summary  string       `json:"summary"`
	Evidence string       `json:"evidence"`
	Nodes    []string     `json:"nodes"`
	Target   string       `json:"target"`
	Mode     string       `json:"mode"`
	Protocol probe.Kind   `json:"protocol"`
	Family   probe.Family `json:"family"`
	Failed   int          `json:"failed"`
	Total    int          `json:"total"`
}

// jsonMatrix is GET /api/v1/matrix and `netctl monitor status -o json`.
type jsonMatrix struct {
	Total   int              `json:"total"`
	Failing int              `json:"failing"`
	Pairs   []jsonMatrixPair `json:"pairs"`
}

type jsonMatrixPair struct {
	Source              string             `json:"source"`
	SourceNode          string             `json:"source_node"`
	SourceNetwork       string             `json:"source_network"`
	Target              string             `json:"target"`
	TargetNode          string             `json:"target_node"`
	TargetNetwork       string             `json:"target_network"`
	Address             string             `json:"address"`
	Family              probe.Family       `json:"family"`
	Kind                probe.Kind         `json:"kind"`
	OK                  bool               `json:"ok"`
	Class               probe.FailureClass `json:"class"`
	FailingSince        *string            `json:"failing_since"`
	ConsecutiveFailures int                `json:"consecutive_failures"`
}

// jsonConnectivity is the 400 body of GET /api/v1/connectivity_check
// (k8s-netchecker's key names).
type jsonConnectivity struct {
	Message  string   `json:"Message"`
	Absent   []string `json:"Absent"`
	Outdated []string `json:"Outdated"`
}

// jsonDiagnose is `netctl diagnose -o json`.
type jsonDiagnose struct {
	Facts map[string]struct {
		Routes []struct {
			Dst    string `json:"dst"`
			Reject bool   `json:"reject"`
		} `json:"routes"`
	} `json:"facts"`
	Findings []jsonFinding `json:"findings"`
}
