package e2e

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// serviceOutput is the part of `netctl diagnose -o json` the Service
// dataplane tests read.
type serviceOutput struct {
	Facts map[string]struct {
		ServiceRules *struct {
			Mode      string `json:"mode"`
			Skipped   string `json:"skipped"`
			Frontends []struct {
				Service   string   `json:"service"`
				IP        string   `json:"ip"`
				Endpoints []string `json:"endpoints"`
			} `json:"frontends"`
		} `json:"serviceRules"`
	} `json:"facts"`
	Findings     []kernelFinding `json:"findings"`
	Inconclusive []struct {
		Rule  string   `json:"rule"`
		Nodes []string `json:"nodes"`
	} `json:"inconclusive"`
}

// natRules is the node's iptables nat table as iptables-save prints it:
// the kernel's state, read without netctl.
func natRules(t *testing.T, ns string) string {
	t.Helper()
	return inNetns(t, ns, "iptables-save", "-t", "nat")
}

// waitRules polls every node in nodes until cond holds for its nat table.
func waitRules(t *testing.T, c *cluster, nodes []string, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range nodes {
		ns := c.netnsOf(t, n)
		for !cond(natRules(t, ns)) {
			if time.Now().After(deadline) {
				t.Fatalf("node %s: %s did not happen within 60s:\n%s", n, what, natRules(t, ns))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// dnatTargets are the DNAT destinations of a nat table, sorted.
func dnatTargets(nat string) []string {
	var out []string
	for _, l := range strings.Split(nat, "\n") {
		if _, to, ok := strings.Cut(l, "--to-destination "); ok {
			out = append(out, strings.Fields(to)[0])
		}
	}
	sort.Strings(out)
	return out
}

// naming checks that every finding's summary names node and returns the
// findings without their summaries, to compare.
func naming(t *testing.T, findings []kernelFinding, node string) []kernelFinding {
	t.Helper()
	var out []kernelFinding
	for _, f := range findings {
		if !strings.Contains(f.Summary, node) {
			t.Errorf("summary does not name %s: %s", node, f.Summary)
		}
		f.Summary = ""
		out = append(out, f)
	}
	return out
}

// TestDiagnoseServices: kube-proxy's rules read from each node's kernel are
// compared with the API: a stopped kube-proxy (sandbox fault
// kube-proxy-stop) misses a Service created afterwards, and keeps DNATing
// to a CoreDNS replica scaled away; only that node is named.
func TestDiagnoseServices(t *testing.T) {
	c, names := diagnoseCluster(t, "e2edx", 4)
	dir := t.TempDir()
	diag := func(t *testing.T) serviceOutput {
		t.Helper()
		var out serviceOutput
		r := diagnoseInto(t, c, dir, &out)
		if want := min(len(out.Findings), 1); r.Code != want {
			t.Errorf("exit %d with %d findings\n%s", r.Code, len(out.Findings), r.Stderr)
		}
		return out
	}

	healthy := func(t *testing.T) {
		out := diag(t)
		if len(out.Findings) != 0 || len(out.Inconclusive) != 0 {
			t.Fatalf("healthy cluster: findings %+v, inconclusive %+v", out.Findings, out.Inconclusive)
		}
		for _, n := range names {
			sr := out.Facts[n].ServiceRules
			if sr == nil || sr.Mode != "iptables-nft" || sr.Skipped != "" {
				t.Fatalf("node %s: service rules %+v, want read from iptables-nft", n, sr)
			}
			found := false
			for _, fe := range sr.Frontends {
				if fe.Service == "kube-system/kube-dns:dns" && slices.Contains(c.DNSIPs, fe.IP) && len(fe.Endpoints) == len(c.dnsPods(t)) {
					found = true
				}
			}
			if !found {
				t.Errorf("node %s: no kube-dns:dns frontend with %d endpoints in %+v", n, len(c.dnsPods(t)), sr.Frontends)
			}
		}
	}
	t.Run("healthy", healthy)

	x := names[1]
	others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == x })
	c.fault(t, "kube-proxy-stop", x)

	t.Run("rules-missing", func(t *testing.T) {
		// In kube-system, beside the CoreDNS pods it selects.
		c.kubectl(t, "-n", "kube-system", "create", "service", "clusterip", "nd-diag-svc", "--tcp=5353:53")
		defer c.kubectl(t, "-n", "kube-system", "delete", "service", "nd-diag-svc")
		// The CoreDNS pods are its endpoints (create set the selector app=nd-diag-svc).
		c.kubectl(t, "-n", "kube-system", "patch", "service", "nd-diag-svc", "--type=json", "-p", `[{"op":"replace","path":"/spec/selector","value":{"k8s-app":"kube-dns"}}]`)
		// Every running kube-proxy has programmed it (its comment names it).
		waitRules(t, c, others, "rules for kube-system/nd-diag-svc", func(s string) bool { return strings.Contains(s, `"kube-system/nd-diag-svc:5353-53 cluster IP"`) })
		if strings.Contains(natRules(t, c.netnsOf(t, x)), "nd-diag-svc") {
			t.Fatalf("node %s has rules for the new Service although its kube-proxy is stopped", x)
		}
		got := naming(t, diag(t).Findings, x)
		want := []kernelFinding{{Kind: "service-rules-missing", Nodes: []string{x}, Target: "kube-system/nd-diag-svc:5353-53"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("findings %+v, want %+v", got, want)
		}
	})

	t.Run("rules-stale", func(t *testing.T) {
		before := c.dnsPods(t)
		if len(before) != 2 {
			t.Fatalf("want 2 CoreDNS pods, got %+v", before)
		}
		c.kubectl(t, "-n", "kube-system", "scale", "deployment", "coredns", "--replicas=1")
		defer func() {
			c.kubectl(t, "-n", "kube-system", "scale", "deployment", "coredns", "--replicas=2")
			c.kubectl(t, "-n", "kube-system", "rollout", "status", "deployment", "coredns", "--timeout=120s")
		}()
		var gone dnsPod
		deadline := time.Now().Add(90 * time.Second)
		for {
			after := c.dnsPods(t)
			if len(after) == 1 {
				for _, p := range before {
					if p.Name != after[0].Name {
						gone = p
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CoreDNS still has %d pods", len(after))
			}
			time.Sleep(500 * time.Millisecond)
		}
		// The running kube-proxies dropped the removed replica; x's still DNATs to it.
		waitRules(t, c, others, "removal of "+gone.IPv4, func(s string) bool { return !strings.Contains(s, gone.IPv4+":53") })
		if !strings.Contains(natRules(t, c.netnsOf(t, x)), gone.IPv4+":53") {
			t.Fatalf("node %s no longer DNATs to %s", x, gone.IPv4)
		}
		out := diag(t)
		var got []kernelFinding
		for _, f := range out.Findings {
			if !strings.Contains(f.Summary, x) {
				t.Errorf("summary does not name %s: %s", x, f.Summary)
			}
			// x's queries to the DNS Service IP hit the dead replica when
			// its stale rules pick it (at random, per query): a consequence
			// that may or may not show, always naming x only.
			if f.Kind == "dns-node-failing" && reflect.DeepEqual(f.Nodes, []string{x}) {
				continue
			}
			f.Summary = ""
			got = append(got, f)
		}
		want := []kernelFinding{{Kind: "service-rules-stale", Nodes: []string{x}, Target: "kube-system/kube-dns:dns,kube-system/kube-dns:dns-tcp"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("findings %+v, want %+v", got, want)
		}
	})

	// Every kube-proxy (x's restarted one included) synced the last
	// changes (the CoreDNS replica scaled back): the same DNAT targets on
	// every node, and no finding.
	settled := func(t *testing.T) {
		waitRules(t, c, names[1:], "kube-proxy's resync", func(s string) bool {
			return reflect.DeepEqual(dnatTargets(s), dnatTargets(natRules(t, c.netnsOf(t, names[0]))))
		})
		healthy(t)
	}
	c.unfault(t, "kube-proxy-stop", x)
	t.Run("healthy-after-restart", settled)

	t.Run("rules-flushed", func(t *testing.T) {
		// Like "iptables cleared": x's kube-proxy chains exist but are
		// empty (sandbox fault svc-rules-flush, which also holds kube-proxy
		// stopped). Every Service port is missing on x, and only there.
		y := others[0]
		c.fault(t, "svc-rules-flush", y)
		defer c.unfault(t, "svc-rules-flush", y)
		var ports []string
		var svcs struct {
			Items []struct {
				Metadata struct{ Name, Namespace string }
				Spec     struct {
					ClusterIP string
					Ports     []struct{ Name string }
				}
			}
		}
		c.kubectlJSON(t, &svcs, "get", "services", "-A")
		for _, it := range svcs.Items {
			for _, p := range it.Spec.Ports {
				if it.Spec.ClusterIP != "None" {
					ports = append(ports, it.Metadata.Namespace+"/"+it.Metadata.Name+":"+p.Name)
				}
			}
		}
		sort.Strings(ports)
		out := diag(t)
		var got []kernelFinding
		for _, f := range out.Findings {
			f.Summary = ""
			got = append(got, f)
		}
		// Its queries to the DNS Service IP fail while the replicas answer
		// it directly: the DNS rule names the node too.
		want := []kernelFinding{{Kind: "service-rules-missing", Nodes: []string{y}, Target: strings.Join(ports, ",")},
			{Kind: "dns-node-failing", Nodes: []string{y}, Protocol: "dns"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("findings %+v, want %+v", got, want)
		}
	})

	t.Run("healthy-again", settled)
}

// TestDiagnoseDNS: every node's host agent queries the DNS Service and each
// CoreDNS replica; one replica isolated (sandbox fault isolate: its node
// drops all its traffic) is named, with its node, and nothing else.
func TestDiagnoseDNS(t *testing.T) {
	c := sharedCluster(t, "e2edx", 4, "dual")
	dir := t.TempDir()
	type dnsOut struct {
		DNS []struct {
			Node, Server, Pod string
			Result            struct{ OK bool }
		} `json:"dns"`
		Findings []kernelFinding `json:"findings"`
	}
	diag := func(t *testing.T) dnsOut {
		t.Helper()
		var out dnsOut
		diagnoseInto(t, c, dir, &out)
		return out
	}
	pods := c.dnsPods(t)
	out := diag(t)
	// Each node asked each Service IP and each replica address.
	want := len(c.Nodes) * (len(c.DNSIPs) + 2*len(pods))
	if len(out.DNS) != want || len(out.Findings) != 0 {
		t.Fatalf("healthy: %d queries (want %d), findings %+v", len(out.DNS), want, out.Findings)
	}
	for _, q := range out.DNS {
		if !q.Result.OK {
			t.Errorf("healthy: %s -> %s (%s) failed", q.Node, q.Server, q.Pod)
		}
	}

	p := pods[0]
	c.fault(t, "isolate", "kube-system/"+p.Name)
	out = diag(t)
	var got []kernelFinding
	for _, f := range out.Findings {
		f.Summary = ""
		got = append(got, f)
	}
	if w := []kernelFinding{{Kind: "dns-replica-failing", Protocol: "dns", Nodes: []string{p.Node}, Target: "kube-system/" + p.Name}}; !reflect.DeepEqual(got, w) {
		t.Errorf("isolated replica %s on %s: findings %+v, want %+v", p.Name, p.Node, got, w)
	}
	c.unfault(t, "isolate", "kube-system/"+p.Name)
	if out := diag(t); len(out.Findings) != 0 {
		t.Errorf("after the fault: findings %+v", out.Findings)
	}
}

// TestDiagnoseServicesNftables: kube-proxy in nftables mode (table
// kube-proxy, verdict maps) is read too: a healthy cluster is clean, and a
// Service created while one node's kube-proxy is stopped is missing there.
func TestDiagnoseServicesNftables(t *testing.T) {
	c := ownCluster(t, "e2ednft", 2, "dual", "--proxy-mode", "nftables")
	names := c.nodeNames()
	sort.Strings(names)
	dir := t.TempDir()
	var out serviceOutput
	// A cluster just up: each kube-proxy's first sync may still be on its
	// way (CI saw kube-dns missing on one node 4 s after up), so healthy
	// means clean within 30 s.
	for i := 0; ; i++ {
		out = serviceOutput{}
		r := diagnoseInto(t, c, dir, &out)
		if r.Code == 0 && len(out.Findings) == 0 && len(out.Inconclusive) == 0 {
			break
		}
		if i == 5 {
			t.Fatalf("healthy: exit %d, findings %+v, inconclusive %+v", r.Code, out.Findings, out.Inconclusive)
		}
		time.Sleep(5 * time.Second)
	}
	for _, n := range names {
		if sr := out.Facts[n].ServiceRules; sr == nil || sr.Mode != "nftables" || len(sr.Frontends) == 0 {
			t.Fatalf("node %s: service rules %+v, want frontends read from nftables", n, sr)
		}
	}
	x, y := names[0], names[1]
	c.fault(t, "kube-proxy-stop", x)
	c.kubectl(t, "-n", "kube-system", "create", "service", "clusterip", "nd-diag-nft", "--tcp=5353:53")
	defer c.kubectl(t, "-n", "kube-system", "delete", "service", "nd-diag-nft")
	// y's running kube-proxy adds it to its maps (no endpoints: no-endpoint-services, the element comment naming it).
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(inNetns(t, c.netnsOf(t, y), "nft", "list", "map", "ip", "kube-proxy", "service-ips")+
		inNetns(t, c.netnsOf(t, y), "nft", "list", "map", "ip", "kube-proxy", "no-endpoint-services"), "nd-diag-nft") {
		if time.Now().After(deadline) {
			t.Fatalf("node %s never programmed kube-system/nd-diag-nft", y)
		}
		time.Sleep(500 * time.Millisecond)
	}
	out = serviceOutput{}
	diagnoseInto(t, c, dir, &out)
	var got []kernelFinding
	for _, f := range out.Findings {
		f.Summary = ""
		got = append(got, f)
	}
	if want := []kernelFinding{{Kind: "service-rules-missing", Nodes: []string{x}, Target: "kube-system/nd-diag-nft:5353-53"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("findings %+v, want %+v", got, want)
	}
}

// kubeProxyHealthz is the status line of the node's kube-proxy healthz
// (127.0.0.1:10256 inside the node's namespace), asked with bash's
// /dev/tcp: netctl is not used to judge netctl.
func kubeProxyHealthz(t *testing.T, ns string) string {
	t.Helper()
	return inNetns(t, ns, "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/10256 && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -1 <&3`)
}

// TestDiagnoseKubeProxyNotSyncing: one node's kube-proxy keeps running but
// every sync fails (sandbox fault kube-proxy-sync-fail: its iptables-restore
// cannot delete a chain another rule holds). A Service created then is
// missing on that node only, its healthz turns 503 after its 60 s health
// timeout, and diagnose names that node, and nothing else, with both
// rules; after the fault is removed it resyncs and diagnose is clean.
func TestDiagnoseKubeProxyNotSyncing(t *testing.T) {
	c, names := diagnoseCluster(t, "e2edx", 4)
	dir := t.TempDir()
	x := names[2]
	others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == x })
	ns := c.netnsOf(t, x)
	type out struct {
		Facts map[string]struct {
			KubeProxy *struct {
				StatusCode int `json:"statusCode"`
			} `json:"kubeProxy"`
		} `json:"facts"`
		Findings []kernelFinding `json:"findings"`
	}

	c.fault(t, "kube-proxy-sync-fail", x)
	c.kubectl(t, "-n", "kube-system", "create", "service", "clusterip", "nd-diag-sync", "--tcp=5353:53")
	programmed := func(s string) bool { return strings.Contains(s, `"kube-system/nd-diag-sync:5353-53 cluster IP"`) }
	// Deleted at the end and waited for: the next test on this cluster
	// (TestDiagnose) saw the just-recovered node still holding its rules.
	defer func() {
		c.kubectl(t, "-n", "kube-system", "delete", "service", "nd-diag-sync")
		waitRules(t, c, c.nodeNames(), "rules for kube-system/nd-diag-sync removed", func(s string) bool { return !programmed(s) })
	}()
	c.kubectl(t, "-n", "kube-system", "patch", "service", "nd-diag-sync", "--type=json", "-p", `[{"op":"replace","path":"/spec/selector","value":{"k8s-app":"kube-dns"}}]`)
	waitRules(t, c, others, "rules for kube-system/nd-diag-sync", programmed)
	// x's kube-proxy runs and answers, but never applies the Service.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if programmed(natRules(t, ns)) {
			t.Fatalf("node %s programmed the new Service although its syncs fail", x)
		}
		st := kubeProxyHealthz(t, ns)
		if strings.Contains(st, " 503 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: kube-proxy healthz still %q 2 minutes after a sync was queued", x, st)
		}
		time.Sleep(2 * time.Second)
	}

	var o out
	if r := diagnoseInto(t, c, dir, &o); r.Code != 1 {
		t.Errorf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	got := naming(t, o.Findings, x)
	sort.Slice(got, func(i, j int) bool { return got[i].Kind < got[j].Kind })
	want := []kernelFinding{{Kind: "kube-proxy-not-syncing", Nodes: []string{x}},
		{Kind: "service-rules-missing", Nodes: []string{x}, Target: "kube-system/nd-diag-sync:5353-53"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings %+v, want %+v", got, want)
	}
	for _, n := range names {
		kp := o.Facts[n].KubeProxy
		if wantCode := map[bool]int{true: 503, false: 200}[n == x]; kp == nil || kp.StatusCode != wantCode {
			t.Errorf("node %s: kube-proxy facts %+v, want healthz %d", n, kp, wantCode)
		}
	}

	// Removed: x's next sync (its retry within 30 s) applies everything.
	c.unfault(t, "kube-proxy-sync-fail", x)
	waitRules(t, c, []string{x}, "rules for kube-system/nd-diag-sync after the fault", programmed)
	deadline = time.Now().Add(time.Minute)
	for st := kubeProxyHealthz(t, ns); !strings.Contains(st, " 200 "); st = kubeProxyHealthz(t, ns) {
		if time.Now().After(deadline) {
			t.Fatalf("node %s: kube-proxy healthz %q after the fault", x, st)
		}
		time.Sleep(time.Second)
	}
	o = out{}
	if r := diagnoseInto(t, c, dir, &o); r.Code != 0 || len(o.Findings) != 0 {
		t.Errorf("after the fault: exit %d, findings %+v", r.Code, o.Findings)
	}
}
