package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// Label sets. Every series is keyed by agents or agent pairs, so cardinality
// is O(agents x peers per agent); series are deleted when an agent or a pair
// goes away (see dropAgentLocked, dropPairLocked).
var (
	agentLabels = []string{"agent", "node"}
	httpLabels  = []string{"agent", "node", "url"}
	pairLabels  = []string{"source_node", "source_network", "target_node", "target_network", "kind", "family"}
)

// probeBuckets cover loopback (sub-ms) to a timed-out probe (seconds).
var probeBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// metrics holds every vector the server exports. k8s-netchecker's names
// (namespace ncagent) are kept so existing alerts and dashboards work.
type metrics struct {
	reportCount *prometheus.CounterVec
	errorCount  *prometheus.CounterVec

	httpConnectionResult *prometheus.GaugeVec
	httpCode             *prometheus.GaugeVec
	httpTotal            *prometheus.GaugeVec
	httpContentTransfer  *prometheus.GaugeVec
	httpTCPConnection    *prometheus.GaugeVec
	httpDNSLookup        *prometheus.GaugeVec
	httpConnect          *prometheus.GaugeVec
	httpServerProcessing *prometheus.GaugeVec

	probeSuccess  *prometheus.GaugeVec
	probeFailures *prometheus.GaugeVec
	probeDuration *prometheus.HistogramVec

	dnsSuccess       *prometheus.GaugeVec
	dnsDuration      *prometheus.HistogramVec
	apiserverSuccess *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	httpGauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ncagent", Name: name, Help: help}, httpLabels)
	}
	m := &metrics{
		reportCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ncagent", Name: "report_count_total",
			Help: "Reports received from the agent.",
		}, agentLabels),
		errorCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ncagent", Name: "error_count_total",
			Help: "Agent errors: missed report deadlines (keepalive misses) plus rounds whose probe of the server failed.",
		}, agentLabels),
		httpConnectionResult: httpGauge("http_probe_connection_result", "1 if the agent's HTTP probe of the server got an answer, else 0."),
		httpCode:             httpGauge("http_probe_code", "HTTP status code of the agent's probe of the server (0 = no answer)."),
		httpTotal:            httpGauge("http_probe_total_time_ms", "Total time of the agent's HTTP probe of the server, ms."),
		httpContentTransfer:  httpGauge("http_probe_content_transfer_time_ms", "Body transfer time of the HTTP probe, ms."),
		httpTCPConnection:    httpGauge("http_probe_tcp_connection_time_ms", "TCP connection time of the HTTP probe, ms."),
		httpDNSLookup:        httpGauge("http_probe_dns_lookup_time_ms", "DNS lookup time of the HTTP probe, ms."),
		httpConnect:          httpGauge("http_probe_connect_time_ms", "DNS lookup plus TCP connection time of the HTTP probe, ms."),
		httpServerProcessing: httpGauge("http_probe_server_processing_time_ms", "Time from request sent to first response byte, ms."),

		probeSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "netdoctor_probe_success",
			Help: "1 if the latest probe from the source agent to the target agent succeeded, else 0.",
		}, pairLabels),
		probeFailures: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "netdoctor_probe_consecutive_failures",
			Help: "Rounds in a row the probe from source to target failed (0 when the latest succeeded).",
		}, pairLabels),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "netdoctor_probe_duration_seconds",
			Help:    "Duration of successful peer probes.",
			Buckets: probeBuckets,
		}, pairLabels),
		dnsSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "netdoctor_dns_success",
			Help: "1 if the agent's latest lookup at the cluster DNS succeeded, else 0.",
		}, agentLabels),
		dnsDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "netdoctor_dns_duration_seconds",
			Help:    "Duration of the agent's successful lookups at the cluster DNS.",
			Buckets: probeBuckets,
		}, agentLabels),
		apiserverSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "netdoctor_apiserver_success",
			Help: "1 if the agent's latest TCP connect to the kubernetes service succeeded, else 0.",
		}, agentLabels),
	}
	for _, c := range m.collectors() {
		reg.MustRegister(c)
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.reportCount, m.errorCount,
		m.httpConnectionResult, m.httpCode, m.httpTotal, m.httpContentTransfer,
		m.httpTCPConnection, m.httpDNSLookup, m.httpConnect, m.httpServerProcessing,
		m.probeSuccess, m.probeFailures, m.probeDuration,
		m.dnsSuccess, m.dnsDuration, m.apiserverSuccess,
	}
}

func (m *metrics) httpGauges() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{
		m.httpConnectionResult, m.httpCode, m.httpTotal, m.httpContentTransfer,
		m.httpTCPConnection, m.httpDNSLookup, m.httpConnect, m.httpServerProcessing,
	}
}

// touchAgent creates the agent's counters at zero so that
// absent(ncagent_error_count_total) is false while agents are healthy.
func (m *metrics) touchAgent(name, node string) {
	m.reportCount.WithLabelValues(name, node)
	m.errorCount.WithLabelValues(name, node)
}

// setReportGauges sets every gauge that reflects the latest report.
func (m *metrics) setReportGauges(name string, r *api.Report) {
	node := r.NodeName
	if p := r.HTTPProbe; p != nil {
		// The server URL rarely changes; drop old url series so only one remains.
		for _, g := range m.httpGauges() {
			g.DeletePartialMatch(prometheus.Labels{"agent": name})
		}
		l := []string{name, node, p.URL}
		m.httpConnectionResult.WithLabelValues(l...).Set(boolFloat(p.ConnectionResult))
		m.httpCode.WithLabelValues(l...).Set(float64(p.Code))
		m.httpTotal.WithLabelValues(l...).Set(p.TotalMs)
		m.httpContentTransfer.WithLabelValues(l...).Set(p.ContentTransMs)
		m.httpTCPConnection.WithLabelValues(l...).Set(p.TCPConnectionMs)
		m.httpDNSLookup.WithLabelValues(l...).Set(p.DNSLookupMs)
		m.httpConnect.WithLabelValues(l...).Set(p.ConnectMs)
		m.httpServerProcessing.WithLabelValues(l...).Set(p.ServerProcessMs)
	}
	if d := r.DNS; d != nil {
		m.dnsSuccess.WithLabelValues(name, node).Set(boolFloat(d.OK))
	}
	if a := r.APIServer; a != nil {
		m.apiserverSuccess.WithLabelValues(name, node).Set(boolFloat(a.OK))
	}
}

func (m *metrics) deleteAgent(name string) {
	match := prometheus.Labels{"agent": name}
	m.reportCount.DeletePartialMatch(match)
	m.errorCount.DeletePartialMatch(match)
	for _, g := range m.httpGauges() {
		g.DeletePartialMatch(match)
	}
	m.dnsSuccess.DeletePartialMatch(match)
	m.dnsDuration.DeletePartialMatch(match)
	m.apiserverSuccess.DeletePartialMatch(match)
}

func pairLabelValues(p *api.MatrixPair) []string {
	return []string{p.SourceNode, string(p.SourceNetwork), p.TargetNode, string(p.TargetNetwork), string(p.Kind), string(p.Family)}
}

func (m *metrics) setPair(p *api.MatrixPair) {
	l := pairLabelValues(p)
	m.probeSuccess.WithLabelValues(l...).Set(boolFloat(p.OK))
	m.probeFailures.WithLabelValues(l...).Set(float64(p.ConsecutiveFailures))
}

func (m *metrics) deletePair(p *api.MatrixPair) {
	l := pairLabelValues(p)
	m.probeSuccess.DeleteLabelValues(l...)
	m.probeFailures.DeleteLabelValues(l...)
	m.probeDuration.DeleteLabelValues(l...)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stateCollector exports values computed at scrape time from the server
// state: each agent's report age and the agent counts by status.
type stateCollector struct {
	s        *Server
	ageDesc  *prometheus.Desc
	agentsDs *prometheus.Desc
}

func newStateCollector(s *Server) *stateCollector {
	return &stateCollector{
		s: s,
		ageDesc: prometheus.NewDesc("netdoctor_agent_report_age_seconds",
			"Seconds since the server received the agent's latest report.", agentLabels, nil),
		agentsDs: prometheus.NewDesc("netdoctor_monitor_agents",
			"Agents known to the server by status (reporting, outdated, absent, pending: expected, not reported yet, started less than one interval ago).", []string{"status"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ageDesc
	ch <- c.agentsDs
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ages, counts := c.s.scrapeState()
	for _, a := range ages {
		ch <- prometheus.MustNewConstMetric(c.ageDesc, prometheus.GaugeValue, a.age, a.name, a.node)
	}
	for _, st := range []string{"reporting", "outdated", "absent", "pending"} {
		ch <- prometheus.MustNewConstMetric(c.agentsDs, prometheus.GaugeValue, float64(counts[st]), st)
	}
}
