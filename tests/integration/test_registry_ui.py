"""The catalog page mesh-registry serves at /ui, in a real browser.

- the files are served from the binary with their Content-Type, an ETag
  and `Cache-Control: no-cache` (a matching If-None-Match is 304), whatever
  the browser's Accept; an unknown file, an encoded '/' or '..' is 404, and
  nothing but GET/HEAD is allowed;
- headless Chromium loads /ui against a running mesh (mesh-broker,
  mesh-registry, three products applied with `meshctl product apply` from
  examples/products/, a compatible second schema version and a
  materializer's port status): nothing reaches the page's console (no
  script error, CSP refusal or failed fetch), and the DOM after the page's
  script ran lists every product with its owner and SLA status, draws the
  lineage as an SVG with one node per product or source and one edge per
  input port, and shows the selected product's fields (with their docs and
  classification), its versions and its ports' live freshness.  The
  screenshot is kept in $MESH_BUILD/test-logs/registry_ui.png.

Chromium is Debian's `chromium` (`make deps` installs it); without it the
browser test is skipped, saying so.
"""

import http.client
import json
import os
import pathlib
import re
import shutil
import subprocess
import urllib.parse
from html.parser import HTMLParser

import pytest

from daemon import TIMEOUT_MULT

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "products"
CHROMIUM = shutil.which("chromium")


def raw_get(reg, path, method="GET", headers=None):
    """(status, headers dict with lower-case names, body bytes)."""
    u = urllib.parse.urlsplit(reg.url)
    conn = http.client.HTTPConnection(u.hostname, u.port,
                                      timeout=30 * TIMEOUT_MULT)
    try:
        conn.request(method, path, headers=headers or {})
        res = conn.getresponse()
        return (res.status, {k.lower(): v for k, v in res.getheaders()},
                res.read())
    finally:
        conn.close()


def test_files_types_caching_and_404(registry):
    status, hdrs, body = raw_get(registry, "/ui", headers={
        "Accept": "text/html"})  # not one of the API's types: still served
    assert status == 200, body
    assert hdrs["content-type"] == "text/html; charset=utf-8"
    assert hdrs["cache-control"] == "no-cache"
    assert hdrs["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in hdrs["content-security-policy"]
    assert b"<script src=\"/ui/app.js\"" in body
    # Nothing of the page comes from elsewhere (it must work offline).
    assert not re.search(rb"(src|href)=\"(https?:)?//", body)
    etag = hdrs["etag"]
    assert raw_get(registry, "/ui/index.html")[2] == body
    assert raw_get(registry, "/ui/")[2] == body

    status, hdrs304, body304 = raw_get(registry, "/ui",
                                       headers={"If-None-Match": etag})
    assert status == 304 and body304 == b""
    assert hdrs304["etag"] == etag
    status, hdrs, body = raw_get(registry, "/ui", method="HEAD")
    assert status == 200 and body == b""

    for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                        ("style.css", "text/css; charset=utf-8")):
        status, hdrs, body = raw_get(registry, f"/ui/{name}",
                                     headers={"Accept": "*/*"})
        assert status == 200 and hdrs["content-type"] == ctype, name
        assert hdrs["etag"] != etag and len(body) > 100
        assert b"http://" not in body.replace(
            b"http://www.w3.org/2000/svg", b"")

    for path in ("/ui/nope.js", "/ui/..%2Freg_main.c", "/ui/%2e%2e",
                 "/ui/../reg_main.c", "/ui/ui/index.html", "/ui/INDEX.HTML",
                 "/ui/app.js%00.html"):
        status, hdrs, body = raw_get(registry, path)
        assert status == 404, (path, status, body)
        assert json.loads(body)["error_code"] == 404
    status, _, body = raw_get(registry, "/ui", method="POST")
    assert status == 405, body


def meshctl(bins, reg, broker, *args):
    res = subprocess.run(
        [str(bins / "meshctl"), "--bootstrap", broker.bootstrap,
         "--registry", reg.url] + [str(a) for a in args],
        capture_output=True, text=True, timeout=120 * TIMEOUT_MULT)
    assert res.returncode == 0, (res.stdout, res.stderr)
    return res


@pytest.fixture
def mesh(bins, tmp_path, registry, mesh_broker):
    """The three example products applied, orders' value schema given docs
    (in the test's copy), a compatible second version registered, and a
    materializer's report for orders/events' table port."""
    products = tmp_path / "products"
    shutil.copytree(EXAMPLES, products)
    avsc = products / "order.avsc"
    schema = json.loads(avsc.read_text())
    schema["doc"] = "One order of the shop."
    for f in schema["fields"]:
        f["doc"] = f"doc of {f['name']}"
    avsc.write_text(json.dumps(schema))
    meshctl(bins, registry, mesh_broker, "product", "apply",
            *(products / f"{n}.yaml" for n in ("orders", "users", "billing")))

    v2 = dict(schema, fields=schema["fields"] + [
        {"name": "coupon", "type": ["null", "string"], "default": None,
         "doc": "doc of coupon"}])
    status, body = registry.register("orders.events.v1-value", v2)
    assert status == 200, body
    status, body = registry.put(
        "/catalog/products/orders/events/ports/orders-table/status",
        {"materializer": "mat-orders-pg", "offset": 4242, "rows": 1000,
         "freshness_ms": 800})
    assert status == 200, body
    return registry


class Dom(HTMLParser):
    """Just enough of the DOM: every element as (tag, attrs, text inside)."""

    def __init__(self):
        super().__init__()
        self.elements, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        e = [tag, dict(attrs), ""]
        self.elements.append(e)
        self.stack.append(e)

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        for e in self.stack:
            e[2] += data

    def find(self, tag, cls=None, **attrs):
        out = []
        for t, a, text in self.elements:
            if t != tag:
                continue
            if cls and cls not in (a.get("class") or "").split():
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append((a, text))
        return out


def chromium(tmp_path, *args):
    profile = tmp_path / "chromium-profile"
    # --enable-logging=stderr puts the page's console (script errors, CSP
    # refusals, failed fetches) on stderr as INFO:CONSOLE lines.
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--enable-logging=stderr", "--v=0",
           "--disable-dev-shm-usage", "--no-first-run",
           "--disable-extensions", "--disable-background-networking",
           f"--user-data-dir={profile}", *args]
    res = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=120 * TIMEOUT_MULT,
                         env=dict(os.environ, HOME=str(tmp_path)))
    assert res.returncode == 0, (res.returncode, res.stderr[-3000:])
    return res


@pytest.mark.skipif(CHROMIUM is None,
                    reason="chromium is not installed (make deps installs "
                           "Debian's chromium)")
def test_page_in_chromium_shows_products_lineage_schema(bins, tmp_path,
                                                        mesh):
    url = mesh.url + "/ui#orders/events"
    budget = str(int(8000 * TIMEOUT_MULT))
    res = chromium(tmp_path, f"--virtual-time-budget={budget}", "--dump-dom",
                   url)
    (tmp_path / "dom.html").write_text(res.stdout)
    console = [l for l in res.stderr.splitlines() if ":CONSOLE" in l]
    assert not console, console
    dom = Dom()
    dom.feed(res.stdout)
    assert dom.find("body", data_loaded="true"), res.stdout[-3000:]

    # The products, with owners, tags and SLA status.
    rows = {a["data-product"]: text
            for a, text in dom.find("tr", "product")}
    assert set(rows) == {"orders/events", "users/profiles",
                         "billing/invoices"}
    assert "orders-team" in rows["orders/events"]
    assert "orders@example.com" in rows["orders/events"]
    assert "identity" in rows["users/profiles"]
    assert "billing@example.com" in rows["billing/invoices"]
    assert "core" in rows["orders/events"]
    assert "kept: freshness 5m" in rows["orders/events"]
    assert "no SLA" in rows["billing/invoices"]

    # The lineage picture: one node per product and source, one edge per
    # input port, each edge between two drawn nodes.
    assert len(dom.find("svg", id="lineage-graph")) == 1
    nodes = {a["data-id"]: a["class"] for a, _ in dom.find("g", "node")}
    assert nodes.keys() == {
        "orders/events@1", "users/profiles@2", "billing/invoices@1",
        "source:postgres:public.orders", "source:http:/topics/signups"}
    assert "selected" in nodes["orders/events@1"]
    edges = {(a["data-from"], a["data-to"])
             for a, _ in dom.find("path", "edge")}
    assert edges == {
        ("source:postgres:public.orders", "orders/events@1"),
        ("source:http:/topics/signups", "users/profiles@2"),
        ("orders/events@1", "billing/invoices@1"),
        ("users/profiles@2", "billing/invoices@1")}
    assert all(re.match(r"M[\d.]+,[\d.]+ C", a["d"])
               for a, _ in dom.find("path", "edge"))

    # The selected product: its fields with docs and classification...
    assert dom.find("h2", id="detail-title")[0][1] == "orders/events@1"
    fields = {a["data-field"]: text for a, text in dom.find("tr", "field")}
    assert list(fields) == ["id", "customer_email", "amount"]
    assert "doc of amount" in fields["amount"]
    assert "pii" in fields["customer_email"]
    # ...its versions and compatibility history...
    versions = [text for _, text in dom.find("tr", "version")]
    assert len(versions) == 2, versions
    assert "first version" in versions[0]
    assert "added coupon" in versions[1]
    assert dom.find("b", "compat")[0][1] == "BACKWARD"
    # ...and its output ports with the materializer's live facts.
    ports = {a["data-port"]: text for a, text in dom.find("tr", "port")}
    assert "topic orders.events.v1 (3 partitions)" in ports["events"]
    assert "no report yet" in ports["events"]
    table = ports["orders-table"]
    assert "fresh" in table and "800 ms" in table, table
    assert "offset 4242" in table and "mat-orders-pg" in table

    # A picture a person can look at, kept with the test logs.
    png = tmp_path / "registry_ui.png"
    chromium(tmp_path, f"--virtual-time-budget={budget}",
             f"--screenshot={png}", "--window-size=1280,1800",
             "--hide-scrollbars", url)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    logs = bins.parent / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, logs / "registry_ui.png")
