/*
 * The catalog page's script.  It reads only the registry's own JSON
 * endpoints (the page is served by the same registry, so no CORS and no
 * configuration): /catalog/products and each product's entry for the list
 * and the SLA status, /catalog/lineage for the graph, and the subject
 * endpoints (/subjects/{s}/versions, /config/{s}) for a product's schema
 * history.  It redraws every REFRESH_MS so the ports' freshness is live.
 *
 * The lineage picture is laid out here, without a library: nodes go into
 * columns by their longest path from a source, are ordered in a column by
 * the mean row of their inputs (one sweep, enough for a mesh's few dozen
 * products), and edges are cubic curves from the right side of one box to
 * the left side of the next.
 */
"use strict";

var REFRESH_MS = 5000;
var SVG_NS = "http://www.w3.org/2000/svg";
var state = { products: [], entries: {}, lineage: null, selected: null };

function el(tag, attrs, children) {
  var e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

function svg(tag, attrs, children) {
  var e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

function setAttrs(e, attrs) {
  Object.keys(attrs || {}).forEach(function (k) {
    if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
  });
}

function append(e, children) {
  [].concat(children === undefined ? [] : children).forEach(function (c) {
    if (c === null || c === undefined) return;
    e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  });
}

function getJSON(path) {
  return fetch(path, { headers: { Accept: "application/json" } })
    .then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) throw new Error(path + ": " + (body.message || res.status));
        return body;
      });
    });
}

function seg(s) { return encodeURIComponent(s); }
function productRef(p) { return p.domain + "/" + p.name; }
function productId(p) { return p.domain + "/" + p.name + "@" + p.version; }

function duration(ms) {
  if (ms === undefined || ms === null) return "–";
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) return (ms / 60000).toFixed(1) + " min";
  return (ms / 3600000).toFixed(1) + " h";
}

/* The product's SLA status from its output ports' live facts: missed when
 * one port misses its freshness, kept when every reporting port keeps it,
 * unknown with no promise or no report yet. */
function slaStatus(entry) {
  if (!entry || !entry.sla || entry.sla.freshness_ms === undefined)
    return { cls: "sla-unknown", text: "no SLA" };
  var kept = 0, missed = 0;
  (entry.output_ports || []).forEach(function (port) {
    if (!port.status || port.status.freshness_kept === undefined) return;
    if (port.status.freshness_kept) kept++; else missed++;
  });
  var promise = "freshness " + (entry.sla.freshness || duration(entry.sla.freshness_ms));
  if (missed) return { cls: "sla-missed", text: "missed: " + promise };
  if (kept) return { cls: "sla-kept", text: "kept: " + promise };
  return { cls: "sla-unknown", text: promise + " (no report yet)" };
}

function renderProducts() {
  var body = document.querySelector("#products tbody");
  body.textContent = "";
  state.products.forEach(function (p) {
    var ref = productRef(p), entry = state.entries[ref], sla = slaStatus(entry);
    var owner = p.owner || {};
    var tr = el("tr", { "class": "product" + (ref === state.selected ? " selected" : ""),
                        "data-product": ref }, [
      el("td", {}, el("a", { href: "#" + ref }, productId(p))),
      el("td", {}, p.domain),
      el("td", { "class": "owner" }, [owner.team || "",
        owner.contact ? el("div", { "class": "muted" }, owner.contact) : null]),
      el("td", {}, (p.tags || []).map(function (t) { return el("span", { "class": "tag" }, t); })),
      el("td", {}, p.status || ""),
      el("td", {}, el("span", { "class": "badge sla " + sla.cls }, sla.text))
    ]);
    tr.addEventListener("click", function () { location.hash = ref; });
    body.appendChild(tr);
  });
  if (!state.products.length)
    body.appendChild(el("tr", {}, el("td", { colspan: 6, "class": "muted" },
      "No product in the catalog yet: meshctl product apply FILE.yaml")));
}

/* ---- lineage layout -------------------------------------------------- */

function layoutLineage(graph) {
  var nodes = {}, order = [];
  graph.nodes.forEach(function (n) {
    nodes[n.id] = { n: n, ins: [], col: 0, row: 0 };
    order.push(n.id);
  });
  graph.edges.forEach(function (e) {
    if (nodes[e.to] && nodes[e.from]) nodes[e.to].ins.push(e.from);
  });
  /* Longest path from a source: relax len(nodes) times (a cycle, which the
   * catalog refuses anyway, only stops growing there). */
  for (var pass = 0; pass < order.length; pass++) {
    var changed = false;
    graph.edges.forEach(function (e) {
      var a = nodes[e.from], b = nodes[e.to];
      if (a && b && b.col < a.col + 1 && a.col + 1 < order.length) {
        b.col = a.col + 1;
        changed = true;
      }
    });
    if (!changed) break;
  }
  var cols = [];
  order.sort().forEach(function (id) {
    var c = nodes[id].col;
    (cols[c] = cols[c] || []).push(id);
  });
  cols.forEach(function (ids, c) {
    if (c > 0) {
      ids.sort(function (x, y) { return meanRow(nodes, x) - meanRow(nodes, y); });
    }
    ids.forEach(function (id, r) { nodes[id].row = r; nodes[id].col = c; });
  });
  return { nodes: nodes, cols: cols };
}

function meanRow(nodes, id) {
  var ins = nodes[id].ins;
  if (!ins.length) return 0;
  return ins.reduce(function (s, i) { return s + nodes[i].row; }, 0) / ins.length;
}

function renderLineage() {
  var box = document.getElementById("lineage");
  box.textContent = "";
  var graph = state.lineage;
  if (!graph || !graph.nodes.length) {
    box.appendChild(el("p", { "class": "muted" }, "No lineage yet."));
    return;
  }
  var L = layoutLineage(graph);
  var W = 210, H = 44, GX = 90, GY = 26, PAD = 12;
  var rows = Math.max.apply(null, L.cols.map(function (c) { return c.length; }));
  var width = PAD * 2 + L.cols.length * W + (L.cols.length - 1) * GX;
  var height = PAD * 2 + rows * H + (rows - 1) * GY;
  var pos = function (id) {
    var n = L.nodes[id], colLen = L.cols[n.col].length;
    var offset = (rows - colLen) * (H + GY) / 2; /* centre short columns */
    return { x: PAD + n.col * (W + GX), y: PAD + offset + n.row * (H + GY) };
  };
  var root = svg("svg", { id: "lineage-graph", width: width, height: height,
                          viewBox: "0 0 " + width + " " + height,
                          role: "img", "aria-label": "lineage graph" });
  root.appendChild(svg("defs", {}, svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"
  }, svg("path", { d: "M0,0 L10,5 L0,10 z", "class": "arrow" }))));
  graph.edges.forEach(function (e) {
    if (!L.nodes[e.from] || !L.nodes[e.to]) return;
    var a = pos(e.from), b = pos(e.to);
    var x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    var mx = (x1 + x2) / 2;
    root.appendChild(svg("path", {
      "class": "edge", "data-from": e.from, "data-to": e.to,
      d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 +
         " " + x2 + "," + y2,
      "marker-end": "url(#arrow)"
    }, svg("title", {}, e.from + " → " + e.to + (e.port ? " (" + e.port + ")" : ""))));
    if (e.port)
      root.appendChild(svg("text", { "class": "edge-label", x: mx, y: (y1 + y2) / 2 - 4,
                                     "text-anchor": "middle" }, e.port));
  });
  Object.keys(L.nodes).forEach(function (id) {
    var n = L.nodes[id].n, p = pos(id), isProduct = n.kind === "product";
    var ref = isProduct && n.domain ? n.domain + "/" + n.name : null;
    var title = isProduct ? id : (n.source || "source") + ": " + (n.location || "");
    var sub = isProduct ? (n.owner ? "owner " + n.owner : (n.registered ? "" : "not in the catalog"))
                        : "operational source";
    var g = svg("g", { "class": "node " + (isProduct ? "product" : "source") +
                                (ref && ref === state.selected ? " selected" : ""),
                       "data-id": id, transform: "translate(" + p.x + "," + p.y + ")" }, [
      svg("rect", { width: W, height: H, rx: isProduct ? 6 : 14 }),
      svg("text", { x: 10, y: 18 }, clip(title, 30)),
      svg("text", { x: 10, y: 34, "class": "sub" }, clip(sub, 34))
    ]);
    if (ref) g.addEventListener("click", function () { location.hash = ref; });
    root.appendChild(g);
  });
  box.appendChild(root);
}

function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + "…" : s; }

/* ---- one product ------------------------------------------------------ */

function schemaFields(text) {
  var parsed;
  try { parsed = JSON.parse(text); } catch (e) { return null; }
  return parsed && parsed.type === "record" ? parsed : null;
}

function typeName(t) {
  if (typeof t === "string") return t;
  if (Array.isArray(t)) return t.map(typeName).join(" | ");
  if (t && t.logicalType) return t.logicalType + " (" + t.type + ")";
  if (t && t.type === "array") return "array<" + typeName(t.items) + ">";
  if (t && t.type === "map") return "map<" + typeName(t.values) + ">";
  if (t && t.name) return t.type + " " + t.name;
  return t && t.type ? t.type : "?";
}

function fieldTable(record, classes) {
  var cls = {};
  (classes || []).forEach(function (f) { cls[f.name] = f.classification; });
  return el("table", { "class": "fields" }, [
    el("thead", {}, el("tr", {}, ["Field", "Type", "Classification", "Doc"].map(
      function (h) { return el("th", {}, h); }))),
    el("tbody", {}, record.fields.map(function (f) {
      var c = cls[f.name];
      return el("tr", { "class": "field", "data-field": f.name }, [
        el("td", { "class": "mono" }, f.name),
        el("td", { "class": "mono" }, typeName(f.type)),
        el("td", {}, c ? el("span", { "class": "badge " + (c === "pii" ? "pii" : "sla-unknown") }, c) : ""),
        el("td", {}, f.doc || "")
      ]);
    }))
  ]);
}

function portStatus(port, sla) {
  var st = port.status;
  if (!st) return el("span", { "class": "muted" }, "no report yet");
  var age = st.reported_at_ms ? Date.now() - st.reported_at_ms : null;
  var kept = st.freshness_kept === undefined ? null : st.freshness_kept;
  return el("span", {}, [
    kept === null ? null : el("span", { "class": "badge " + (kept ? "sla-kept" : "sla-missed") },
                              kept ? "fresh" : "stale"),
    " data age (lag) ", el("b", { "class": "freshness" }, duration(st.freshness_ms)),
    sla && sla.freshness ? " of " + sla.freshness + " promised" : "",
    st.offset !== undefined ? ", offset " + st.offset : "",
    st.rows !== undefined ? ", " + st.rows + " rows" : "",
    st.materializer ? ", by " + st.materializer : "",
    age !== null ? el("span", { "class": "muted" }, " (reported " + duration(Math.max(age, 0)) + " ago)") : ""
  ]);
}

function renderPorts(entry) {
  return el("table", { id: "ports" }, [
    el("thead", {}, el("tr", {}, ["Output port", "Where", "Live status"].map(
      function (h) { return el("th", {}, h); }))),
    el("tbody", {}, (entry.output_ports || []).map(function (port) {
      var where = port.topic ? "topic " + port.topic +
                    (port.partitions ? " (" + port.partitions + " partitions)" : "")
                  : (port.type || "") + " " + (port.sink || "") + " " + (port.location || "");
      return el("tr", { "class": "port", "data-port": port.name }, [
        el("td", {}, port.name), el("td", { "class": "mono" }, where),
        el("td", {}, portStatus(port, entry.sla))
      ]);
    }))
  ]);
}

/* Versions of a subject with each one's fields compared to the previous:
 * what a consumer wants to know about how the contract moved.  The last
 * answer is kept per subject and drawn at once on a redraw, so the table
 * does not blink every REFRESH_MS; it is fetched again behind it. */
var historyCache = {};

function renderHistory(box, subject) {
  if (historyCache[subject]) drawHistory(box, historyCache[subject]);
  var enc = seg(subject);
  Promise.all([getJSON("/subjects/" + enc + "/versions"),
               getJSON("/config/" + enc + "?defaultToGlobal=true").catch(function () { return {}; })])
    .then(function (r) {
      return Promise.all(r[0].map(function (v) {
        return getJSON("/subjects/" + enc + "/versions/" + v);
      })).then(function (vs) { return { versions: vs, level: r[1].compatibilityLevel }; });
    })
    .then(function (h) {
      var old = historyCache[subject];
      historyCache[subject] = h;
      if (!old || JSON.stringify(old) !== JSON.stringify(h)) drawHistory(box, h);
    })
    .catch(function (e) {
      box.textContent = "";
      box.appendChild(el("p", { "class": "error" }, String(e.message || e)));
    });
}

function drawHistory(box, h) {
  var prev = null;
  var rows = h.versions.map(function (v) {
    var rec = schemaFields(v.schema), names = rec ? rec.fields.map(function (f) { return f.name; }) : [];
    var change = prev === null ? "first version" : diff(prev, names);
    prev = names;
    return el("tr", { "class": "version" }, [el("td", {}, "v" + v.version),
      el("td", {}, "id " + v.id), el("td", {}, change)]);
  });
  box.textContent = "";
  box.appendChild(el("p", {}, ["Compatibility level: ",
    el("b", { "class": "compat" }, h.level || "unknown")]));
  box.appendChild(el("table", { "class": "history" }, [
    el("thead", {}, el("tr", {}, ["Version", "Schema", "Change"].map(
      function (x) { return el("th", {}, x); }))),
    el("tbody", {}, rows)]));
}

function diff(before, after) {
  var added = after.filter(function (n) { return before.indexOf(n) < 0; });
  var removed = before.filter(function (n) { return after.indexOf(n) < 0; });
  var parts = [];
  if (added.length) parts.push("added " + added.join(", "));
  if (removed.length) parts.push("removed " + removed.join(", "));
  return parts.length ? parts.join("; ") : "same fields (types or docs changed)";
}

function renderDetail() {
  var box = document.getElementById("detail");
  box.textContent = "";
  var entry = state.entries[state.selected];
  if (!entry) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  var owner = entry.owner || {};
  box.appendChild(el("h2", { id: "detail-title" }, productId(entry)));
  box.appendChild(el("p", {}, [entry.description || "", " ",
    el("span", { "class": "muted" }, "owner " + (owner.team || "?") +
       (owner.contact ? " <" + owner.contact + ">" : "") +
       (entry.versions ? ", major versions " + entry.versions.join(", ") : ""))]));
  if (entry.terms) box.appendChild(el("p", { "class": "muted" }, "Terms: " + entry.terms));
  box.appendChild(el("h3", {}, "Output ports"));
  box.appendChild(renderPorts(entry));
  (entry.output_ports || []).forEach(function (port) {
    var vs = port.value_schema;
    if (!vs || !vs.schema) return;
    box.appendChild(el("h3", {}, "Schema of " + port.name + " (" + vs.subject +
                                 (vs.version ? ", version " + vs.version : "") + ")"));
    var rec = schemaFields(vs.schema);
    if (rec) {
      if (rec.doc) box.appendChild(el("p", {}, rec.doc));
      box.appendChild(fieldTable(rec, port.fields));
    } else {
      box.appendChild(el("pre", { "class": "mono" }, vs.schema));
    }
    var hist = el("div", { "class": "history-box", "data-subject": vs.subject });
    box.appendChild(el("h3", {}, "Versions of " + vs.subject));
    box.appendChild(hist);
    renderHistory(hist, vs.subject);
  });
}

/* ---- loading ---------------------------------------------------------- */

function load() {
  return Promise.all([getJSON("/catalog/products"), getJSON("/catalog/lineage")])
    .then(function (r) {
      state.products = r[0];
      state.lineage = r[1];
      return Promise.all(r[0].map(function (p) {
        return getJSON("/catalog/products/" + seg(p.domain) + "/" + seg(p.name))
          .then(function (e) { state.entries[productRef(p)] = e; })
          .catch(function () { /* removed meanwhile: shown without status */ });
      }));
    })
    .then(function () {
      var want = decodeURIComponent(location.hash.replace(/^#/, ""));
      state.selected = state.entries[want] ? want
        : (state.products.length ? productRef(state.products[0]) : null);
      document.getElementById("error").hidden = true;
      renderProducts();
      renderLineage();
      renderDetail();
      document.getElementById("updated").textContent =
        state.products.length + " products, updated " + new Date().toLocaleTimeString();
      document.body.setAttribute("data-loaded", "true");
    })
    .catch(function (e) {
      var p = document.getElementById("error");
      p.hidden = false;
      p.textContent = "Could not read the catalog: " + (e.message || e);
    });
}

window.addEventListener("hashchange", load);
document.addEventListener("DOMContentLoaded", function () {
  load();
  setInterval(load, REFRESH_MS);
});
