package load

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxEchoBytes bounds how much of an answer is read (an echo reply is a
// few hundred bytes); the rest is discarded.
const maxEchoBytes = 64 << 10

// Run puts the targets under load for r.Duration and returns one result per
// target, in the order of r.Targets. r must be valid (Validate). It returns
// at most PerRequestTimeout after the last request was due; when ctx ends
// it stops sending and returns what was measured so far.
func Run(ctx context.Context, r Request) []TargetResult {
	inFlight := r.MaxInFlight
	if inFlight == 0 {
		inFlight = DefaultMaxInFlight
	}
	client := newClient(r, inFlight)
	defer client.CloseIdleConnections()

	targets := make([]*target, len(r.Targets))
	for i, t := range r.Targets {
		targets[i] = newTarget(t)
	}
	period := float64(time.Second) / float64(r.QPS)
	total := int64(float64(r.QPS) * r.Duration.Seconds())

	slots := make(chan struct{}, inFlight) // one token per outstanding request
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	<-timer.C
	start := time.Now()
loop:
	for k := int64(0); k < total; k++ {
		due := start.Add(time.Duration(float64(k) * period))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break loop
			}
		}
		t := targets[k%int64(len(targets))]
		select {
		case slots <- struct{}{}:
		default:
			// Every slot is taken: wait for one until this request's own
			// timeout has passed since it was due, then give it up.
			wait := time.Until(due.Add(r.PerRequestTimeout))
			if wait <= 0 {
				t.notSent(inFlight)
				continue
			}
			timer.Reset(wait)
			select {
			case slots <- struct{}{}:
				if !timer.Stop() {
					<-timer.C
				}
			case <-timer.C:
				t.notSent(inFlight)
				continue
			case <-ctx.Done():
				break loop
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.send(ctx, client, due, r.PerRequestTimeout)
			<-slots
		}()
	}
	wg.Wait()
	out := make([]TargetResult, len(targets))
	for i, t := range targets {
		out[i] = t.result()
	}
	return out
}

// newClient is the HTTP client of one run: no proxy from the environment
// (targets are cluster addresses), no compression, HTTP/1.1, and either a
// new connection per request or a pool as large as the in-flight bound.
func newClient(r Request, inFlight int) *http.Client {
	dialer := &net.Dialer{Timeout: r.PerRequestTimeout}
	if !r.KeepAlive {
		dialer.KeepAlive = -1 // TCP keep-alive probes are useless on one-request connections
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			DisableKeepAlives:   !r.KeepAlive,
			DisableCompression:  true,
			MaxIdleConns:        inFlight,
			MaxIdleConnsPerHost: inFlight,
			IdleConnTimeout:     90 * time.Second,
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		},
		// A redirect is an answer of its own: count its status, do not follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type backendKey struct{ node, pod, podIP, client string }

// target accumulates one target's results; requests run concurrently.
type target struct {
	t      Target
	expect func(int) bool

	mu        sync.Mutex
	res       TargetResult
	latency   Histogram
	connect   Histogram
	firstByte Histogram
	backends  map[backendKey]int64
}

func newTarget(t Target) *target {
	expect := func(code int) bool { return code >= 200 && code <= 299 }
	if len(t.ExpectStatus) > 0 {
		expect = func(code int) bool { return slices.Contains(t.ExpectStatus, code) }
	}
	return &target{t: t, expect: expect, backends: map[backendKey]int64{},
		res: TargetResult{ID: t.ID, StatusCodes: map[int]int64{}, Errors: map[string]int64{}}}
}

func (t *target) notSent(inFlight int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Requests++
	t.failLocked(ErrNotSent, "not sent: "+strconv.Itoa(inFlight)+" requests (maxInFlight) were outstanding until its timeout")
}

func (t *target) failLocked(class, msg string) {
	t.res.Errors[class]++
	if len(t.res.ErrorSamples) < maxErrorSamples && !slices.Contains(t.res.ErrorSamples, msg) {
		t.res.ErrorSamples = append(t.res.ErrorSamples, msg)
	}
}

// send makes one request that was due at due and records what happened.
func (t *target) send(ctx context.Context, client *http.Client, due time.Time, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var connStart, connDone, wrote, firstByte time.Time
	trace := &httptrace.ClientTrace{
		ConnectStart: func(string, string) {
			if connStart.IsZero() {
				connStart = time.Now()
			}
		},
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				connDone = time.Now()
			}
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { wrote = time.Now() },
		GotFirstResponseByte: func() { firstByte = time.Now() },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, t.t.URL, nil)
	if err != nil { // Validate parsed the URL: cannot happen
		t.record(func() { t.failLocked(ErrOther, err.Error()) })
		return
	}
	if t.t.Host != "" {
		req.Host = t.t.Host
	}
	req.Header.Set("User-Agent", "netdoctor-load")
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxEchoBytes))
		io.Copy(io.Discard, resp.Body) // lets a kept-alive connection be reused
		resp.Body.Close()
	}
	end := time.Now()

	t.record(func() {
		if !connDone.IsZero() {
			t.connect.Record(connDone.Sub(connStart).Microseconds())
		}
		if !firstByte.IsZero() && !wrote.IsZero() {
			t.firstByte.Record(firstByte.Sub(wrote).Microseconds())
		}
		if resp == nil {
			t.failLocked(classify(err), err.Error())
			return
		}
		t.res.StatusCodes[resp.StatusCode]++
		if err != nil {
			t.failLocked(classify(err), err.Error())
			return
		}
		if !t.expect(resp.StatusCode) {
			t.failLocked(ErrStatus, "HTTP "+resp.Status)
			return
		}
		t.res.Succeeded++
		t.latency.Record(end.Sub(due).Microseconds())
		t.addBackendLocked(body)
	})
}

// record runs fn under the lock and counts the request.
func (t *target) record(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Requests++
	fn()
}

// addBackendLocked counts who answered, when the answer is an echo reply.
func (t *target) addBackendLocked(body []byte) {
	var e EchoReply
	if json.Unmarshal(body, &e) != nil || (e.Node == "" && e.Pod == "" && e.PodIP == "") {
		return
	}
	client := e.ClientAddr
	if ap, err := netip.ParseAddrPort(client); err == nil {
		client = ap.Addr().Unmap().String()
	}
	k := backendKey{e.Node, e.Pod, e.PodIP, client}
	if _, ok := t.backends[k]; !ok && len(t.backends) >= MaxBackends {
		t.res.BackendsDropped++
		return
	}
	t.backends[k]++
}

func (t *target) result() TargetResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.res
	r.Latency = &t.latency
	if t.connect.Count() > 0 {
		r.Connect = &t.connect
	}
	if t.firstByte.Count() > 0 {
		r.FirstByte = &t.firstByte
	}
	for k, n := range t.backends {
		r.Backends = append(r.Backends, Backend{Node: k.node, Pod: k.pod, PodIP: k.podIP, ClientAddr: k.client, Count: n})
	}
	slices.SortFunc(r.Backends, func(a, b Backend) int {
		return cmp.Or(strings.Compare(a.Node, b.Node), strings.Compare(a.Pod, b.Pod),
			strings.Compare(a.PodIP, b.PodIP), strings.Compare(a.ClientAddr, b.ClientAddr))
	})
	if len(r.StatusCodes) == 0 {
		r.StatusCodes = nil
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	return r
}

// classify names the class of a failed request's error.
func classify(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return ErrTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ErrNoRoute
	case errors.As(err, &dnsErr):
		return ErrDNS
	}
	return ErrOther
}
