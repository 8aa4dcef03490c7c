package netpol

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

func TestArgsPerFamily(t *testing.T) {
	for _, tc := range []struct {
		family       string
		v4, v6       string
		serviceCount int
	}{
		{plan.Dual, "--enable-ipv4=true", "--enable-ipv6=true", 2},
		{plan.IPv4, "--enable-ipv4=true", "--enable-ipv6=false", 1},
		{plan.IPv6, "--enable-ipv4=false", "--enable-ipv6=true", 1},
	} {
		p, err := plan.New("t", 3, 2, tc.family, 1)
		if err != nil {
			t.Fatal(err)
		}
		s := &state.State{Plan: *p}
		a := strings.Join(Args(s, "/x/kube-router.kubeconfig", "t-node-1"), " ")
		for _, want := range []string{
			tc.v4, tc.v6, "--hostname-override=t-node-1", "--kubeconfig=/x/kube-router.kubeconfig",
			"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--run-loadbalancer=false",
			"--health-port=0", "--metrics-addr=127.0.0.1",
			"--service-cluster-ip-range=" + strings.Join(p.ServiceCIDR, ","),
		} {
			if !strings.Contains(a+" ", want+" ") {
				t.Errorf("%s: args %q lack %q", tc.family, a, want)
			}
		}
		if len(p.ServiceCIDR) != tc.serviceCount {
			t.Errorf("%s: %d service ranges", tc.family, len(p.ServiceCIDR))
		}
	}
}

func TestCheckNamesMakeTarget(t *testing.T) {
	err := Check(filepath.Join(t.TempDir(), "kube-router"))
	if err == nil || !strings.Contains(err.Error(), MakeTarget) {
		t.Fatalf("Check(missing) = %v, want an error naming %q", err, MakeTarget)
	}
	// A directory or a non-executable file is not a binary either.
	f := filepath.Join(t.TempDir(), "kube-router")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(f); err == nil {
		t.Fatal("Check(non-executable file) = nil")
	}
	// An executable that is not the patched kube-router build is refused.
	sh := filepath.Join(t.TempDir(), "kube-router")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\necho 'Running kube-router version v2.1.0, built on x' >&2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Check(sh); err == nil || !strings.Contains(err.Error(), MakeTarget) {
		t.Fatalf("Check(unpatched v2.1.0) = %v, want an error naming %q", err, MakeTarget)
	}
	sh2 := filepath.Join(t.TempDir(), "kube-router")
	if err := os.WriteFile(sh2, []byte("#!/bin/sh\necho 'Running kube-router version "+Build+", built on x' >&2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Check(sh2); err != nil {
		t.Fatalf("Check(%s) = %v", Build, err)
	}
}

func TestBinaryNextToSelf(t *testing.T) {
	if got := Binary("/a/b/netdoctor-sandbox"); got != "/a/b/kube-router" {
		t.Fatalf("Binary = %s", got)
	}
}
