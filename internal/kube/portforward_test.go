package kube

import "testing"

// TestIsProxyDialError: only the pod proxy's failures to connect to the pod
// lead to a port-forward; auth errors and agent answers do not.
func TestIsProxyDialError(t *testing.T) {
	for _, c := range []struct {
		status int
		msg    string
		want   bool
	}{
		{503, "error trying to reach service: dial tcp 100.98.1.3:8890: connect: no route to host", true},
		{503, "error trying to reach service: dial tcp [fd00::3]:8890: i/o timeout", true},
		{502, "error trying to reach service: dial tcp 100.98.1.3:8890: connect: connection refused", true},
		{401, "unauthorized", false},
		{403, "pods \"x\" is forbidden: User cannot create resource \"pods/proxy\"", false},
		{503, "the agent is draining", false},
		{400, "dial tcp: bad request", false},
	} {
		if got := IsProxyDialError(c.status, c.msg); got != c.want {
			t.Errorf("IsProxyDialError(%d, %q) = %v, want %v", c.status, c.msg, got, c.want)
		}
	}
}
