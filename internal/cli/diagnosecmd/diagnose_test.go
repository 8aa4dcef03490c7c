package diagnosecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/browsertest"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/printers/diagnosereport"
	"github.com/netdoctor/netdoctor/internal/diagnose"
	"github.com/netdoctor/netdoctor/internal/kube"
)

func twoNodes(mtuB int) *check.Facts {
	nodes := []kube.Node{{Name: "a", InternalIPs: []string{"10.0.0.1"}, PodCIDRs: []string{"10.244.1.0/24"}},
		{Name: "b", InternalIPs: []string{"10.0.0.2"}, PodCIDRs: []string{"10.244.2.0/24"}},
		{Name: "c", InternalIPs: []string{"10.0.0.3"}, PodCIDRs: []string{"10.244.3.0/24"}}}
	by := map[string]agent.NodeFacts{}
	for _, n := range nodes {
		mtu := 1500
		if n.Name == "b" {
			mtu = mtuB
		}
		by[n.Name] = agent.NodeFacts{Node: n.Name, Conntrack: agent.Usage{Count: 1, Max: -1}, NeighGC4: [3]int{-1, -1, -1},
			Interfaces: []agent.Interface{{Name: "eth0", MTU: mtu, Up: true, Addrs: []string{n.InternalIPs[0] + "/24"}}},
			Routes:     []agent.Route{{Dst: "0.0.0.0/0", Gateway: "10.0.0.254", Iface: "eth0"}}}
	}
	return &check.Facts{Nodes: nodes, ByNode: by}
}

func runCmd(t *testing.T, collect Collector, args ...string) (string, string, int, check.FactsOptions) {
	t.Helper()
	var out, errOut bytes.Buffer
	var got check.FactsOptions
	cmd := newCommand(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, func(ctx context.Context, o check.FactsOptions) (*check.Facts, error) {
		got = o
		return collect(ctx, o)
	})
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), clierr.Code(err), got
}

func TestDiagnoseExitCodesAndOutput(t *testing.T) {
	healthy := func(context.Context, check.FactsOptions) (*check.Facts, error) { return twoNodes(1500), nil }
	out, _, code, opts := runCmd(t, healthy)
	if code != 0 || !strings.Contains(out, "Findings: none") || !strings.Contains(out, "1500") {
		t.Errorf("healthy: code %d\n%s", code, out)
	}
	if opts.Namespace != "netdoctor-system" || opts.Port != 8889 || !strings.Contains(opts.Image, "/netctl:") {
		t.Errorf("defaults: %+v", opts)
	}

	odd := func(context.Context, check.FactsOptions) (*check.Facts, error) { return twoNodes(1280), nil }
	out, _, code, _ = runCmd(t, odd, "-o", "json")
	var doc diagnosereport.JSONOutput
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 {
		t.Fatalf("mtu: code %d, %v\n%s", code, err, out)
	}
	if len(doc.Findings) != 1 || doc.Findings[0].Kind != diagnose.KindMTUMismatch || doc.Findings[0].Nodes[0] != "b" || len(doc.Facts) != 3 {
		t.Errorf("json %+v", doc)
	}

	failing := func(context.Context, check.FactsOptions) (*check.Facts, error) { return nil, errors.New("no cluster") }
	if _, errOut, code, _ := runCmd(t, failing); code != 2 || !strings.Contains(errOut, "no cluster") {
		t.Errorf("setup error: code %d %q", code, errOut)
	}
	for _, bad := range [][]string{{"-o", "yaml"}, {"--pod-wait-time", "0"}, {"--config", "/nonexistent/config.json"}, {"extra"}} {
		if _, errOut, code, _ := runCmd(t, healthy, bad...); code != 2 {
			t.Errorf("%v: code %d (%s), want 2", bad, code, errOut)
		}
	}
}

func TestDiagnoseConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"namespace":"nd-x","port":"9000","srcImageRepository":"r.example","version":"v9"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	healthy := func(context.Context, check.FactsOptions) (*check.Facts, error) { return twoNodes(1500), nil }
	_, _, code, opts := runCmd(t, healthy, "--config", cfg)
	if code != 0 || opts.Namespace != "nd-x" || opts.Port != 9000 || opts.Image != "r.example/netctl:v9" {
		t.Errorf("config: code %d %+v", code, opts)
	}
	_, _, _, opts = runCmd(t, healthy, "--config", cfg, "--namespace", "other")
	if opts.Namespace != "other" {
		t.Errorf("--namespace does not override config: %+v", opts)
	}
	_, _, _, opts = runCmd(t, healthy, "--config", cfg, "--image-repository", "127.0.0.1:5000/team")
	if opts.Image != "127.0.0.1:5000/team/netctl:v9" {
		t.Errorf("--image-repository does not override config: %+v", opts)
	}
}

// TestDiagnoseHTML: -o html is one self-contained page whose facts table has
// a row per node with the MTU read, and whose findings list holds exactly
// the analysis' findings (parsed as HTML, not searched as text).
func TestDiagnoseHTML(t *testing.T) {
	mismatch := func(context.Context, check.FactsOptions) (*check.Facts, error) { return twoNodes(1280), nil }
	out, _, code, _ := runCmd(t, mismatch, "-o", "html")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a finding)", code)
	}
	var kinds []string
	var rows [][]string
	var external []string
	for _, e := range parsePage(t, out) {
		if e.tag == "li" && e.attr["class"] == "nd-finding" {
			kinds = append(kinds, e.attr["data-kind"])
		}
		if e.within["nd-facts"] && e.tag == "tr" && len(e.cells) > 0 {
			rows = append(rows, e.cells)
		}
		if e.attr["src"] != "" || e.attr["href"] != "" {
			external = append(external, e.attr["src"]+e.attr["href"])
		}
	}
	if len(kinds) != 1 || kinds[0] != "mtu-mismatch" {
		t.Errorf("findings %v, want exactly [mtu-mismatch]", kinds)
	}
	if len(rows) != 3 || rows[1][0] != "b" || rows[1][1] != "1280" || rows[0][1] != "1500" {
		t.Errorf("facts rows %v, want a, b (1280), c", rows)
	}
	if len(external) != 0 {
		t.Errorf("the page refers to other resources: %v", external)
	}
}

func TestDiagnoseOneNode(t *testing.T) {
	// --node b: only b's facts come back; the table shows b only and b's
	// odd MTU is no finding (one node has no majority to differ from).
	one := func(_ context.Context, o check.FactsOptions) (*check.Facts, error) {
		f := twoNodes(1400)
		for n := range f.ByNode {
			if n != o.Node {
				delete(f.ByNode, n)
			}
		}
		f.Only = o.Node
		return f, nil
	}
	out, errOut, code, opts := runCmd(t, one, "--node", "b", "--conntrack-dst", "10.96.0.10")
	if opts.Node != "b" || len(opts.ConntrackDst) != 1 || opts.ConntrackDst[0] != "10.96.0.10" {
		t.Errorf("options %+v", opts)
	}
	if code != 0 || !strings.Contains(out, "| b ") || strings.Contains(out, "| a ") || strings.Contains(out, "| c ") || !strings.Contains(errOut, "on 1 node(s)") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code, _ := runCmd(t, one, "--conntrack-dst", "nope"); code != 2 || !strings.Contains(errOut, "--conntrack-dst") {
		t.Errorf("bad --conntrack-dst: exit %d %s", code, errOut)
	}
}

// legacyNAT: three healthy nodes whose Service rules could not be read
// (the given reason), so service-rules-missing is inconclusive on each.
func legacyNAT(reason string) Collector {
	return func(context.Context, check.FactsOptions) (*check.Facts, error) {
		f := twoNodes(1500)
		for n, nf := range f.ByNode {
			nf.ServiceRules = &agent.ServiceRules{Skipped: reason}
			f.ByNode[n] = nf
		}
		return f, nil
	}
}

// notCheckedJSON is the part of diagnose's json these tests read.
type notCheckedJSON struct {
	Inconclusive []struct {
		Rule   string   `json:"rule"`
		Nodes  []string `json:"nodes"`
		Reason string   `json:"reason"`
	} `json:"inconclusive"`
}

// TestDiagnoseInconclusive: a rule that cannot be applied is listed (table
// and json) and changes nothing in the exit status.
func TestDiagnoseInconclusive(t *testing.T) {
	legacy := legacyNAT("the nat table is in iptables-legacy")
	out, _, code, _ := runCmd(t, legacy)
	if code != 0 || !strings.Contains(out, "Inconclusive (not checked):") || !strings.Contains(out, "service-rules-missing [a] the nat table is in iptables-legacy") {
		t.Errorf("table: code %d\n%s", code, out)
	}
	out, _, code, _ = runCmd(t, legacy, "-o", "json")
	var doc notCheckedJSON
	legacyNodes := 0
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Errorf("json: code %d %v", code, err)
	}
	for _, i := range doc.Inconclusive {
		if i.Rule == "service-rules-missing" && strings.Contains(i.Reason, "iptables-legacy") {
			legacyNodes++
		}
	}
	if legacyNodes != 3 {
		t.Errorf("json: %d nodes inconclusive for iptables-legacy, want 3: %+v", legacyNodes, doc)
	}
}

// TestDiagnoseHTMLNotChecked: -o html lists every rule the json lists as
// inconclusive, with its nodes and reason, in a "Not checked" section
// (parsed as HTML, compared with the same run's json).
func TestDiagnoseHTMLNotChecked(t *testing.T) {
	legacy := legacyNAT("the nat table is in iptables-legacy <x>")
	out, _, code, _ := runCmd(t, legacy, "-o", "json")
	var js notCheckedJSON
	if err := json.Unmarshal([]byte(out), &js); err != nil || code != 0 || len(js.Inconclusive) < 3 {
		t.Fatalf("json: code %d %v %+v", code, err, js)
	}
	var want []string
	for _, i := range js.Inconclusive {
		want = append(want, i.Rule+" ["+strings.Join(i.Nodes, ",")+"] "+i.Reason)
	}

	out, _, code, _ = runCmd(t, legacy, "-o", "html")
	if code != 0 {
		t.Fatalf("html: exit %d, want 0 (inconclusive is no finding)", code)
	}
	var heading string
	var got, rules []string
	for _, e := range parsePage(t, out) {
		switch {
		case e.within["nd-notchecked"] && e.tag == "h2":
			heading = e.text
		case e.within["nd-notchecked"] && e.tag == "li":
			got = append(got, e.text)
			rules = append(rules, e.attr["data-rule"])
		}
	}
	if heading != "Not checked" {
		t.Errorf("section heading %q, want \"Not checked\"", heading)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("html not-checked entries:\n%s\nwant (the json's inconclusive):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, r := range rules {
		if r != js.Inconclusive[i].Rule {
			t.Errorf("entry %d data-rule %q, want %q", i, r, js.Inconclusive[i].Rule)
		}
	}
}

// element is one element of a parsed page: its tag, attributes and text,
// the ids of the elements it is in (its own included), and for a table
// row the text of its cells.
type element struct {
	tag    string
	attr   map[string]string
	text   string
	within map[string]bool
	cells  []string
}

// parsePage parses an html page into its elements, in document order.
func parsePage(t *testing.T, page string) []element {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var out []element
	var walk func(n *html.Node, within map[string]bool)
	walk = func(n *html.Node, within map[string]bool) {
		if n.Type == html.ElementNode {
			e := element{tag: n.Data, attr: map[string]string{}, text: text(n), within: map[string]bool{}}
			for id := range within {
				e.within[id] = true
			}
			for _, a := range n.Attr {
				e.attr[a.Key] = a.Val
			}
			if id := e.attr["id"]; id != "" {
				e.within[id] = true
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == "td" {
					e.cells = append(e.cells, text(c))
				}
			}
			out = append(out, e)
			within = e.within
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, within)
		}
	}
	walk(doc, map[string]bool{})
	return out
}

// TestDiagnoseHTMLNotCheckedInBrowser opens `diagnose -o html --output-file`
// in headless Chromium: the "Not checked" section is shown (laid out, not
// hidden) with one entry per inconclusive rule, its nodes and reason, the
// reason's markup shown as text; the page loads nothing.
func TestDiagnoseHTMLNotCheckedInBrowser(t *testing.T) {
	browsertest.Require(t) // skips, or fails under NETDOCTOR_E2E=require, before any work
	path := filepath.Join(t.TempDir(), "diagnose.html")
	if _, errOut, code, _ := runCmd(t, legacyNAT("the nat table is in iptables-legacy <b>"), "-o", "html", "--output-file", path); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b := browsertest.New(t, time.Minute)
	if err := chromedp.Do(b.Ctx, chromedp.Navigate("file://"+path)); err != nil {
		t.Fatal(err)
	}
	type shown struct {
		Heading string   `json:"heading"`
		Visible bool     `json:"visible"`
		Entries []string `json:"entries"`
	}
	got, err := chromedp.Run(b.Ctx, chromedp.Evaluate[shown](`(() => {
	  const sec = document.getElementById("nd-notchecked");
	  if (!sec) return {heading: "", visible: false, entries: []};
	  return {
	    heading: sec.querySelector("h2").textContent,
	    visible: sec.offsetParent !== null && sec.getBoundingClientRect().height > 0,
	    entries: [...sec.querySelectorAll("li")].map(li => li.innerText),
	  };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	b.Screenshot(t, "diagnose-not-checked-html")
	if got.Heading != "Not checked" || !got.Visible {
		t.Errorf("section %q visible=%v, want a visible \"Not checked\"", got.Heading, got.Visible)
	}
	var legacy []string
	for _, e := range got.Entries {
		if strings.HasPrefix(e, "service-rules-missing [") && strings.HasSuffix(e, "] the nat table is in iptables-legacy <b>") {
			legacy = append(legacy, e)
		}
	}
	if len(legacy) != 3 {
		t.Errorf("entries %q: want service-rules-missing on a, b and c with the reason as text", got.Entries)
	}
	b.CheckRequests(t, "file://")
}
