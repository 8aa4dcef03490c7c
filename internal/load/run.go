package load

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// maxEchoBytes bounds how much of an answer is read (an echo reply is a
// few hundred bytes); the rest is discarded.
const maxEchoBytes = 64 << 10

// Run puts the targets under load for r.Duration and returns one result per
// target, in the order of r.Targets. r must be valid (Validate). It returns
// at most twice PerRequestTimeout after the last request was due (waiting
// for a slot, then the request itself); when ctx ends it stops sending and
// returns what was measured so far.
func Run(ctx context.Context, r Request) []TargetResult {
	inFlight := r.MaxInFlight
	if inFlight == 0 {
		inFlight = DefaultMaxInFlight
	}
	var client *http.Client
	if r.KeepAlive {
		client = newClient(r, inFlight)
		defer client.CloseIdleConnections()
	}

	// Each target gets its own share of the in-flight bound, so a target
	// that stops answering holds only its own slots and never delays the
	// requests of the others.
	share := max(1, inFlight/len(r.Targets))
	targets := make([]*target, len(r.Targets))
	for i, t := range r.Targets {
		targets[i] = newTarget(t, share)
	}
	period := float64(time.Second) / float64(r.QPS)
	total := int64(float64(r.QPS) * r.Duration.Seconds())

	ru := &run{ctx: ctx, keepAlive: r.KeepAlive, client: client, timeout: r.PerRequestTimeout,
		dialer: &net.Dialer{KeepAlive: -1}} // TCP keep-alive probes are useless on one-request connections
	timer := time.NewTimer(0)
	<-timer.C
	ru.start = time.Now()
	// Each cycle of len(targets) ticks serves every target once, in a fresh
	// random order. A fixed order aliases with any round-robin balancer
	// downstream (Traefik's WRR, nginx): agents ticking in lockstep at the
	// same rate make the balancer's k-th server always answer the same
	// target, so a healthy Ingress looked like "backends 1/3" from one node.
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
loop:
	for k := int64(0); k < total; k++ {
		due := time.Duration(float64(k) * period) // since ru.start
		if wait := time.Until(ru.start.Add(due)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break loop
			}
		}
		pos := int(k % int64(len(order)))
		if pos == 0 {
			rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		ru.dispatch(targets[order[pos]], due)
	}
	ru.wg.Wait()
	out := make([]TargetResult, len(targets))
	for i, t := range targets {
		out[i] = t.result()
	}
	return out
}

// run is what the requests of one Run share.
type run struct {
	ctx       context.Context
	keepAlive bool
	client    *http.Client // keep-alive: a pool of connections
	dialer    *net.Dialer  // otherwise: a connection per request
	start     time.Time
	timeout   time.Duration
	wg        sync.WaitGroup
}

// dispatch starts request due (since start) on one of t's free slots, or
// queues it on t's backlog when all are taken. The pacer never waits for a
// slot: a target whose requests hang delays nobody else's. A goroutine that
// finishes a request takes the next one from its target's backlog, so the
// goroutines of a target never outnumber its slots.
func (ru *run) dispatch(t *target, due time.Duration) {
	t.mu.Lock()
	if t.busy == t.slots {
		t.expireLocked(ru)
		t.backlog = append(t.backlog, due)
		t.mu.Unlock()
		return
	}
	t.busy++
	t.mu.Unlock()
	ru.wg.Add(1)
	go func() {
		defer ru.wg.Done()
		for {
			t.send(ru, ru.start.Add(due))
			t.mu.Lock()
			t.expireLocked(ru)
			if len(t.backlog) == 0 || ru.ctx.Err() != nil {
				t.notSentLocked(int64(len(t.backlog)))
				t.backlog = nil
				t.busy--
				t.mu.Unlock()
				return
			}
			due = t.backlog[0]
			t.backlog = t.backlog[1:]
			t.res.Queued++
			t.mu.Unlock()
		}
	}()
}

// expireLocked gives up the queued requests that have waited their whole
// timeout since they were due: they count as not sent. The backlog thus
// holds at most a timeout's worth of the target's requests.
func (t *target) expireLocked(ru *run) {
	now := time.Since(ru.start)
	n := 0
	for n < len(t.backlog) && now-t.backlog[n] >= ru.timeout {
		n++
	}
	t.notSentLocked(int64(n))
	t.backlog = t.backlog[n:]
}

// newClient is the HTTP client of a keep-alive run: no proxy from the
// environment (targets are cluster addresses), no compression, HTTP/1.1, a
// pool as large as the in-flight bound.
func newClient(r Request, inFlight int) *http.Client {
	dialer := &net.Dialer{Timeout: r.PerRequestTimeout}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			DisableCompression:  true,
			MaxIdleConns:        inFlight,
			MaxIdleConnsPerHost: inFlight,
			IdleConnTimeout:     90 * time.Second,
			// Requests and echo replies are a few hundred bytes (longer
			// lines still parse).
			ReadBufferSize:  1 << 10,
			WriteBufferSize: 1 << 10,
			TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
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
	dns    *probe.Target // a DNS target's query (nil: HTTP)
	slots  int           // its share of maxInFlight

	// req is the target's request, built once: each send only gives it its
	// context (keep-alive) or writes oneShotWire, its bytes with
	// "Connection: close" (new connections). reqErr is why it could not be
	// built; every request of the target fails with it.
	req         *http.Request
	oneShotReq  *http.Request
	oneShotWire []byte
	reqErr      error

	mu        sync.Mutex
	busy      int             // requests outstanding (goroutines running)
	backlog   []time.Duration // due times (since the start) waiting for a slot, oldest first
	res       TargetResult
	latency   Histogram
	connect   Histogram
	firstByte Histogram
	backends  map[backendKey]int64
}

func newTarget(t Target, inFlight int) *target {
	expect := func(code int) bool { return code >= 200 && code <= 299 }
	if len(t.ExpectStatus) > 0 {
		expect = func(code int) bool { return slices.Contains(t.ExpectStatus, code) }
	}
	tg := &target{t: t, expect: expect, slots: inFlight, backends: map[backendKey]int64{},
		res: TargetResult{ID: t.ID, StatusCodes: map[int]int64{}, Errors: map[string]int64{}}}
	if t.DNS != nil {
		q, _ := t.DNS.probeTarget() // Validate checked it
		tg.dns = &q
		return tg
	}
	tg.req, tg.oneShotReq, tg.oneShotWire, tg.reqErr = newRequest(t)
	return tg
}

// newRequest builds t's request once for the whole run, and the bytes of
// its one-shot variant as net/http writes them. Per request, building it
// (URL parsing, header maps) and Request.Write's own 4 KiB buffer were most
// of the engine's garbage, and garbage is what sets the agent's heap size
// under load.
func newRequest(t Target) (req, oneShot *http.Request, wire []byte, err error) {
	req, err = http.NewRequest(http.MethodGet, t.URL, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	if t.Host != "" {
		req.Host = t.Host
	}
	req.Header.Set("User-Agent", "netdoctor-load")
	oneShot = req.Clone(req.Context())
	oneShot.Close = true // "Connection: close": the server normally closes first and keeps the TIME_WAIT
	var b bytes.Buffer
	if err := oneShot.Write(&b); err != nil {
		return nil, nil, nil, err
	}
	return req, oneShot, b.Bytes(), nil
}

func (t *target) notSentLocked(n int64) {
	if n == 0 {
		return
	}
	t.res.Requests += n
	t.res.Errors[ErrNotSent] += n - 1
	t.failLocked(ErrNotSent, "not sent: this target's "+strconv.Itoa(t.slots)+" in-flight slots (maxInFlight / targets) stayed taken until its timeout")
}

func (t *target) failLocked(class, msg string) {
	t.res.Errors[class]++
	if len(t.res.ErrorSamples) < maxErrorSamples {
		// "read tcp 10.0.0.1:41648->10.0.0.2:80: ..." names a new local port
		// on every connection: without it, one cause is one sample.
		msg = localAddr.ReplaceAllString(msg, "$1 ")
		if !slices.Contains(t.res.ErrorSamples, msg) {
			t.res.ErrorSamples = append(t.res.ErrorSamples, msg)
		}
	}
}

var localAddr = regexp.MustCompile(`(tcp[46]?) \S+->`)

// phases are the moments of one request (zero: did not happen).
type phases struct {
	connStart, connDone, wrote, firstByte time.Time
}

// answer is what came back for one request (status 0: nothing).
type answer struct {
	status     int
	statusText string        // e.g. "503 Service Unavailable"
	body       *bytes.Buffer // at most maxEchoBytes, from bodies; nil without an answer
}

// Buffers of the requests in flight, reused: an answer's body (an echo
// reply is a few hundred bytes) and a new connection's read buffer.
var (
	bodies  = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 1<<10)) }}
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1<<10) }}
)

// readBody reads at most maxEchoBytes of the body into a buffer from
// bodies and discards the rest.
func readBody(body io.Reader) (*bytes.Buffer, error) {
	b := bodies.Get().(*bytes.Buffer)
	b.Reset()
	_, err := b.ReadFrom(io.LimitReader(body, maxEchoBytes))
	return b, err
}

// release gives the answer's body buffer back, unless an unusually long
// answer grew it.
func (a *answer) release() {
	if a.body != nil && a.body.Cap() <= 4<<10 {
		bodies.Put(a.body)
	}
	a.body = nil
}

// send makes one request that was due at due and records what happened.
func (t *target) send(ru *run, due time.Time) {
	ctx, cancel := context.WithTimeout(ru.ctx, ru.timeout)
	defer cancel()
	if t.dns != nil {
		t.query(ctx, due)
		return
	}
	var ph phases
	var ans answer
	var err error
	if ru.keepAlive {
		ans, err = t.viaPool(ctx, ru.client, &ph)
	} else {
		ans, err = t.oneShot(ctx, ru.dialer, &ph)
	}
	end := time.Now()
	defer ans.release()

	t.record(func() {
		if !ph.connDone.IsZero() {
			t.connect.Record(ph.connDone.Sub(ph.connStart).Microseconds())
		}
		if !ph.firstByte.IsZero() && !ph.wrote.IsZero() {
			t.firstByte.Record(ph.firstByte.Sub(ph.wrote).Microseconds())
		}
		if ans.status != 0 {
			t.res.StatusCodes[ans.status]++
		}
		switch {
		case err != nil:
			t.failLocked(classify(err), err.Error())
		case !t.expect(ans.status):
			t.failLocked(ErrStatus, "HTTP "+ans.statusText)
		default:
			t.res.Succeeded++
			t.latency.Record(end.Sub(due).Microseconds())
			t.addBackendLocked(ans.body.Bytes())
		}
	})
}

// query asks a DNS target once; the latency counts from due, like a
// request's.
func (t *target) query(ctx context.Context, due time.Time) {
	r := probe.Run(ctx, *t.dns)
	end := time.Now()
	t.record(func() {
		if r.OK {
			t.res.Succeeded++
			t.latency.Record(end.Sub(due).Microseconds())
			return
		}
		class := string(r.Class)
		if class == "" {
			class = ErrOther
		}
		t.failLocked(class, r.Reason)
	})
}

// viaPool sends through the run's http.Client, reusing its connections.
func (t *target) viaPool(ctx context.Context, client *http.Client, ph *phases) (answer, error) {
	if t.reqErr != nil {
		return answer{}, t.reqErr
	}
	// The Transport may finish a dial for this request after it gave up on
	// it (to pool the connection), calling the hooks late: they write under
	// mu, and ph gets a copy when the request is done.
	var mu sync.Mutex
	var traced phases
	at := func(p *time.Time, onlyFirst bool) {
		mu.Lock()
		defer mu.Unlock()
		if !onlyFirst || p.IsZero() {
			*p = time.Now()
		}
	}
	defer func() {
		mu.Lock()
		*ph = traced
		mu.Unlock()
	}()
	trace := &httptrace.ClientTrace{
		ConnectStart: func(string, string) { at(&traced.connStart, true) },
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				at(&traced.connDone, false)
			}
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { at(&traced.wrote, false) },
		GotFirstResponseByte: func() { at(&traced.firstByte, false) },
	}
	// A shallow copy: the Transport only reads the shared URL and headers.
	resp, err := client.Do(t.req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	ans := answer{status: resp.StatusCode, statusText: resp.Status}
	ans.body, err = readBody(resp.Body)
	io.Copy(io.Discard, resp.Body) // lets the connection be reused
	return ans, err
}

// oneShot sends the request on a connection of its own and closes it. For
// one request per connection http.Transport's pool costs three goroutines
// and two buffers per request in flight (dial, read and write loops); here
// the request's own goroutine dials, writes and reads, with net/http's
// Request.Write and ReadResponse doing the HTTP, so memory per request in
// flight is a fraction and the CPU per request lower.
func (t *target) oneShot(ctx context.Context, dialer *net.Dialer, ph *phases) (answer, error) {
	if t.reqErr != nil {
		return answer{}, t.reqErr
	}
	u := t.oneShotReq.URL
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	ph.connStart = time.Now()
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return answer{}, err
	}
	ph.connDone = time.Now()
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) }) // the run ending aborts the request
	defer stop()
	if _, err := conn.Write(t.oneShotWire); err != nil {
		return answer{}, ctxErr(ctx, err)
	}
	ph.wrote = time.Now()
	br := readers.Get().(*bufio.Reader)
	br.Reset(&firstByteReader{r: conn, at: &ph.firstByte})
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	resp, err := http.ReadResponse(br, t.oneShotReq)
	if err != nil {
		return answer{}, ctxErr(ctx, err)
	}
	ans := answer{status: resp.StatusCode, statusText: resp.Status}
	ans.body, err = readBody(resp.Body)
	return ans, ctxErr(ctx, err)
}

// ctxErr names why a request on a connection of its own stopped: its
// timeout reached the connection as a deadline, or the run ended.
func ctxErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("run stopped: %w", err)
	case errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil:
		return fmt.Errorf("no full answer within perRequestTimeout: %w", err)
	}
	return err
}

// firstByteReader notes when the first byte of the answer arrived.
type firstByteReader struct {
	r  io.Reader
	at *time.Time
}

func (f *firstByteReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && f.at.IsZero() {
		*f.at = time.Now()
	}
	return n, err
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
