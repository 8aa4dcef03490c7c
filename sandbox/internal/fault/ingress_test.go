package fault

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// TestIngressDownNeedsIngress: on a cluster without --ingress the fault is
// bad input naming the flag, and nothing is recorded.
func TestIngressDownNeedsIngress(t *testing.T) {
	sp, err := Parse([]string{"ingress-down"})
	if err != nil || sp.ID() != "ingress-down" {
		t.Fatalf("Parse: %v %q", err, sp.ID())
	}
	if _, err := Parse([]string{"ingress-down", "x"}); err == nil {
		t.Error("ingress-down with an argument accepted")
	}
	st := &state.State{}
	st.Name = "c1"
	_, err = Add(context.Background(), st, sp)
	if !errors.Is(err, cluster.ErrBadInput) || !strings.Contains(err.Error(), "up --ingress") {
		t.Errorf("Add on a cluster without --ingress: %v, want bad input naming up --ingress", err)
	}
	if len(st.Faults) != 0 {
		t.Errorf("faults recorded: %v", st.Faults)
	}
}
