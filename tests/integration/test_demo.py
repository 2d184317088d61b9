"""make demo, non-interactively: examples/demo.sh with DEMO_SECONDS runs the
e-commerce mesh of examples/ecommerce/ on the build under test, on free
loopback ports and a private state dir, and stops by itself.

Checked from its output and its state dir:
- the five products listed by `meshctl product list` with their owners;
- events flowing (a progress line with a non-zero rate of applied changes);
- freshness reported for every SQLite output port;
- a compatible schema change half-way (two versions of the orders value
  subject), one breaking change refused by the registry and one product
  refused by the mesh's governance policy (pii-not-public);
- the top merchants by revenue, read from the best-sellers output port:
  merchant names and revenues that agree with the orders and merchants
  output ports (the derivation is real, not a canned table);
- a clean stop: every process exits 0 (the script checks each), the script
  exits 0, nothing is left listening on the demo's ports, no pid file.

PostgreSQL's server binaries decide the orders source (pg, else the file
source); the second test forces the file source.
"""

import os
import pathlib
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile

import pytest

from pgserver import PG_BIN

ROOT = pathlib.Path(__file__).resolve().parents[2]
OWNERS = {"users/profiles@1": "identity-team",
          "merchants/stores@1": "merchant-success",
          "orders/orders@1": "checkout-team",
          "marketing/campaigns@1": "growth-team",
          "best-sellers/ranking@1": "marketplace-analytics"}
MERCHANTS = ["Alder & Co", "Brightside Books", "Cobalt Coffee", "Dune Outdoor",
             "Ember Kitchen", "Fjord Knitwear", "Granite Tools", "Harbor Tea",
             "Iris Florist", "Juniper Toys", "Kestrel Bikes", "Lumen Lamps",
             "Maple Games", "Nimbus Audio", "Orchid Beauty", "Pine Pantry",
             "Quill Stationery", "Riverstone Shoes", "Saffron Spices",
             "Tidal Swim"]


def _free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _listening(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def state_dir():
    # under /tmp, readable by the postgres user the demo runs PostgreSQL as
    # when root (pytest's tmp dirs are 0700)
    d = pathlib.Path(tempfile.mkdtemp(prefix="mesh-demo-"))
    d.chmod(0o755)
    yield d / "state"
    shutil.rmtree(d, ignore_errors=True)


def run_demo(bins, state, timeout, extra_env=None, seconds=16):
    ports = _free_ports(5)
    env = dict(os.environ,
               DEMO_STATE=str(state), DEMO_SECONDS=str(seconds),
               MESH_DEMO_BOOTSTRAP=f"127.0.0.1:{ports[0]}",
               MESH_DEMO_CONTROL=f"127.0.0.1:{ports[1]}",
               MESH_DEMO_REGISTRY=f"127.0.0.1:{ports[2]}",
               MESH_DEMO_INGEST=f"127.0.0.1:{ports[3]}",
               MESH_DEMO_PG_PORT=str(ports[4]))
    env.update(extra_env or {})
    build = bins.parent
    res = subprocess.run([str(ROOT / "examples" / "demo.sh"), str(build)],
                         cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True,
                         timeout=timeout(seconds + 60))
    out = res.stdout + res.stderr
    logs = state / "logs"
    if res.returncode != 0 and logs.is_dir():
        for log in sorted(logs.iterdir()):
            out += f"\n--- {log.name}\n" + "".join(
                log.read_text(errors="replace").splitlines(True)[-15:])
    return res.returncode, out, ports


def check_demo(rc, out, state, ports):
    assert rc == 0, out
    # the catalog, with owners
    for product, owner in OWNERS.items():
        assert re.search(rf"^\s+{re.escape(product)}\s+{owner}\s+active",
                         out, re.M), (product, out)
    # events flowing: some progress line applied changes at a rate > 0
    rates = [int(m) for m in re.findall(r"applied\s+\d+ \(\s*(\d+)/s\)", out)]
    assert rates and max(rates) > 0, out
    # freshness of every table port, within its SLA
    for port in ["users/profiles profiles-table",
                 "merchants/stores stores-table",
                 "orders/orders orders-table",
                 "marketing/campaigns campaigns-table",
                 "best-sellers/ranking ranking-table"]:
        assert re.search(rf"^\s+{re.escape(port)}\s+\d+\s+\d+\s+\d+\s+\d+s kept$",
                         out, re.M), (port, out)
    # the compatible change gave a second version, the breaking one refused
    assert "schema versions of orders.orders.v1-value: [1,2]" in out, out
    assert re.search(r"breaking change to subject merchants\.stores\.v1-value, "
                     r"refused by the registry", out), out
    assert "TYPE_MISMATCH" in out, out
    # and a governance refusal: the mesh's policy, by rule name and path
    assert re.search(r"policy rule 'pii-not-public' \(error\) at "
                     r"\$\.output_ports\[0\]", out), out
    # the query answer: merchant names with revenues in EUR
    top = re.findall(r"^\s+(\d)\s+(.+?)\s{2,}\S+\s+(\d+)\s+(\d+\.\d\d) EUR\s*$",
                     out, re.M)
    assert len(top) == 5, out
    assert [int(t[0]) for t in top] == sorted(int(t[0]) for t in top)
    for _, name, _, _ in top:
        assert name in MERCHANTS, (name, out)
    revenues = [float(t[3]) for t in top]
    assert revenues == sorted(revenues, reverse=True) and revenues[0] > 0
    # derived for real: the best-sellers port agrees with the orders and
    # merchants ports at its last computation (orders only grow, so the
    # revenue it shows is at most what the orders port has now)
    ports_dir = state / "ports"
    con = sqlite3.connect(ports_dir / "orders.db")
    con.execute("ATTACH ? AS m", (str(ports_dir / "stores.db"),))
    con.execute("ATTACH ? AS b", (str(ports_dir / "best_sellers.db"),))
    now = dict(con.execute(
        "SELECT st.name, sum(o.amount_cents) FROM orders o "
        "JOIN m.stores st ON st.merchant_id = o.merchant_id GROUP BY st.name"))
    shown = con.execute("SELECT merchant_name, revenue_cents, orders "
                        "FROM b.best_sellers").fetchall()
    coupons = con.execute("SELECT count(*) FROM orders "
                          "WHERE coupon_code IS NOT NULL").fetchone()[0]
    con.close()
    assert len(shown) == 20
    for name, revenue, _ in shown:
        assert 0 < revenue <= now[name], (name, revenue, now[name])
    assert coupons > 0  # the new column reached the output port
    # a clean stop
    assert "every process stopped cleanly" in out, out
    assert not (state / "demo.pid").exists()
    for port in ports[:4]:
        assert not _listening(port), port
    logs = {p.name for p in (state / "logs").iterdir()}
    assert {"mesh-broker.log", "mesh-registry.log", "producer-orders.log",
            "mat-orders.log", "mat-best-sellers.log"} <= logs


def test_demo(bins, state_dir, timeout):
    rc, out, ports = run_demo(bins, state_dir, timeout)
    check_demo(rc, out, state_dir, ports)
    if (PG_BIN / "postgres").exists():
        assert "pg source (orders)" in out, out
        assert "ALTER TABLE orders ADD COLUMN coupon_code" in out


def test_demo_without_postgresql(bins, state_dir, timeout):
    rc, out, ports = run_demo(bins, state_dir, timeout,
                              extra_env={"DEMO_NO_PG": "1"}, seconds=12)
    check_demo(rc, out, state_dir, ports)
    assert "file source (orders" in out, out
