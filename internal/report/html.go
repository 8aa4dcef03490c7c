package report

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"time"
)

// HTML output (-o html): one self-contained file (inline CSS and
// JavaScript, nothing fetched) with the summary, the findings, a source x
// target matrix per protocol and IP family, and the table of the rows that
// did not succeed. The monitor server's page draws its matrix with the
// same script and style (MatrixJS, MatrixCSS).

// WriteHTML writes r as one HTML document. It is built with
// html.EscapeString, not html/template: text/template's reflection would
// keep every exported method of every type in the netctl binary (about 20 MB).
func WriteHTML(w io.Writer, r *Report) error {
	model, err := json.Marshal(htmlModel(r)) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("encoding the matrix: %w", err)
	}
	e := html.EscapeString
	sum := Summarize(r)
	var b strings.Builder
	WriteHTMLHead(&b, "netctl check report")
	b.WriteString("<header><h1>netctl check</h1><span>started ")
	b.WriteString(e(r.Started.UTC().Format(time.RFC3339)))
	b.WriteString("</span></header>\n<main>\n")
	cls := "nd-bad"
	if r.OK() {
		cls = "nd-nofind"
	}
	fmt.Fprintf(&b, "<p id=\"nd-line\" class=\"%s\">%s</p>\n", cls, e(SummaryLine(r)))
	bad := func(n int) string {
		if n > 0 {
			return ` class="nd-badfig"`
		}
		return ""
	}
	fmt.Fprintf(&b, `<div class="nd-sum"><span>pairs <b>%d</b></span><span>succeeded <b>%d</b></span><span%s>failed <b id="nd-failed">%d</b></span><span%s>exceptions <b>%d</b></span></div>`+"\n",
		sum.Total, sum.Succeeded, bad(sum.Failed), sum.Failed, bad(sum.Exceptions), sum.Exceptions)
	WriteHTMLFindings(&b, r.Findings, false)
	b.WriteString(htmlMatrixPart)
	b.WriteString("<h2>Failures and exceptions</h2>\n")
	n := 0
	for _, row := range SortRows(r.Rows) {
		if row.Result == Succeeded {
			continue
		}
		if n == 0 {
			b.WriteString(`<table class="nd-rows" id="nd-failures"><thead><tr><th>#</th><th>SRC NODE NAME</th><th>DST NODE NAME</th><th>TARGET IP</th><th>RESULT</th><th>FAMILY</th><th>PROTOCOL</th><th>MODE</th><th>CLASS</th><th>LATENCY</th><th>LOG</th></tr></thead><tbody>` + "\n")
		}
		n++
		fmt.Fprintf(&b, `<tr class="nd-frow" data-result="%s"><td>%d</td>`, e(string(row.Result)), n)
		for _, c := range []string{row.SrcNode, row.DstNode, targetCell(row), string(row.Result), string(row.Family),
			string(row.Protocol), row.Mode, string(row.Class), latencyCell(row), row.Log} {
			fmt.Fprintf(&b, "<td>%s</td>", e(c))
		}
		b.WriteString("</tr>\n")
	}
	if n == 0 {
		b.WriteString(`<p class="nd-nofind">Every pair succeeded.</p>`)
	} else {
		b.WriteString("</tbody></table>")
	}
	b.WriteString("\n</main>\n<script id=\"nd-data\" type=\"application/json\">")
	b.Write(model)
	b.WriteString("</script>\n<script>")
	b.WriteString(MatrixJS)
	b.WriteString("</script>\n")
	b.WriteString(htmlBoot)
	b.WriteString("</body>\n</html>\n")
	_, err = io.WriteString(w, b.String())
	return err
}

// htmlProbe is one row as MatrixJS reads it (short keys: large reports).
type htmlProbe struct {
	S  string  `json:"s"`
	T  string  `json:"t"`
	SN string  `json:"sn"`
	TN string  `json:"tn"`
	K  string  `json:"k"`
	F  string  `json:"f"`
	A  string  `json:"a"`
	St string  `json:"st"` // ok, fail, exc
	C  string  `json:"c,omitempty"`
	R  string  `json:"r,omitempty"`
	L  float64 `json:"l,omitempty"` // ms
}

type htmlModelData struct {
	Probes []htmlProbe         `json:"probes"`
	Nodes  map[string]struct{} `json:"nodes"`
}

// htmlModel converts the rows; in two-cluster runs node names carry their
// cluster ("dst/node-1") as findings name them.
func htmlModel(r *Report) htmlModelData {
	two := false
	for _, row := range r.Rows {
		if row.SrcCluster == "dst" || row.DstCluster == "dst" {
			two = true
		}
	}
	name := func(cluster, n string) string {
		if !two {
			return n
		}
		if cluster == "" {
			cluster = "src"
		}
		return cluster + "/" + n
	}
	m := htmlModelData{Probes: []htmlProbe{}, Nodes: map[string]struct{}{}}
	for _, row := range SortRows(r.Rows) {
		sn, tn := "pod", "pod"
		switch row.Mode {
		case "node":
			sn, tn = "host", "host"
		case "node-to-pod":
			sn = "host"
		case "pod-to-node":
			tn = "host"
		}
		p := htmlProbe{S: name(row.SrcCluster, row.SrcNode), T: name(row.DstCluster, row.DstNode), SN: sn, TN: tn,
			K: string(row.Protocol), F: string(row.Family), A: targetCell(row), C: string(row.Class), R: row.Log,
			L: float64(row.Latency) / float64(time.Millisecond)}
		switch row.Result {
		case Succeeded:
			p.St = "ok"
		case Failed:
			p.St = "fail"
		default:
			p.St = "exc"
		}
		m.Probes = append(m.Probes, p)
	}
	return m
}

// htmlMatrixPart is where MatrixJS draws (filters, legend, matrices, detail).
const htmlMatrixPart = `<h2>Matrix</h2>
<form class="nd-filters" id="nd-filters"></form>
<div class="nd-legend"><span><i class="k0"></i>ok &lt;1 ms</span><span><i class="k1"></i>&lt;5 ms</span><span><i class="k2"></i>&lt;25 ms</span><span><i class="k3"></i>&lt;100 ms</span><span><i class="k4"></i>&ge;100 ms</span><span><i class="fl"></i>failed or exception</span><span><i class="no"></i>not checked</span></div>
<div id="nd-matrix"><noscript>The matrix needs JavaScript; the failure table below does not.</noscript></div>
<div id="nd-detail" hidden></div>
`

// htmlBoot draws the matrices from the embedded model.
const htmlBoot = `<script>
(function () {
  var model = JSON.parse(document.getElementById("nd-data").textContent);
  var f = NDMatrix.readFilters();
  function draw() {
    var t0 = performance.now();
    var n = NDMatrix.render(document.getElementById("nd-matrix"), document.getElementById("nd-detail"), model, f);
    window.ndPage = { cells: n, lastRenderMs: performance.now() - t0 };
    document.body.dataset.rendered = "1";
  }
  NDMatrix.filterBar(document.getElementById("nd-filters"), model, f, function (nf) { f = nf; draw(); });
  draw();
})();
</script>
`

// MatrixJS draws the matrices (NDMatrix); shared with the monitor page.
const MatrixJS = `// NDMatrix renders netdoctor's source x target node matrices (one per probe
// kind and IP family) from a list of probes. Shared by the monitor page and
// the HTML report of netctl check. No dependencies, nothing fetched.
var NDMatrix = (function () {
  "use strict";
  var timings = {};
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  // Natural name order: node-2 before node-10.
  function cmpName(a, b) {
    var re = /(\d+)|(\D+)/g, x = String(a).match(re) || [], y = String(b).match(re) || [];
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] === y[i]) continue;
      var nx = /^\d/.test(x[i]), ny = /^\d/.test(y[i]);
      if (nx && ny) return parseInt(x[i], 10) - parseInt(y[i], 10) || (x[i] < y[i] ? -1 : 1);
      return x[i] < y[i] ? -1 : 1;
    }
    return x.length - y.length;
  }
  // Networks of a probe, named like netctl check's modes.
  function modeOf(p) {
    if (p.sn === "host" && p.tn === "host") return "node";
    if (p.sn === "host") return "node-to-pod";
    if (p.tn === "host") return "pod-to-node";
    return "pod";
  }
  function latClass(ms) {
    if (ms < 1) return "nd-l0";
    if (ms < 5) return "nd-l1";
    if (ms < 25) return "nd-l2";
    if (ms < 100) return "nd-l3";
    return "nd-l4";
  }
  function fmtMs(ms) {
    if (!ms) return "-";
    return ms < 1000 ? ms.toFixed(2) + " ms" : (ms / 1000).toFixed(3) + " s";
  }
  // views groups probes by kind and family, applying the filters.
  function views(model, f) {
    var byKey = {}, keys = [];
    model.probes.forEach(function (p) {
      if (f.kind && p.k !== f.kind) return;
      if (f.family && p.f !== f.family) return;
      if (f.net && modeOf(p) !== f.net) return;
      var key = p.k + " " + p.f;
      if (!byKey[key]) { byKey[key] = { kind: p.k, family: p.f, probes: [] }; keys.push(key); }
      byKey[key].probes.push(p);
    });
    keys.sort();
    return keys.map(function (k) { return byKey[k]; });
  }
  // build turns one view's probes into cells and ordered rows and columns.
  function build(v, model, failingOnly) {
    var cells = {}, rowFail = {}, colFail = {}, rows = {}, cols = {};
    v.probes.forEach(function (p) {
      var key = p.s + "\u0000" + p.t, c = cells[key];
      if (!c) { c = cells[key] = { s: p.s, t: p.t, probes: [], fail: 0, stale: 0, ok: 0, lat: 0 }; }
      c.probes.push(p);
      if (p.st === "fail" || p.st === "exc") c.fail++;
      else if (p.st === "stale") c.stale++;
      else { c.ok++; c.lat = Math.max(c.lat, p.l || 0); }
      rows[p.s] = true; cols[p.t] = true;
    });
    var count = { all: 0, fail: 0, stale: 0 };
    for (var k in cells) {
      var c = cells[k];
      c.state = c.fail ? "fail" : (c.stale ? "stale" : "ok");
      count.all++;
      if (c.fail) { count.fail++; rowFail[c.s] = (rowFail[c.s] || 0) + 1; colFail[c.t] = (colFail[c.t] || 0) + 1; }
      else if (c.stale) count.stale++;
    }
    var zoneOf = function (n) { var m = model.nodes && model.nodes[n]; return (m && m.zone) || ""; };
    function order(names, fails) {
      if (failingOnly) names = names.filter(function (n) { return fails[n]; });
      var zf = {};
      names.forEach(function (n) { var z = zoneOf(n); zf[z] = (zf[z] || 0) + (fails[n] || 0); });
      return names.sort(function (a, b) {
        var za = zoneOf(a), zb = zoneOf(b);
        if (za !== zb) return (zf[zb] - zf[za]) || cmpName(za, zb);
        return ((fails[b] || 0) - (fails[a] || 0)) || cmpName(a, b);
      });
    }
    return {
      cells: cells, count: count,
      rows: order(Object.keys(rows), rowFail),
      cols: order(Object.keys(cols), colFail),
      rowFail: rowFail, colFail: colFail, zoneOf: zoneOf
    };
  }
  // Cell classes are short: a 100-node matrix has 10,000 cells.
  // k0..k4 ok by latency, fl failed, st stale (unknown), no not probed.
  function cellClass(c) {
    if (c.state === "ok") return "k" + latClass(c.lat).slice(-1);
    return c.state === "fail" ? "fl" : "st";
  }
  function zoneSpans(names, zoneOf) {
    var spans = [];
    names.forEach(function (n) {
      var z = zoneOf(n), last = spans[spans.length - 1];
      if (last && last.zone === z) last.n++; else spans.push({ zone: z, n: 1 });
    });
    return spans;
  }
  // table renders one view as an HTML string.
  function table(v, b, model) {
    var h = [], zoned = b.cols.some(b.zoneOf) || b.rows.some(b.zoneOf);
    var stale = function (n) { return model.nodes && model.nodes[n] && model.nodes[n].stale; };
    h.push('<table class="nd-matrix" data-kind="' + esc(v.kind) + '" data-family="' + esc(v.family) + '">');
    if (zoned) {
      h.push('<tr><th class="nd-corner" colspan="2" rowspan="2">source \\ target</th>');
      zoneSpans(b.cols, b.zoneOf).forEach(function (z) {
        h.push('<th class="nd-zone" colspan="' + z.n + '">' + esc(z.zone || "no zone") + "</th>");
      });
      h.push("</tr><tr>");
    } else {
      h.push('<tr><th class="nd-corner">source \\ target</th>');
    }
    b.cols.forEach(function (n) {
      h.push('<th class="nd-col' + (b.colFail[n] ? " nd-bad" : "") + '" title="' + esc(n) + '"><div>' + esc(n) + "</div></th>");
    });
    h.push("</tr>");
    var spans = zoned ? zoneSpans(b.rows, b.zoneOf) : [], si = 0, left = 0;
    b.rows.forEach(function (r) {
      h.push('<tr data-s="' + esc(r) + '">');
      if (zoned && left === 0) {
        var z = spans[si++]; left = z.n;
        h.push('<th class="nd-zone nd-rowzone" rowspan="' + z.n + '"><div>' + esc(z.zone || "no zone") + "</div></th>");
      }
      left--;
      h.push('<th class="nd-row' + (b.rowFail[r] ? " nd-bad" : "") + (stale(r) ? " nd-stalerow" : "") + '">' + esc(r) +
        (stale(r) ? ' <span class="nd-tag">stale</span>' : "") + "</th>");
      b.cols.forEach(function (c) {
        var cell = b.cells[r + "\u0000" + c];
        h.push(cell ? '<td class="' + cellClass(cell) + '"></td>' : '<td class="no"></td>');
      });
      h.push("</tr>");
    });
    h.push("</table>");
    return h.join("");
  }
  function strip(recent) {
    if (!recent) return "";
    var out = ['<span class="nd-strip" title="last rounds, oldest first">'];
    for (var i = 0; i < recent.length; i++) {
      out.push('<i class="' + (recent[i] === "+" ? "k0" : "fl") + '"></i>');
    }
    out.push("</span>");
    return out.join("");
  }
  // detail describes one cell: every probe behind it.
  function detail(cell, kind, family) {
    var h = ['<div class="nd-dhead"><b>' + esc(cell.s) + "</b> &rarr; <b>" + esc(cell.t) + "</b> " + esc(kind) + " " + esc(family) +
      ' <span class="nd-badge nd-' + cell.state + '">' + ({ ok: "ok", fail: "failed", stale: "stale / unknown" })[cell.state] + "</span></div>"];
    h.push('<table class="nd-dtable"><tr><th>networks</th><th>address</th><th>last result</th><th>class</th><th>failing since</th><th>p50 / p99</th><th>last rounds</th></tr>');
    cell.probes.forEach(function (p) {
      var res = p.st === "ok" ? "ok " + fmtMs(p.l) : p.st === "stale" ? "stale (last: " + (p.last || "?") + ")" : p.st === "exc" ? "exception" : "failed";
      h.push("<tr><td>" + esc(p.sn + " \u2192 " + p.tn) + "</td><td>" + esc(p.a) + '</td><td class="nd-' + p.st + 't">' + esc(res) +
        (p.r ? '<div class="nd-reason">' + esc(p.r) + "</div>" : "") + "</td><td>" + esc(p.c || "") + "</td><td>" +
        esc(p.since ? p.since + (p.n ? " (" + p.n + " rounds)" : "") : "") + "</td><td>" +
        (p.p50 ? esc(fmtMs(p.p50) + " / " + fmtMs(p.p99)) : "-") + "</td><td>" + strip(p.h) + "</td></tr>");
    });
    h.push("</table>");
    return h.join("");
  }
  // render draws every view into el and wires hover/click detail into
  // detailEl. It returns the number of cells drawn.
  function render(el, detailEl, model, f) {
    var t0 = performance.now(), vs = views(model, f || {}), out = [], built = [], n = 0;
    vs.forEach(function (v, i) {
      var b = build(v, model, f && f.failing);
      built.push({ v: v, b: b });
      n += b.count.all;
      out.push('<section class="nd-view" data-view="' + i + '"><h3>' + esc(v.kind) + " " + esc(v.family) +
        ' <small>' + b.count.all + " cells, " + b.count.fail + " failed, " + b.count.stale + " stale</small></h3>" +
        (b.rows.length ? '<div class="nd-scroll">' + table(v, b, model) + "</div>" : '<p class="nd-empty">no failing cells</p>') + "</section>");
    });
    if (!vs.length) out.push('<p class="nd-empty">no results match the filters</p>');
    var t1 = performance.now(), html = out.join("");
    el.innerHTML = html;
    timings = { buildMs: t1 - t0, htmlBytes: html.length, insertMs: performance.now() - t1 };
    var pinned = false;
    function show(td) {
      var sec = td.closest(".nd-view"), n = cellNames(td); if (!sec || !n) return;
      var bv = built[+sec.dataset.view], cell = bv.b.cells[n.s + "\u0000" + n.t];
      if (cell) { detailEl.innerHTML = detail(cell, bv.v.kind, bv.v.family); detailEl.hidden = false; }
    }
    el.onmouseover = function (e) { if (!pinned && e.target.matches("table.nd-matrix td")) show(e.target); };
    el.onclick = function (e) {
      if (!e.target.matches("table.nd-matrix td")) return;
      var was = el.querySelector(".nd-pinned"); if (was) was.classList.remove("nd-pinned");
      pinned = !(pinned && was === e.target);
      if (pinned) { e.target.classList.add("nd-pinned"); show(e.target); }
    };
    return n;
  }
  // cellNames: the source (row) and target (column) node of a matrix cell.
  function cellNames(td) {
    var tr = td.parentNode, table = tr.closest("table.nd-matrix");
    if (!table || !tr.dataset.s) return null;
    var col = td.cellIndex - tr.querySelectorAll("th").length, th = table.querySelectorAll("th.nd-col")[col];
    return th ? { s: tr.dataset.s, t: th.title } : null;
  }
  // Filters live in the URL query so a view can be shared.
  function readFilters() {
    var q = new URLSearchParams(location.search);
    return { kind: q.get("kind") || "", family: q.get("family") || "", net: q.get("net") || "",
      failing: q.get("failing") === "1" || q.get("failing") === "true" };
  }
  function writeFilters(f) {
    var q = new URLSearchParams(location.search);
    ["kind", "family", "net"].forEach(function (k) { if (f[k]) q.set(k, f[k]); else q.delete(k); });
    if (f.failing) q.set("failing", "1"); else q.delete("failing");
    var s = q.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : "") + location.hash);
  }
  // filterBar fills a form with selects for the values present in model.
  function filterBar(form, model, f, onChange) {
    var vals = { kind: {}, family: {}, net: {} };
    model.probes.forEach(function (p) { vals.kind[p.k] = 1; vals.family[p.f] = 1; vals.net[modeOf(p)] = 1; });
    var labels = { kind: "kind", family: "family", net: "networks" }, h = [];
    ["kind", "family", "net"].forEach(function (k) {
      var opts = Object.keys(vals[k]).sort();
      if (f[k] && opts.indexOf(f[k]) < 0) opts.push(f[k]);
      h.push("<label>" + labels[k] + ' <select name="' + k + '"><option value="">all</option>' + opts.map(function (o) {
        return '<option value="' + esc(o) + '"' + (o === f[k] ? " selected" : "") + ">" + esc(o) + "</option>";
      }).join("") + "</select></label>");
    });
    h.push('<label><input type="checkbox" name="failing"' + (f.failing ? " checked" : "") + "> failing only</label>");
    form.innerHTML = h.join(" ");
    form.onchange = function () {
      var nf = { kind: form.kind.value, family: form.family.value, net: form.net.value, failing: form.failing.checked };
      writeFilters(nf); onChange(nf);
    };
  }
  function findings(el, fs) {
    if (!fs || !fs.length) { el.innerHTML = '<p class="nd-nofind">No findings: nothing is failing.</p>'; return; }
    el.innerHTML = "<h2>Findings</h2><ul>" + fs.map(function (f) {
      return '<li class="nd-finding" data-kind="' + esc(f.kind) + '"><code>' + esc(f.kind) + "</code> " + esc(f.summary) +
        (f.evidence ? '<div class="nd-evidence">' + esc(f.evidence) + "</div>" : "") + "</li>";
    }).join("") + "</ul>";
  }
  return { timings: function () { return timings; }, render: render, cellNames: cellNames, readFilters: readFilters, writeFilters: writeFilters, filterBar: filterBar,
    findings: findings, esc: esc, modeOf: modeOf, cmpName: cmpName, fmtMs: fmtMs };
})();
`

// MatrixCSS styles the matrices and pages; shared with the monitor page.
const MatrixCSS = `body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:16px;margin:0}
main{padding:8px 16px}
.nd-sum{display:flex;gap:12px;flex-wrap:wrap;margin:6px 0}
.nd-sum span{background:#fff;border:1px solid #ddd;border-radius:4px;padding:3px 8px}
.nd-sum .nd-badfig{border-color:#d73027;color:#b2182b;font-weight:600}
#nd-banner{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px;margin:6px 0}
form.nd-filters{margin:8px 0;display:flex;gap:14px;flex-wrap:wrap}
.nd-findings ul{margin:4px 0;padding-left:18px}.nd-finding{margin:3px 0}
.nd-findings h2{font-size:14px;margin:8px 0 2px}
.nd-evidence{color:#555;font-size:12px}.nd-nofind{color:#1a9850}
.nd-view h3{font-size:14px;margin:12px 0 4px}.nd-view small{color:#666;font-weight:normal}
.nd-scroll{overflow:auto;max-height:80vh;border:1px solid #ddd;background:#fff;display:inline-block;max-width:100%}
table.nd-matrix{border-collapse:collapse;font-size:11px}
.nd-matrix th{background:#f3f3f3;font-weight:normal;white-space:nowrap}
.nd-col{vertical-align:bottom;padding:2px 0;min-width:12px}
.nd-col div{writing-mode:vertical-rl;transform:rotate(180deg);max-height:110px;overflow:hidden;text-overflow:ellipsis}
.nd-row{text-align:right;padding:0 4px;left:0}
.nd-zone{background:#e3e8ec!important;font-size:10px;color:#333}
.nd-rowzone{vertical-align:top;padding:2px 3px}
.nd-bad{color:#b2182b;font-weight:600}
.nd-stalerow{color:#777}.nd-tag{background:#999;color:#fff;border-radius:3px;padding:0 3px;font-size:10px}
.nd-matrix td{width:12px;height:12px;min-width:12px;padding:0;border:1px solid #fff;cursor:pointer}
.no{background:#fff}
.k0,.nd-ok.nd-l0{background:#1a9850}.k1{background:#66bd63}.k2{background:#a6d96a}.k3{background:#fee08b}.k4{background:#fdae61}
.fl,.nd-fail{background:#d73027}
.st{background:repeating-linear-gradient(45deg,#c8c8c8 0 3px,#eee 3px 6px)}
.nd-matrix td.nd-pinned{outline:2px solid #000}
#nd-detail{position:sticky;bottom:0;background:#fff;border:1px solid #999;padding:6px 10px;margin:8px 0;box-shadow:0 -2px 6px rgba(0,0,0,.15);max-height:40vh;overflow:auto}
.nd-dtable{border-collapse:collapse;margin-top:4px}.nd-dtable td,.nd-dtable th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
.nd-failt{color:#b2182b}.nd-stalet{color:#666}.nd-reason{color:#555;font-size:11px}
.nd-badge{border-radius:3px;padding:0 5px;color:#fff}.nd-badge.nd-ok{background:#1a9850}.nd-badge.nd-fail{background:#d73027}.nd-badge.nd-stale{background:#888}
.nd-strip i{display:inline-block;width:6px;height:12px;margin-right:1px}
.nd-legend{display:flex;gap:10px;flex-wrap:wrap;font-size:12px;margin:4px 0}.nd-legend i{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:3px;border:1px solid #ccc}
.nd-empty{color:#666}
table.nd-rows{border-collapse:collapse;background:#fff;font-size:12px}.nd-rows td,.nd-rows th{border:1px solid #ddd;padding:2px 6px;text-align:left}
`

func targetCell(r Row) string {
	if r.Port == 0 {
		return r.TargetIP
	}
	return r.TargetIP + ":" + strconv.Itoa(r.Port)
}
