// The monitor page: reads the server's cached matrix and findings (never
// the agents), so it keeps working while agents or nodes are broken, and
// refreshes every interval.
(function () {
  "use strict";
  var M = NDMatrix, esc = M.esc;
  var state = { matrix: null, findings: null, filters: M.readFilters(), lastOK: null, error: "" };
  window.ndPage = { renders: 0 };

  // toModel turns GET /api/v1/matrix into NDMatrix's probes and nodes.
  function toModel(m) {
    var nodes = {};
    (m.nodes || []).forEach(function (n) {
      var agents = n.agents || [];
      nodes[n.name] = { zone: n.zone || "", stale: agents.length > 0 && agents.every(function (a) { return a.status !== "reporting"; }) };
    });
    var probes = new Array(m.pairs.length);
    for (var i = 0; i < m.pairs.length; i++) {
      var p = m.pairs[i];
      probes[i] = {
        s: p.source_node, t: p.target_node, sn: p.source_network, tn: p.target_network,
        k: p.kind, f: p.family, a: p.address,
        st: p.stale ? "stale" : (p.ok ? "ok" : "fail"), last: p.ok ? "ok" : "failed",
        c: p.class, r: p.reason, l: p.latency_ms,
        since: p.failing_since ? new Date(p.failing_since).toLocaleString() : "", n: p.consecutive_failures,
        h: p.recent, p50: p.latency_p50_ms, p99: p.latency_p99_ms
      };
    }
    return { probes: probes, nodes: nodes };
  }

  function summary(m) {
    var outdated = 0, absent = 0, agents = 0;
    (m.nodes || []).forEach(function (n) {
      (n.agents || []).forEach(function (a) { agents++; if (a.status === "outdated") outdated++; if (a.status === "absent") absent++; });
    });
    var fig = function (label, v, bad) { return '<span class="' + (bad ? "nd-badfig" : "") + '">' + label + " <b>" + v + "</b></span>"; };
    document.getElementById("nd-summary").innerHTML =
      fig("pairs", m.total) + fig("failed", m.failing - countStaleFailing(m), m.failing - countStaleFailing(m) > 0) +
      fig("stale", m.stale, m.stale > 0) + fig("nodes", (m.nodes || []).length) + fig("agents", agents) +
      fig("outdated", outdated, outdated > 0) + fig("absent", absent, absent > 0) + fig("interval", m.interval + " s");
  }
  function countStaleFailing(m) {
    var n = 0;
    m.pairs.forEach(function (p) { if (p.stale && !p.ok) n++; });
    return n;
  }

  function draw() {
    var m = state.matrix;
    if (!m) return;
    var t0 = performance.now();
    var model = toModel(m);
    summary(m);
    if (state.findings) M.findings(document.getElementById("nd-findings"), state.findings.findings);
    M.filterBar(document.getElementById("nd-filters"), model, state.filters, function (f) { state.filters = f; draw(); });
    var cells = M.render(document.getElementById("nd-matrix"), document.getElementById("nd-detail"), model, state.filters);
    var t1 = performance.now();
    window.ndPage.renders++;
    window.ndPage.cells = cells;
    window.ndPage.lastRenderMs = t1 - t0;
    if (window.ndPage.firstRenderedAt === undefined) {
      // Since navigation start: fetch, parse and draw of the first view.
      window.ndPage.firstRenderedAt = t1;
      window.ndPage.firstRenderMs = t1 - t0;
      window.ndPage.firstTimings = M.timings();
      performance.mark("nd-matrix-rendered");
    }
    document.getElementById("nd-generated").textContent = "state of " + new Date(m.generated).toLocaleString() +
      " \u00b7 " + m.total + " pairs";
    document.body.dataset.rendered = String(window.ndPage.renders);
  }

  function banner() {
    var b = document.getElementById("nd-banner");
    if (!state.error) { b.hidden = true; return; }
    b.hidden = false;
    b.textContent = "The monitor server did not answer (" + state.error + ")" +
      (state.lastOK ? "; showing its state of " + state.lastOK.toLocaleString() : "") + ".";
  }

  function getJSON(path) {
    return fetch(path).then(function (r) {
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }

  function refresh() {
    return getJSON("api/v1/matrix").then(function (m) {
      state.matrix = m; state.lastOK = new Date(); state.error = "";
      if (window.ndPage.fetchedAt === undefined) window.ndPage.fetchedAt = performance.now();
      banner(); draw();
      return getJSON("api/v1/findings");
    }).then(function (f) {
      state.findings = f;
      M.findings(document.getElementById("nd-findings"), f.findings);
      document.body.dataset.findings = "1";
    }).catch(function (e) {
      state.error = e.message; banner();
    }).then(function () {
      var iv = (state.matrix && state.matrix.interval) || 15;
      setTimeout(refresh, Math.max(2, Math.min(iv, 30)) * 1000);
    });
  }
  refresh();
})();
