package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// dashboardFile is the Grafana dashboard shipped in deploy/ (and, as a copy,
// by the Helm chart).
var dashboardFile = filepath.Join("..", "..", "..", "deploy", "grafana", "netdoctor.json")

// exportedNames returns every series name the server's registry exports
// once each kind of report has been recorded: histograms as their _bucket,
// _sum and _count series.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	s, _, hs := newTestServer(t, nil)
	send(t, hs, report("n1", api.NetworkPod, peer("n2", api.NetworkPod, true), peer("n2", api.NetworkHost, false)))
	r := report("n2", api.NetworkHost, peer("n1", api.NetworkPod, true))
	r.DNS.OK = false
	send(t, hs, r)
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range fams {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				out[f.GetName()+suffix] = true
			}
			continue
		}
		out[f.GetName()] = true
	}
	return out
}

// dashQuery is one PromQL expression found in the dashboard and where.
type dashQuery struct {
	where, expr string
}

// dashboardQueries walks the dashboard JSON with minimal types: every
// panel target's expr (rows' nested panels too) and every template
// variable's label_values(...) metric.
func dashboardQueries(t *testing.T) (queries []dashQuery, panels int) {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" {
		t.Error("dashboard has no uid (Grafana would make a new dashboard on every load)")
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" || p.Type == "text" {
				continue
			}
			panels++
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has an empty expr", p.Title, tg.RefID)
				}
				queries = append(queries, dashQuery{p.Title + "/" + tg.RefID, tg.Expr})
			}
		}
	}
	walk(dash.Panels)
	labelValues := regexp.MustCompile(`^label_values\((\w+),\s*\w+\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		queries = append(queries, dashQuery{"variable " + v.Name, m[1]})
	}
	return queries, panels
}

// grafanaVars are Grafana's own interval variables; any other $name is a
// dashboard variable used inside a label matcher's quotes.
var (
	grafanaIntervals = regexp.MustCompile(`\$(__rate_interval|__interval|__range)|\$\{(__rate_interval|__interval|__range)\}`)
	dashboardVar     = regexp.MustCompile(`\$\{?\w+\}?`)
)

// TestDashboardQueriesUseExportedMetrics parses every query of the Grafana
// dashboard with Prometheus' own parser and checks that each metric it
// selects is one the server's registry exports.
func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	exported := exportedNames(t)
	for _, want := range []string{"netdoctor_probe_success", "netdoctor_probe_duration_seconds_bucket", "netdoctor_dns_success", "netdoctor_agent_report_age_seconds"} {
		if !exported[want] {
			t.Fatalf("the test server state exports no %s; exported: %v", want, sortedKeys(exported))
		}
	}
	queries, panels := dashboardQueries(t)
	if panels < 10 || len(queries) < panels {
		t.Fatalf("dashboard has %d panels and %d queries; want the full dashboard", panels, len(queries))
	}
	used := map[string]bool{}
	for _, q := range queries {
		expr := grafanaIntervals.ReplaceAllString(q.expr, "5m")
		expr = dashboardVar.ReplaceAllString(expr, "x")
		e, err := parser.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		names := 0
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			names++
			used[name] = true
			if !exported[name] {
				t.Errorf("%s: metric %q is not exported by the server (query %q)", q.where, name, q.expr)
			}
			return nil
		})
		if names == 0 {
			t.Errorf("%s: %q selects no metric", q.where, q.expr)
		}
	}
	// The panels: success rate, worst pairs, latency, DNS, report age.
	for _, want := range []string{"netdoctor_probe_success", "netdoctor_probe_consecutive_failures",
		"netdoctor_probe_duration_seconds_bucket", "netdoctor_dns_success", "netdoctor_agent_report_age_seconds"} {
		if !used[want] {
			t.Errorf("no dashboard query uses %s", want)
		}
	}
	t.Logf("%d panels, %d queries, %d metrics used, all exported", panels, len(queries), len(used))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
