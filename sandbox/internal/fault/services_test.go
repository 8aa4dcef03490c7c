package fault

import (
	"strings"
	"testing"
)

func TestParseServiceFaults(t *testing.T) {
	for words, want := range map[string]string{
		"endpoint-drop default/echo echo-x": "endpoint-drop default/echo echo-x",
		"nodeport-block n2":                 "nodeport-block n2",
		"svc-rules-flush n1":                "svc-rules-flush n1",
		"endpoint-drop echo":                "fault endpoint-drop takes arguments: SERVICE POD",
		"nodeport-block":                    "fault nodeport-block takes arguments: NODE",
		"svc-rules-flush n1 n2":             "fault svc-rules-flush takes arguments: NODE",
		"kube-proxy-sync-fail n1":           "kube-proxy-sync-fail n1",
		"kube-proxy-sync-fail":              "fault kube-proxy-sync-fail takes arguments: NODE",
		"rp-filter-asymmetric n1 n2":        "rp-filter-asymmetric n1 n2",
		"rp-filter-asymmetric n1":           "fault rp-filter-asymmetric takes arguments: NODE PEER",
		"rp-filter-asymmetric n1 n1":        "fault rp-filter-asymmetric: NODE and PEER must be different nodes",
	} {
		sp, err := Parse(strings.Fields(words))
		got := sp.ID()
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("Parse(%q) = %q, want %q", words, got, want)
		}
	}
}

func TestIsKubeProxyChain(t *testing.T) {
	for c, want := range map[string]bool{
		"KUBE-SERVICES": true, "KUBE-SVC-ABC": true, "KUBE-SEP-X": true, "KUBE-NODEPORTS": true, "KUBE-EXT-Q": true,
		"KUBE-ROUTER-INPUT": false, "KUBE-POD-FW-ABC": false, "KUBE-NWPLCY-X": false, "KUBE-PROXY-CANARY": false, "PREROUTING": false,
	} {
		if isKubeProxyChain(c) != want {
			t.Errorf("isKubeProxyChain(%s) = %v", c, !want)
		}
	}
}
