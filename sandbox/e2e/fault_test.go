package e2e

import (
	"strings"
	"testing"
)

// TestFaults injects each fault, checks it breaks exactly what it says while
// the rest keeps working and the guards hold, then checks removal restores.
func TestFaults(t *testing.T) {
	need(t)
	p1, p2, p3 := echoPods[0], echoPods[1], echoPods[2]
	n1, n2 := st.Nodes[0].Name, st.Nodes[1].Name
	type probe struct {
		what string
		fn   func() error
	}
	tcp := func(a, b int) probe {
		return probe{echoPods[a].Spec.NodeName + "->" + echoPods[b].Spec.NodeName + " tcp", func() error {
			for f := 0; f < 2; f++ {
				if err := reach(echoPods[a], echoPods[b], "tcp", f); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	icmp := func(a, b int) probe {
		return probe{echoPods[a].Spec.NodeName + "->" + echoPods[b].Spec.NodeName + " icmp", func() error {
			return reach(echoPods[a], echoPods[b], "icmp", 0)
		}}
	}
	udp := func(a, b, size int) probe {
		return probe{echoPods[a].Spec.NodeName + "->" + echoPods[b].Spec.NodeName + " udp", func() error {
			for f := 0; f < 2; f++ {
				if err := udpEcho(podNetns[echoPods[a].Name], hostPort(podIPs(echoPods[b])[f], echoPort), size); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	dns := probe{"cluster DNS", func() error {
		_, err := dig(podNetns[p3.Name], st.DNSIPs[0], "kubernetes.default.svc.cluster.local", "A")
		return err
	}}
	cases := []struct {
		fault  []string
		broken []probe
		intact []probe
	}{
		{[]string{"link", n1, n2}, []probe{tcp(0, 1), tcp(1, 0)}, []probe{tcp(0, 2), tcp(2, 1)}},
		{[]string{"oneway", n1, n2}, []probe{tcp(0, 1), icmp(0, 1)}, []probe{tcp(1, 0), icmp(1, 0), tcp(0, 2)}},
		{[]string{"port", n2, "8080", "tcp"}, []probe{tcp(0, 1), tcp(2, 1)}, []probe{udp(0, 1, 64), tcp(0, 2)}},
		{[]string{"isolate", "default/" + p2.Name}, []probe{tcp(0, 1), tcp(1, 2)}, []probe{tcp(0, 2), tcp(2, 0)}},
		// Replies to NODE's pods need the route too: both directions break.
		{[]string{"pod-routes", n2}, []probe{tcp(0, 1), icmp(2, 1), tcp(1, 0)}, []probe{tcp(0, 2), tcp(2, 0)}},
		{[]string{"mtu", n2, "1280"}, []probe{udp(0, 1, 1400)}, []probe{udp(0, 1, 200), udp(0, 2, 1400)}},
		{[]string{"dns-down"}, []probe{dns}, []probe{tcp(0, 1)}},
	}
	_ = p1
	for _, c := range cases {
		t.Run(strings.Join(c.fault, "_"), func(t *testing.T) {
			for _, p := range append(append([]probe{}, c.broken...), c.intact...) {
				if err := p.fn(); err != nil {
					t.Fatalf("before the fault, %s fails: %v", p.what, err)
				}
			}
			mustSandbox(t, append([]string{"fault", "add", "--name", clusterName}, c.fault...)...)
			removed := false
			defer func() {
				if !removed {
					sandbox(append([]string{"fault", "remove", "--name", clusterName}, c.fault...)...)
				}
			}()
			if out := mustSandbox(t, "fault", "list", "--name", clusterName); !strings.Contains(out, strings.Join(c.fault, " ")) {
				t.Errorf("fault list does not show it: %q", out)
			}
			for _, p := range c.broken {
				if err := p.fn(); err == nil {
					t.Errorf("with the fault, %s still works", p.what)
				}
			}
			for _, p := range c.intact {
				if err := p.fn(); err != nil {
					t.Errorf("with the fault, %s broke too: %v", p.what, err)
				}
			}
			guardsHold(t, st)
			mustSandbox(t, append([]string{"fault", "remove", "--name", clusterName}, c.fault...)...)
			removed = true
			for _, p := range append(append([]probe{}, c.broken...), c.intact...) {
				if err := p.fn(); err != nil {
					t.Errorf("after removal, %s fails: %v", p.what, err)
				}
			}
			if out := mustSandbox(t, "fault", "list", "--name", clusterName); strings.TrimSpace(out) != "" {
				t.Errorf("fault list after removal: %q", out)
			}
		})
	}
}

// TestFaultNetemSkipsClearly: delay needs tc netem (loss uses nftables). Without sch_netem the
// fault must fail with exit code 3 and say why, changing nothing.
func TestFaultNetemSkipsClearly(t *testing.T) {
	need(t)
	r := sandbox("fault", "add", "--name", clusterName, "delay", st.Nodes[0].Name, "50ms")
	switch r.code {
	case 0:
		t.Log("tc netem is available here; removing the delay")
		mustSandbox(t, "fault", "remove", "--name", clusterName, "delay", st.Nodes[0].Name, "50ms")
	case 3:
		if !strings.Contains(r.stderr, "netem") {
			t.Errorf("skip reason does not mention netem: %q", r.stderr)
		}
		if out := mustSandbox(t, "fault", "list", "--name", clusterName); strings.TrimSpace(out) != "" {
			t.Errorf("skipped fault recorded: %q", out)
		}
	default:
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}
