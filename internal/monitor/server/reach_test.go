package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/netdoctor/netdoctor/internal/load"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

func postReach(t *testing.T, url, name string, rep any) int {
	t.Helper()
	body, _ := json.Marshal(rep)
	req, _ := http.NewRequest(http.MethodPost, url+api.PathReach+name, bytes.NewReader(body))
	req.Header.Set(api.TokenHeader, testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hist(us ...int64) *load.Histogram {
	h := load.NewHistogram()
	for _, v := range us {
		h.Record(v)
	}
	return h
}

func family(t *testing.T, s *Server, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestReachHistogramBucketsAndLabels(t *testing.T) {
	s, _, hs := newTestServer(t, func(c *Config) { c.ReachExpectSuccessRate = 0.99; c.ReachExpectP99 = 500 * time.Millisecond })
	// 1000 us sits on the 1 ms bound and counts under it; 1013 us (1.3 %
	// above, more than one engine bucket) does not; 499 us under 0.5 ms.
	rep := api.ReachReport{NodeName: "n1", Paths: []api.ReachPath{
		{Kind: "pod", Family: "IPv4", Targets: 4, Requests: 5, Succeeded: 4, Latency: hist(499, 1000, 1013, 4_000_000)},
		{Kind: "clusterip", Family: "IPv6", Targets: 1, Requests: 2, Succeeded: 2, Latency: hist(2000, 2000)},
	}}
	if code := postReach(t, hs.URL, "n1-private_network", rep); code != http.StatusOK {
		t.Fatalf("POST reach: status %d", code)
	}
	// A second round adds up (counters), the ratio is the latest round's.
	rep.Paths = rep.Paths[:1]
	rep.Paths[0] = api.ReachPath{Kind: "pod", Family: "IPv4", Targets: 4, Requests: 1, Succeeded: 1, Latency: hist(300)}
	if code := postReach(t, hs.URL, "n1-private_network", rep); code != http.StatusOK {
		t.Fatalf("POST reach: status %d", code)
	}

	mf := family(t, s, "netdoctor_reach_duration_seconds")
	if mf == nil || len(mf.GetMetric()) != 2 {
		t.Fatalf("want 2 histogram series (pod/ipv4, clusterip/ipv6), got %v", mf)
	}
	var pod *dto.Metric
	for _, m := range mf.GetMetric() {
		l := labelsOf(m)
		var names []string
		for k := range l {
			names = append(names, k)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "family,path,source_node" {
			t.Fatalf("labels %v: want exactly source_node, path, family", names)
		}
		if l["path"] == "pod" {
			pod = m
		}
	}
	h := pod.GetHistogram()
	if h.GetSampleCount() != 5 {
		t.Fatalf("pod/ipv4 count %d, want 5", h.GetSampleCount())
	}
	want := map[float64]uint64{0.0005: 2, 0.001: 3, 0.0025: 4, 1: 4, 2.5: 4, 5: 5, 10: 5}
	for _, b := range h.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	if got, wantSum := h.GetSampleSum(), (499+1000+1013+4_000_000+300)/1e6; got < wantSum*0.999 || got > wantSum*1.001 {
		t.Errorf("sum %v, want %v", got, wantSum)
	}
	checkGauge := func(name, path string, want float64) {
		t.Helper()
		for _, m := range family(t, s, name).GetMetric() {
			if labelsOf(m)["path"] == path {
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				if v != want {
					t.Errorf("%s{path=%s} = %v, want %v", name, path, v, want)
				}
				return
			}
		}
		t.Errorf("%s{path=%s} missing", name, path)
	}
	checkGauge("netdoctor_reach_requests_total", "pod", 6)
	checkGauge("netdoctor_reach_succeeded_total", "pod", 5)
	checkGauge("netdoctor_reach_success_ratio", "pod", 1)
	checkGauge("netdoctor_reach_success_ratio", "clusterip", 1)
	if v := family(t, s, "netdoctor_reach_expect_success_ratio").GetMetric()[0].GetGauge().GetValue(); v != 0.99 {
		t.Errorf("expected success ratio %v", v)
	}
	if v := family(t, s, "netdoctor_reach_expect_p99_seconds").GetMetric()[0].GetGauge().GetValue(); v != 0.5 {
		t.Errorf("expected p99 %v", v)
	}
}

func TestReachRejectsUnboundedLabels(t *testing.T) {
	s, _, hs := newTestServer(t, nil)
	for name, rep := range map[string]api.ReachReport{
		"n1-private_network": {NodeName: "n1", Paths: []api.ReachPath{{Kind: "10.0.0.7", Family: "IPv4", Latency: hist()}}},
		"n1-host_network":    {NodeName: "n1", Paths: []api.ReachPath{{Kind: "pod", Family: "IPv4", Latency: hist()}}},
		"n2-private_network": {NodeName: "n1"},
	} {
		if code := postReach(t, hs.URL, name, rep); code != http.StatusBadRequest {
			t.Errorf("%s %+v: status %d, want 400", name, rep, code)
		}
	}
	if mf := family(t, s, "netdoctor_reach_duration_seconds"); mf != nil {
		t.Fatalf("rejected reports left series: %v", mf)
	}
}
