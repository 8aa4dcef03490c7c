package diagnose

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// KubeProxyStuckAfter: a change kube-proxy queued this long ago and has
// not applied means it stopped syncing (kube-proxy's own healthz turns
// unhealthy after twice its default 30 s sync period: the same bound).
const KubeProxyStuckAfter = 60 * time.Second

// AnalyzeKubeProxy names the nodes whose kube-proxy says it is not
// syncing: healthz 503 or healthy false, or a sync queued more than
// KubeProxyStuckAfter ago still pending in its metrics. A node where
// neither endpoint answers is inconclusive.
func AnalyzeKubeProxy(nodes []kube.Node, facts map[string]agent.NodeFacts) ([]report.Finding, []Inconclusive) {
	var out []report.Finding
	var inc []Inconclusive
	for _, n := range sortedNodes(nodes) {
		f, ok := facts[n.Name]
		if !ok || f.KubeProxy == nil {
			continue
		}
		kp := f.KubeProxy
		if kp.HealthzError != "" && kp.MetricsError != "" {
			inc = append(inc, Inconclusive{Rule: KindKubeProxyNotSyncing, Nodes: []string{n.Name},
				Reason: fmt.Sprintf("kube-proxy's healthz (%s: %s) and metrics (%s: %s) did not answer in the node's network namespace: not running there, listening elsewhere, or replaced by the CNI",
					agent.KubeProxyHealthzURL, kp.HealthzError, agent.KubeProxyMetricsURL, kp.MetricsError)})
			continue
		}
		var why []string
		if kp.HealthzError == "" && (kp.StatusCode == 503 || (kp.Healthy != nil && !*kp.Healthy)) {
			s := fmt.Sprintf("healthz answers %d", kp.StatusCode)
			if kp.LastUpdated != nil {
				s += fmt.Sprintf(", rules last updated %s before", kp.Now.Sub(*kp.LastUpdated).Round(time.Second))
			}
			why = append(why, s)
		}
		for _, fam := range slices.Sorted(maps.Keys(kp.Families)) {
			st := kp.Families[fam]
			if st.LastQueued.After(st.LastSync) && kp.Now.Sub(st.LastQueued) > KubeProxyStuckAfter {
				why = append(why, fmt.Sprintf("%s: a change queued %s before is not applied (last sync %s before)",
					fam, kp.Now.Sub(st.LastQueued).Round(time.Second), kp.Now.Sub(st.LastSync).Round(time.Second)))
			}
		}
		if len(why) == 0 {
			continue
		}
		out = append(out, report.Finding{Kind: KindKubeProxyNotSyncing, Nodes: []string{n.Name},
			Summary:  fmt.Sprintf("kube-proxy on %s is not syncing its rules: Service changes do not reach this node", n.Name),
			Evidence: strings.Join(why, "; ") + fmt.Sprintf(" (%s, %s)", agent.KubeProxyHealthzURL, agent.KubeProxyMetricsURL),
			Failed:   1, Total: 1})
	}
	return out, inc
}
