package e2e

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/netdoctor/netdoctor/internal/browsertest"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// The page test has its own cluster: it cuts links while TestMonitor
// checks exact matrices on its own.
const webCluster = "e2eweb"

// pageView is what the monitor page shows, read from its DOM: cells as
// "<family> <source>><target>" by state, and the findings' kinds and text.
type pageView struct {
	Fail     []string `json:"fail"`
	Stale    []string `json:"stale"`
	OK       int      `json:"ok"`
	Findings []string `json:"findings"`
	Zones    []string `json:"zones"`
	Rendered string   `json:"rendered"`
}

const readMonitorPage = `(() => {
  const fail = [], stale = [];
  let ok = 0;
  document.querySelectorAll("section.nd-view").forEach(sec => {
    const fam = sec.querySelector("h3").firstChild.textContent.trim().split(" ").pop();
    sec.querySelectorAll("table.nd-matrix td").forEach(td => {
      const n = NDMatrix.cellNames(td), k = fam + " " + n.s + ">" + n.t;
      if (td.className === "fl") fail.push(k); else if (td.className === "st") stale.push(k); else if (/^k[0-4]$/.test(td.className)) ok++;
    });
  });
  return {
    fail, stale, ok,
    findings: [...document.querySelectorAll("li.nd-finding")].map(li => li.dataset.kind + ": " + li.textContent),
    zones: [...new Set([...document.querySelectorAll("th.nd-zone")].map(th => th.textContent))].sort(),
    rendered: document.body.dataset.rendered || "",
  };
})()`

// TestMonitorPage installs the monitor on a sandbox cluster and watches its
// page in headless Chromium: healthy, then with the link between two nodes
// cut (exactly those cells failed, the link-down finding shown), recovered,
// then with one node cut off from the server (its cells stale, not failed).
func TestMonitorPage(t *testing.T) {
	browsertest.Require(t) // fails under NETDOCTOR_E2E=require when chromium is missing
	c := sharedCluster(t, webCluster, 3, "dual")
	dir := t.TempDir()
	r := netctl(t, dir, "monitor", "install", "--kubeconfig", c.Kubeconfig,
		"--interval="+monInterval.String(), "--node-port="+strconv.Itoa(monNodePort), "--timeout=2m")
	t.Cleanup(func() { netctl(t, dir, "monitor", "uninstall", "--kubeconfig", c.Kubeconfig) })
	if r.Code != 0 {
		c.dumpMonitor(t)
		t.Fatalf("monitor install: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	srv := c.monitorURL(t)
	all := monAllPairs(c.monitorAgents(t))
	monWaitFor(t, "every pair probed and ok", time.Minute, func() (bool, string) {
		return monMatrixIs(t, srv, all, nil)
	})

	host, _, _ := net.SplitHostPort(c.monitorTarget(t))
	b := browsertest.New(t, 10*time.Minute, host)
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(srv+"/")); err != nil {
		t.Fatalf("loading %s/: %v", srv, err)
	}
	read := func() pageView {
		v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[pageView](readMonitorPage))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		sort.Strings(v.Fail)
		sort.Strings(v.Stale)
		return v
	}
	// waitPage polls the page (it refreshes every interval) until cond holds.
	waitPage := func(what string, d time.Duration, cond func(pageView) bool) pageView {
		t.Helper()
		var v pageView
		monWaitFor(t, "page: "+what, d, func() (bool, string) {
			v = read()
			return v.Rendered != "" && cond(v), fmt.Sprintf("failed %v, stale %v, %d ok, findings %v", v.Fail, v.Stale, v.OK, v.Findings)
		})
		return v
	}
	// 3 nodes, 2 families: 2 x 3 x 2 cells (no self pairs).
	healthy := func(v pageView) bool { return len(v.Fail) == 0 && len(v.Stale) == 0 && v.OK == 12 }
	v := waitPage("every cell ok", 30*time.Second, healthy)
	if strings.Join(v.Zones, ",") != "zone-a,zone-b,zone-c" {
		t.Errorf("zones %v, want the nodes' topology.kubernetes.io/zone labels zone-a,zone-b,zone-c", v.Zones)
	}
	b.Screenshot(t, "monitor-page-sandbox-healthy")

	// Cut the link between the two nodes the server does not run on.
	a, bn := c.monitorFaultNodes(t)
	var wantFail []string
	for _, fam := range []string{"IPv4", "IPv6"} {
		wantFail = append(wantFail, fam+" "+a+">"+bn, fam+" "+bn+">"+a)
	}
	sort.Strings(wantFail)
	start := time.Now()
	unlink := c.monitorFault(t, "link", a, bn)
	v = waitPage("exactly the cells between "+a+" and "+bn+" failed, the link-down finding shown", 2*monInterval+monMargin+5*time.Second, func(v pageView) bool {
		if strings.Join(v.Fail, ",") != strings.Join(wantFail, ",") || len(v.Stale) != 0 || v.OK != 12-len(wantFail) {
			return false
		}
		for _, f := range v.Findings {
			if strings.HasPrefix(f, "link-down:") && strings.Contains(f, a) && strings.Contains(f, bn) {
				return true
			}
		}
		return false
	})
	t.Logf("link %s<->%s: page shows exactly %v failed and the link-down finding %s after the fault command started",
		a, bn, v.Fail, time.Since(start).Round(time.Millisecond))
	b.Screenshot(t, "monitor-page-sandbox-link-cut")
	start = time.Now()
	unlink()
	waitPage("every cell ok again after the fault is removed", 2*monInterval+monMargin+5*time.Second, healthy)
	t.Logf("link restored: every cell ok on the page %s later", time.Since(start).Round(time.Millisecond))

	// Cut one node off from the server's node: its agents can no longer
	// report, so its row turns stale (unknown), never failed; the server's
	// node really cannot reach it, so those cells fail; the third node and
	// it still reach each other.
	// The page is reached through the NodePort of c.Nodes[0]: that node
	// must keep its path to the server, so cut off the other one.
	srvNode := serverNode(t, c)
	cut, other := a, bn
	if cut == c.Nodes[0].Name {
		cut, other = bn, a
	}
	var wantStale []string
	var wantFail2 []string
	for _, fam := range []string{"IPv4", "IPv6"} {
		wantStale = append(wantStale, fam+" "+cut+">"+other, fam+" "+cut+">"+srvNode)
		wantFail2 = append(wantFail2, fam+" "+srvNode+">"+cut)
	}
	sort.Strings(wantStale)
	sort.Strings(wantFail2)
	start = time.Now()
	uncut := c.monitorFault(t, "link", cut, srvNode)
	v = waitPage(cut+"'s row stale, not failed", 4*monInterval+monMargin+10*time.Second, func(v pageView) bool {
		outdated := false
		for _, f := range v.Findings {
			outdated = outdated || (strings.HasPrefix(f, "agent-outdated:") && strings.Contains(f, cut))
		}
		return strings.Join(v.Stale, ",") == strings.Join(wantStale, ",") && strings.Join(v.Fail, ",") == strings.Join(wantFail2, ",") && outdated
	})
	t.Logf("%s cut off from the server's node %s: page shows %v stale and %v failed %s after the fault command started",
		cut, srvNode, v.Stale, v.Fail, time.Since(start).Round(time.Millisecond))
	b.Screenshot(t, "monitor-page-sandbox-node-cut-off")
	uncut()
	waitPage("every cell ok again after the node is reconnected", 4*monInterval+monMargin+10*time.Second, healthy)
	b.CheckRequests(t, srv)
}

// serverNode is the node the monitor server runs on.
func serverNode(t *testing.T, c *cluster) string {
	t.Helper()
	out := strings.TrimSpace(c.kubectl(t, "-n", monNS, "get", "pods", "-l", api.LabelName+"="+api.ServerAppName,
		"-o", "jsonpath={.items[*].spec.nodeName}"))
	if out == "" || strings.Contains(out, " ") {
		t.Fatalf("server pods on %q, want one node", out)
	}
	return out
}
