package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// kube-proxy's default health and metrics addresses; both listen in the
// node's network namespace, where the host-network agent runs.
const (
	KubeProxyHealthzURL = "http://127.0.0.1:10256/healthz"
	KubeProxyMetricsURL = "http://127.0.0.1:10249/metrics"
)

// KubeProxyHealth is what the node's kube-proxy says of its own syncing,
// read from its healthz and metrics endpoints.
type KubeProxyHealth struct {
	// HealthzError / MetricsError say why an endpoint gave nothing
	// (connection refused: kube-proxy not running, or listening elsewhere).
	HealthzError string `json:"healthzError,omitempty"`
	MetricsError string `json:"metricsError,omitempty"`
	// StatusCode and the body of /healthz: 503 or healthy false when a
	// queued change waited longer than kube-proxy's health timeout.
	StatusCode  int        `json:"statusCode,omitempty"`
	Healthy     *bool      `json:"healthy,omitempty"`
	LastUpdated *time.Time `json:"lastUpdated,omitempty"`
	// Families are the per-family sync times from the metrics
	// kubeproxy_sync_proxy_rules_last_timestamp_seconds and
	// kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds.
	Families map[string]SyncTimes `json:"families,omitempty"`
	// Now is the agent's clock when it asked (the same host clock).
	Now time.Time `json:"now"`
}

// SyncTimes are a family's last completed and last queued sync.
type SyncTimes struct {
	LastSync   time.Time `json:"lastSync,omitzero"`
	LastQueued time.Time `json:"lastQueued,omitzero"`
}

// Summary is one line of what was read, for findings' evidence.
func (k *KubeProxyHealth) Summary() string {
	var parts []string
	if k.HealthzError != "" {
		parts = append(parts, "healthz "+k.HealthzError)
	} else {
		s := fmt.Sprintf("healthz %d", k.StatusCode)
		if k.LastUpdated != nil {
			s += fmt.Sprintf(", last updated %s before", k.Now.Sub(*k.LastUpdated).Round(time.Second))
		}
		parts = append(parts, s)
	}
	if k.MetricsError != "" {
		parts = append(parts, "metrics "+k.MetricsError)
	}
	return strings.Join(parts, "; ")
}

// readKubeProxy asks the node's kube-proxy (2 s per endpoint).
func readKubeProxy(ctx context.Context, healthzURL, metricsURL string) *KubeProxyHealth {
	out := &KubeProxyHealth{Now: time.Now().UTC()}
	c := &http.Client{Timeout: 2 * time.Second}
	get := func(url string) ([]byte, int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, 0, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		return b, resp.StatusCode, err
	}
	if b, code, err := get(healthzURL); err != nil {
		out.HealthzError = shortErr(err)
	} else {
		out.StatusCode = code
		var h struct {
			LastUpdated time.Time `json:"lastUpdated"`
			Healthy     *bool     `json:"healthy"`
		}
		if json.Unmarshal(b, &h) == nil {
			out.Healthy = h.Healthy
			if !h.LastUpdated.IsZero() {
				out.LastUpdated = &h.LastUpdated
			}
		}
	}
	if b, code, err := get(metricsURL); err != nil {
		out.MetricsError = shortErr(err)
	} else if code != http.StatusOK {
		out.MetricsError = fmt.Sprintf("HTTP %d", code)
	} else if fams, err := syncTimes(b); err != nil {
		out.MetricsError = err.Error()
	} else {
		out.Families = fams
	}
	return out
}

// shortErr drops the Go client's "Get \"URL\": " prefix.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "\": "); i >= 0 {
		return s[i+3:]
	}
	return s
}

// syncTimes parses the Prometheus text exposition for kube-proxy's sync
// timestamps per ip_family.
func syncTimes(b []byte) (map[string]SyncTimes, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	out := map[string]SyncTimes{}
	each := func(name string, set func(*SyncTimes, time.Time)) {
		mf := mfs[name]
		if mf == nil {
			return
		}
		for _, m := range mf.GetMetric() {
			fam := label(m, "ip_family")
			if fam == "" {
				fam = "IPv4"
			}
			st := out[fam]
			if g := m.GetGauge(); g != nil && g.GetValue() > 0 {
				sec := g.GetValue()
				set(&st, time.Unix(0, int64(sec*1e9)).UTC())
			}
			out[fam] = st
		}
	}
	each("kubeproxy_sync_proxy_rules_last_timestamp_seconds", func(s *SyncTimes, t time.Time) { s.LastSync = t })
	each("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", func(s *SyncTimes, t time.Time) { s.LastQueued = t })
	if len(out) == 0 {
		return nil, fmt.Errorf("no kubeproxy_sync_proxy_rules_last_timestamp_seconds in the metrics")
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
