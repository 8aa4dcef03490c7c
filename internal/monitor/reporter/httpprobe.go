package reporter

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"time"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// maxPingBody bounds what the HTTP probe reads from the server.
const maxPingBody = 64 << 10

// ProbeHTTP GETs url on a fresh connection and records the phases
// k8s-netchecker reported: DNS lookup, TCP connection, connect (both),
// server processing (request written -> first byte), content transfer, total.
// A fresh connection each time, so the connect phase is measured every round.
func ProbeHTTP(ctx context.Context, url string) api.HTTPProbe {
	res := api.HTTPProbe{URL: url}
	var dnsStart, dnsDone, connStart, connDone, wrote, firstByte time.Time
	trace := &httptrace.ClientTrace{
		DNSStart:             func(httptrace.DNSStartInfo) { dnsStart = time.Now() },
		DNSDone:              func(httptrace.DNSDoneInfo) { dnsDone = time.Now() },
		ConnectStart:         func(string, string) { connStart = time.Now() },
		ConnectDone:          func(string, string, error) { connDone = time.Now() },
		WroteRequest:         func(httptrace.WroteRequestInfo) { wrote = time.Now() },
		GotFirstResponseByte: func() { firstByte = time.Now() },
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	transport := &http.Transport{
		DisableKeepAlives: true,
		Proxy:             nil, // never an environment proxy: the probe is about the direct path
		TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
	}
	defer transport.CloseIdleConnections()
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPingBody))
		resp.Body.Close()
		res.Code = resp.StatusCode
		res.ConnectionResult = true
	}
	end := time.Now()
	if err != nil {
		res.Error = err.Error()
	}
	res.DNSLookupMs = ms(dnsStart, dnsDone)
	res.TCPConnectionMs = ms(connStart, connDone)
	res.ConnectMs = res.DNSLookupMs + res.TCPConnectionMs
	res.ServerProcessMs = ms(wrote, firstByte)
	res.ContentTransMs = ms(firstByte, end)
	res.TotalMs = ms(start, end)
	return res
}

// ms is b-a in milliseconds, 0 when a phase did not happen.
func ms(a, b time.Time) float64 {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return 0
	}
	return float64(b.Sub(a)) / float64(time.Millisecond)
}
