package check

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/report"
)

// TestAgentAccess: two agents the pod proxy cannot dial (503). With proxy
// their rows quote the proxy's error and no port-forward is tried; with
// auto a port-forward is tried for each (here it cannot open: the fake
// client has no config), the note is said once, and the rows carry both
// reasons.
func TestAgentAccess(t *testing.T) {
	for _, access := range []string{config.AgentAccessProxy, config.AgentAccessAuto} {
		t.Run(access, func(t *testing.T) {
			proxy := newPodProxy(t, nil)
			c, _ := testCluster(proxy,
				node("node-1", "10.0.0.1"), node("node-2", "10.0.0.2"),
				agentPod("broken-a", "node-1", "127.0.0.1", true),
				agentPod("broken-b", "node-2", "127.0.0.2", true),
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: deploy.TokenSecretName, Namespace: "nd"}, Data: map[string][]byte{"token": []byte(testToken)}},
			)
			cfg := testConfig(closedPort(t))
			cfg.AgentAccess = access
			spec, _ := plan.FromConfig(cfg)
			c.Networks, _ = spec.Networks()
			var log bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := execute(ctx, Options{Config: cfg, Log: &log}, spec, []*cluster{c}, &report.Report{Started: time.Now()}, &log)
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			if len(rep.Rows) != 4 {
				t.Fatalf("%d rows", len(rep.Rows))
			}
			for _, r := range rep.Rows {
				if r.Result != report.Exception || !strings.Contains(r.Log, "error trying to reach service: dial tcp 10.1.2.5:8889: connect: connection refused") {
					t.Errorf("%s->%s: %s %q", r.SrcNode, r.DstNode, r.Result, r.Log)
				}
				if got := strings.Contains(r.Log, "port-forward:"); got != (access == config.AgentAccessAuto) {
					t.Errorf("%s: row mentions port-forward %v: %q", access, got, r.Log)
				}
			}
			note := "reaching agents it cannot reach through port-forwards instead"
			if n, want := strings.Count(log.String(), note), map[string]int{config.AgentAccessProxy: 0, config.AgentAccessAuto: 1}[access]; n != want {
				t.Errorf("note said %d times, want %d\n%s", n, want, log.String())
			}
		})
	}
}
