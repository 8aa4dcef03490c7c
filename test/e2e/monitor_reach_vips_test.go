package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMonitorReachVIPs installs the monitor with reach rounds and the
// loadbalancer, ingress and gateway paths (--reach-ingress-class=auto,
// --reach-gateway=auto) on the suite's service cluster (MetalLB, Traefik
// with an IngressClass and a Gateway): install picks them; every node's
// pod-network agent exports each of those paths in both families with a
// success ratio of 1 and backends reached = expected = the 3 agents behind
// every address the server handed it (addresses read here from the LB
// Service's, the Ingress's and the Gateway's status). With Traefik down
// (sandbox fault ingress-down) the server finds path-down for ingress and
// gateway, not for loadbalancer. The cluster is shared with the reach
// tests: uninstall and fault removal leave it as found (no monitor object
// left, Traefik back).
func TestMonitorReachVIPs(t *testing.T) {
	c := serviceCluster(t)
	class := strings.TrimSpace(c.kubectl(t, "get", "ingressclasses", "-o", "jsonpath={.items[0].metadata.name}"))
	gw := strings.TrimSpace(c.kubectl(t, "get", "gateways.gateway.networking.k8s.io", "-A", "-o", "jsonpath={.items[0].metadata.namespace}/{.items[0].metadata.name}"))
	if class == "" || gw == "/" {
		t.Fatalf("service cluster: IngressClass %q, Gateway %q: want both (sandbox up --ingress)", class, gw)
	}
	dir := t.TempDir()
	r := netctl(t, dir, "monitor", "install", "--kubeconfig", c.Kubeconfig,
		"--interval="+monInterval.String(), "--node-port="+strconv.Itoa(monNodePort), "--timeout=2m",
		"--reach-schedule=0 1", "--reach-qps=200", "--reach-duration=5s", "--reach-timeout=2s",
		"--reach-load-balancer", "--reach-ingress-class=auto", "--reach-gateway=auto")
	t.Cleanup(func() {
		c.monitorUninstall(t, dir)
		for _, kind := range []string{"services", "ingresses", "httproutes.gateway.networking.k8s.io", "clusterroles"} {
			if out, err := c.kubectlErr("get", kind, "-A", "-l", "app.kubernetes.io/part-of=netdoctor-monitor", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("after uninstall: %s left %q (%v)", kind, out, err)
			}
		}
	})
	if r.Code != 0 {
		c.dumpMonitor(t)
		t.Fatalf("monitor install with the loadbalancer, ingress and gateway paths: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// auto picked the cluster's IngressClass and Gateway.
	if got := c.kubectl(t, "-n", monNS, "get", "ingress", "netdoctor-monitor-reach", "-o", "jsonpath={.spec.ingressClassName}"); got != class {
		t.Errorf("Ingress class %q, want the cluster's %q", got, class)
	}
	if got := c.kubectl(t, "-n", monNS, "get", "httproutes.gateway.networking.k8s.io", "netdoctor-monitor-reach", "-o", "jsonpath={.spec.parentRefs[0].namespace}/{.spec.parentRefs[0].name}"); got != gw {
		t.Errorf("HTTPRoute parent %q, want the cluster's Gateway %q", got, gw)
	}
	for _, o := range [][]string{{"service", "netdoctor-monitor-reach-lb"}, {"ingress", "netdoctor-monitor-reach"}, {"httproutes.gateway.networking.k8s.io", "netdoctor-monitor-reach"}} {
		if out := c.kubectl(t, "-n", monNS, "get", o[0], o[1], "-o", `jsonpath={.metadata.labels.app\.kubernetes\.io/part-of}`); out != "netdoctor-monitor" {
			t.Fatalf("%s %s: part-of %q, want netdoctor-monitor (monitor uninstall removes it)", o[0], o[1], out)
		}
	}

	// Addresses per path and family, as the cluster published them.
	addrs := map[string][]string{}
	monWaitFor(t, "LB and Ingress addresses", 2*time.Minute, func() (bool, string) {
		addrs["loadbalancer"] = strings.Fields(c.kubectl(t, "-n", monNS, "get", "service", "netdoctor-monitor-reach-lb", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"))
		addrs["ingress"] = strings.Fields(c.kubectl(t, "-n", monNS, "get", "ingress", "netdoctor-monitor-reach", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"))
		ns, name, _ := strings.Cut(gw, "/")
		addrs["gateway"] = strings.Fields(c.kubectl(t, "-n", ns, "get", "gateways.gateway.networking.k8s.io", name, "-o", "jsonpath={.status.addresses[*].value}"))
		return len(addrs["loadbalancer"]) > 0 && len(addrs["ingress"]) > 0 && len(addrs["gateway"]) > 0, fmt.Sprint(addrs)
	})
	perFamily := func(path, fam string) int {
		n := 0
		for _, a := range addrs[path] {
			if strings.Contains(a, ":") == (fam == "IPv6") {
				n++
			}
		}
		return n
	}
	srv := c.monitorURL(t)
	var want []string
	for _, n := range c.Nodes {
		for _, path := range []string{"loadbalancer", "ingress", "gateway"} {
			for _, fam := range []string{"IPv4", "IPv6"} {
				if perFamily(path, fam) == 0 {
					t.Fatalf("%s has no %s address: %v", path, fam, addrs[path])
				}
				want = append(want, n.Name+"/"+path+"/"+fam)
			}
		}
	}
	sort.Strings(want)
	var final monReach
	monReachWait(t, srv, "every node's loadbalancer, ingress and gateway paths healthy with every backend reached", 5*time.Minute, func(got monReach, f []monFinding) (bool, string) {
		final = got
		var bad []string
		for _, k := range want {
			parts := strings.Split(k, "/")
			v := got[k]
			exp := float64(len(c.Nodes) * perFamily(parts[1], parts[2]))
			if v == nil || v["netdoctor_reach_duration_seconds_count"] <= 0 || v["netdoctor_reach_success_ratio"] != 1 ||
				v["netdoctor_reach_backends_expected"] != exp || v["netdoctor_reach_backends_reached"] != exp {
				bad = append(bad, fmt.Sprintf("%s %v (want backends %v)", k, v, exp))
			}
		}
		return len(bad) == 0 && len(f) == 0, fmt.Sprintf("not healthy yet: %v", bad)
	})
	for _, k := range want {
		t.Logf("%s: %v requests, latest success ratio %v, p99 %.2f ms, backends %v/%v", k, final[k]["netdoctor_reach_requests_total"],
			final[k]["netdoctor_reach_success_ratio"], final[k]["netdoctor_reach_p99_seconds"]*1e3,
			final[k]["netdoctor_reach_backends_reached"], final[k]["netdoctor_reach_backends_expected"])
	}

	// A real fault: Traefik scaled to 0. Its Ingress and HTTPRoute stop
	// answering; the monitor's own LoadBalancer Service (MetalLB straight
	// to the agents) keeps working.
	restore := c.monitorFault(t, "ingress-down")
	monReachWait(t, srv, "path-down for ingress and gateway (not loadbalancer)", 4*time.Minute, func(got monReach, f []monFinding) (bool, string) {
		down := map[string]bool{}
		for _, x := range f {
			if x.Kind == "path-down" {
				down[x.Target] = true
			}
		}
		lbOK := true
		for _, n := range c.Nodes {
			lbOK = lbOK && got[n.Name+"/loadbalancer/IPv4"]["netdoctor_reach_success_ratio"] == 1
		}
		return down["ingress"] && down["gateway"] && !down["loadbalancer"] && lbOK, fmt.Sprintf("path-down %v, loadbalancer healthy %v", down, lbOK)
	})
	restore()
}
