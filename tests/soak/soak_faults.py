"""soak_faults: the faults the soak rotates through, one at a time.

Each fault is injected, held for `hold_s`, recovered, and then the driver
waits until every daemon says it is healthy again before the next one
(recovery in between).  One line is printed when a fault starts and one
when it is recovered, with the wall-clock time and the time since the
start of the run.

    broker-down     one mock broker down (its leaderships move first, as
                    a controlled shutdown would), then up; the broker
                    taken down rotates over 1..3
    registry        mesh-registry stopped (SIGTERM), then started again on
                    the same journal and port
    postgres        PostgreSQL restarted (fast shutdown): the pg source's
                    replication connection and the pg sink's connection
                    drop; the source table and the output port are on it
    materializer    one materializer SIGKILLed, restarted on its state
                    (rotates over sqlite, postgres, avro)
    producer        one producer SIGKILLed, restarted on its state
                    (rotates over http, file, pg)
    slow-network    every mock broker answers RTT_MS later, then at once
"""

import time

from daemon import TIMEOUT_MULT, http_call
from soak_mesh import SINKS, SOURCES

RTT_MS = 300
HEALTHY_TIMEOUT_S = 120


def stamp(t0):
    return "%s +%7.1fs" % (time.strftime("%H:%M:%S", time.gmtime()),
                           time.monotonic() - t0)


class Faults:
    KINDS = ("broker-down", "registry", "postgres", "materializer",
             "producer", "slow-network")

    def __init__(self, mesh, t0):
        self.mesh, self.t0 = mesh, t0
        self.done = []          # (kind, detail)
        self.turn = 0

    def run_one(self, hold_s):
        """Injects the next fault, holds it, recovers, waits until healthy;
        returns the seconds the whole thing took."""
        start = time.monotonic()
        kind = self.KINDS[self.turn % len(self.KINDS)]
        rot = self.turn // len(self.KINDS)
        self.turn += 1
        detail = getattr(self, "_" + kind.replace("-", "_"))(rot, hold_s)
        self.done.append((kind, detail))
        healthy = self.wait_healthy()
        print(f"{stamp(self.t0)} recovered {kind} {detail} (healthy after "
              f"{healthy:.1f}s)", flush=True)
        return time.monotonic() - start

    def _say(self, kind, detail):
        print(f"{stamp(self.t0)} fault     {kind} {detail}", flush=True)

    def _broker_down(self, rot, hold_s):
        broker = self.mesh.broker
        bid = 1 + rot % 3
        detail = f"broker {bid} for {hold_s:.0f}s"
        self._say("broker-down", detail)
        broker.broker_down(bid)
        time.sleep(hold_s)          # the fault lasts this long on purpose
        broker.broker_up(bid)
        return detail

    def _registry(self, rot, hold_s):
        detail = f"down for {hold_s:.0f}s"
        self._say("registry", detail)
        self.mesh.stop_registry()
        time.sleep(hold_s)          # the fault lasts this long on purpose
        self.mesh.start_registry()
        return detail

    def _postgres(self, rot, hold_s):
        detail = "fast shutdown and start"
        self._say("postgres", detail)
        self.mesh.restart_pg()
        return detail

    def _materializer(self, rot, hold_s):
        name = SINKS[rot % len(SINKS)]
        detail = f"{name} SIGKILL, restart after {hold_s:.0f}s"
        self._say("materializer", detail)
        self.mesh.mats[name].kill()
        time.sleep(hold_s)          # the fault lasts this long on purpose
        self.mesh.restart_materializer(name)
        return detail

    def _producer(self, rot, hold_s):
        name = SOURCES[rot % len(SOURCES)]
        detail = f"{name} SIGKILL, restart after {hold_s:.0f}s"
        self._say("producer", detail)
        self.mesh.producers[name].kill()
        time.sleep(hold_s)          # the fault lasts this long on purpose
        self.mesh.restart_producer(name)
        return detail

    def _slow_network(self, rot, hold_s):
        broker = self.mesh.broker
        detail = f"rtt {RTT_MS} ms on every broker for {hold_s:.0f}s"
        self._say("slow-network", detail)
        ids = [b["id"] for b in broker.broker_list()]
        for bid in ids:
            broker.set_rtt(bid, RTT_MS)
        time.sleep(hold_s)          # the fault lasts this long on purpose
        for bid in ids:
            broker.set_rtt(bid, 0)
        return detail

    # ---- health ---------------------------------------------------------

    def unhealthy(self):
        """{daemon: reason} of every daemon that is not healthy now."""
        out = {}
        for label, d in self.mesh.daemons().items():
            if d.proc.poll() is not None:
                out[label] = f"exited with {d.proc.returncode}"
                continue
            if label == "mesh-broker":
                url = d.control + "/healthz"
            elif label == "mesh-registry":
                url = d.url + "/subjects"
            else:
                url = d.ops + "/healthz"
            try:
                status, body = http_call("GET", url, timeout=10)
            except OSError as e:
                out[label] = str(e)
                continue
            if status != 200:
                out[label] = f"{status} {body[:200]!r}"
        return out

    def wait_healthy(self):
        """Polls until every daemon is healthy; raises after
        HEALTHY_TIMEOUT_S with the reasons.  Returns the seconds waited."""
        start = time.monotonic()
        deadline = start + HEALTHY_TIMEOUT_S * TIMEOUT_MULT
        while True:
            bad = self.unhealthy()
            if not bad:
                return time.monotonic() - start
            dead = [k for k, v in bad.items() if v.startswith("exited")]
            if dead:
                d = self.mesh.daemons()[dead[0]]
                raise AssertionError(f"{dead[0]} {bad[dead[0]]}:\n"
                                     f"{d.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not healthy {HEALTHY_TIMEOUT_S}s after the fault: "
                    + "; ".join(f"{k}: {v}" for k, v in sorted(bad.items())))
            time.sleep(0.5)
