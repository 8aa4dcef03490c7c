package agent

import (
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Wire API of the agent. The CLI reaches it through the API server's pod
// proxy: /api/v1/namespaces/NS/pods/NAME:PORT/proxy/<path>.
//
//	GET  /identity  -> Identity (JSON). Also the tcp probe's target; the probe
//	                   sends a padding header and the agent pads its answer so
//	                   full-size packets cross the path in both directions.
//	GET  /healthz, /readyz -> 200 "ok"
//	POST /v1/probe  -> body ProbeRequest, header TokenHeader: <token>;
//	                   response: NDJSON stream, one probe.Result per line, in
//	                   completion order, flushed as each finishes; an empty
//	                   line (keepalive) every KeepaliveInterval without one.
//	GET  /v1/facts  -> header TokenHeader: <token>; response: NodeFacts (JSON,
//	                   see facts.go): routes, links, conntrack, neighbours.
//	GET  /echo, POST /v1/load -> the load engine of netctl reach (loadapi.go).
//	UDP  same port  -> echo: a datagram "NDPING <nonce> <pad>" is answered by
//	                   "NDPONG <nonce> <node> <pod>".
//
// The API server's authentication filter strips the Authorization header
// before proxying, so the token travels in its own header.
const TokenHeader = "X-Netdoctor-Token"

// PaddingHeader carries filler bytes on tcp probes (value ignored). It is
// defined in package probe (the tcp prober sends it; probe cannot import
// agent) and re-exported here as part of the wire API.
const PaddingHeader = probe.PaddingHeader

// Paths of the agent's HTTP API.
const (
	IdentityPath = probe.IdentityPath
	ProbePath    = "/v1/probe"
	HealthzPath  = "/healthz"
	ReadyzPath   = "/readyz"
)

// KeepaliveInterval: a probe stream with no result for this long gets an
// empty line (NDJSON decoders skip it), so the CLI can tell a slow batch
// from a stream that went silent.
const KeepaliveInterval = 5 * time.Second

// MaxTargets caps one ProbeRequest: bigger batches are split by the caller.
const MaxTargets = 10000

// Identity is what an agent says about itself.
type Identity struct {
	Node        string   `json:"node"`
	Pod         string   `json:"pod"`
	Namespace   string   `json:"namespace"`
	IPs         []string `json:"ips"`
	HostNetwork bool     `json:"hostNetwork"`
	Version     string   `json:"version"`
	// Pad is filler so the HTTP answer is a full-size packet (see PaddingHeader).
	Pad string `json:"pad,omitempty"`
}

// ProbeRequest is one batch for one source agent.
type ProbeRequest struct {
	Targets []probe.Target `json:"targets"`
	// Concurrency caps probes in flight (config maxNum). Must be >= 1.
	Concurrency int `json:"concurrency"`
	// TimeoutSeconds is the per-probe timeout (config cmdTimeout). Must be > 0.
	TimeoutSeconds float64 `json:"timeoutSeconds"`
}

// APIPortFor is the port of the agent's control API (POST /v1/probe,
// /healthz, /readyz) when the data port is port. The CLI reaches it through
// the API server's pod proxy. It is a separate port so that a firewall on
// the data port (what the checks probe) breaks the checks it should break
// and not the CLI's channel to the agent as well.
func APIPortFor(port int) int {
	if port >= 65535 {
		return port - 1
	}
	return port + 1
}
