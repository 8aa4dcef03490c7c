package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"time"
)

// IdentityPath is the agent's identity endpoint, the tcp probe's target.
const IdentityPath = "/identity"

// PaddingHeader carries filler bytes so a tcp probe's request is a
// full-size packet; the agent answers with as much padding. The agent
// package re-exports it as agent.PaddingHeader (it lives here because the
// agent imports probe, not the other way round).
const PaddingHeader = "X-Netdoctor-Pad"

// tcpHeaderLen is a TCP header with the timestamp option Linux sends by
// default: what sits between the IP header and the HTTP bytes.
const tcpHeaderLen = 32

// maxIdentityBytes bounds what we read from whatever answers: a padded
// identity is a few KiB at most.
const maxIdentityBytes = 64 << 10

// agentIdentity is the part of agent.Identity the probe checks. The agent
// package's tests run this probe against the real agent so the two stay in step.
type agentIdentity struct {
	Node string `json:"node"`
	Pod  string `json:"pod"`
}

// tcpProber sends an HTTP GET to a netctl agent's /identity and checks the
// answer is that agent. A bare TCP connect would pass for any listener (and
// for a stale conntrack/NAT entry pointing at the wrong pod); asking who
// answered catches misrouted traffic, and the padding catches MTU black
// holes that a handshake of small packets never meets.
type tcpProber struct{}

func (tcpProber) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	target, bad := validHostPort(t)
	if bad != nil {
		return *bad
	}
	url := "http://" + target + IdentityPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{Class: ClassAgentError, Reason: fmt.Sprintf("building request for %s: %v", url, err)}
	}
	req.Header.Set("User-Agent", "netctl-probe")
	req.Close = true
	padRequest(req, payloadSize(t)-ipHeaderLen(t.Address)-tcpHeaderLen)

	var tm Timings
	var connectStart time.Time
	connected := false
	trace := &httptrace.ClientTrace{
		ConnectStart: func(string, string) { connectStart = time.Now() },
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				connected = true
				tm.Connect = time.Since(connectStart)
			}
		},
		GotFirstResponseByte: func() { tm.FirstByte = time.Since(start) },
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))

	client := &http.Client{
		Transport: &http.Transport{
			// Never an environment proxy: the probe is about the direct path.
			Proxy:              nil,
			DialContext:        (&net.Dialer{}).DialContext,
			DisableKeepAlives:  true,
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	resp, err := client.Do(req)
	if err != nil {
		if connected {
			r := failed(ctx, err, start, "connected to "+target+", but the HTTP exchange failed")
			if r.Class == ClassTimeout {
				r.Reason = fmt.Sprintf("connected to %s, but got no HTTP answer within %s", target, roundDuration(time.Since(start)))
			}
			r.Timings.Connect = tm.Connect
			return r
		}
		return failed(ctx, err, start, "tcp connect to "+target)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIdentityBytes))
	tm.Total = time.Since(start)
	if err != nil {
		r := failed(ctx, err, start, "reading the answer of "+target)
		r.Timings = tm
		return r
	}

	wrong := func(got string) Result {
		return Result{
			Class:   ClassWrongResponder,
			Reason:  fmt.Sprintf("port %d on %s answered, but not as %s: %s", t.Port, t.Address, expected(t), got),
			Timings: tm,
		}
	}
	if resp.StatusCode != http.StatusOK {
		return wrong(fmt.Sprintf("got HTTP %d %s", resp.StatusCode, quoteSnippet(body)))
	}
	var id agentIdentity
	if err := json.Unmarshal(body, &id); err != nil || id.Node == "" {
		return wrong("got " + quoteSnippet(body))
	}
	if mismatch := checkIdentity(t, id.Node, id.Pod); mismatch != "" {
		r := wrong(mismatch)
		r.Responder = responder(id.Node, id.Pod)
		return r
	}
	return Result{
		OK:        true,
		Reason:    fmt.Sprintf("agent %s answered in %s", responder(id.Node, id.Pod), roundDuration(tm.Total)),
		Timings:   tm,
		Responder: responder(id.Node, id.Pod),
	}
}

// padRequest adds a PaddingHeader so the whole request is about want bytes
// (one full segment). The base size is what Request.Write puts on the wire,
// which is what the transport sends for a plain GET.
func padRequest(req *http.Request, want int) {
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return
	}
	n := want - buf.Len() - len(PaddingHeader) - len(": \r\n")
	if n > 0 {
		req.Header.Set(PaddingHeader, strings.Repeat("x", n))
	}
}

// quoteSnippet shows the start of an unexpected answer, quoted and on one line.
func quoteSnippet(b []byte) string {
	const max = 60
	s := oneLine(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	if s == "" {
		return "an empty body"
	}
	return strconv.Quote(s)
}
