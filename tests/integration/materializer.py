"""MeshMaterializer: runs mesh-materializer for integration tests.

Starts the binary with ready.file=<workdir>/ready.json and ops.listener on
port 0 plus the given settings (any key of mesh-materializer, kafka.* too),
waits for the ready file (written atomically once the consumer is
subscribed and the ops endpoint listens) and exposes the ops URL found
there.  Output goes to <workdir>/mesh-materializer.log (appended to, so a
restarted instance in the same workdir keeps the whole story).

    m = MeshMaterializer(binary, workdir, sets={"sink": "sqlite", ...})
    m.ops                  # "http://127.0.0.1:PORT"
    m.metrics()            # {(name, frozenset(labels.items())): value}
    m.metric("mesh_materializer_records_applied_total", topic=t)  # sum
    m.health()             # (status, body)
    m.wait_metric(name, at_least, timeout, **labels)
    m.stop()               # SIGTERM, returns the exit code
    m.kill()               # SIGKILL, returns the exit code
    m.wait_exit(timeout)   # for runs expected to end by themselves

wait=False starts without waiting (a bad configuration exits 2 at once:
m.wait_exit() then m.log()).
"""

import json
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

TIMEOUT_MULT = float(os.environ.get("TIMEOUT_MULT", "1.0"))

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset((label, value)...)): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            continue
    return out


class MeshMaterializer:
    def __init__(self, binary, workdir, sets=None, start_timeout=60.0,
                 wait=True):
        self.binary = pathlib.Path(binary)
        if self.binary.is_dir():
            self.binary = self.binary / "mesh-materializer"
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_path = self.workdir / "ready.json"
        self.log_path = self.workdir / "mesh-materializer.log"
        self.ops = None
        self.ready = None
        self.killed = False
        self.expect_exit = 0
        settings = {"ready.file": str(self.ready_path),
                    "ops.listener": "127.0.0.1:0"}
        settings.update({k: str(v) for k, v in (sets or {}).items()})
        self.settings = settings
        # A ready file left by an earlier (killed) instance is not ours.
        try:
            self.ready_path.unlink()
        except FileNotFoundError:
            pass
        args = [str(self.binary)]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        self.args = args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log,
                                     stderr=self._log,
                                     stdin=subprocess.DEVNULL)
        if wait:
            try:
                self.wait_ready(start_timeout * TIMEOUT_MULT)
            except Exception:
                self.kill()
                raise

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mesh-materializer exited with %d before "
                                   "ready:\n%s" % (self.proc.returncode,
                                                   self.log()[-4000:]))
            if self.ready_path.exists():
                text = self.ready_path.read_text().strip()
                if text:
                    self.ready = json.loads(text)
                    self.ops = self.ready.get("ops")
                    return self.ready
            time.sleep(0.02)
        raise TimeoutError("mesh-materializer not ready after %.1fs:\n%s"
                           % (timeout, self.log()[-4000:]))

    def log(self):
        """The materializer's output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _get(self, path, timeout=10.0):
        try:
            with urllib.request.urlopen(self.ops + path,
                                        timeout=timeout) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def health(self):
        """(status, body) of GET /healthz."""
        return self._get("/healthz")

    def metrics(self):
        status, body = self._get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}: {body}")
        return parse_metrics(body)

    def metric(self, name, **labels):
        """Sum of the samples called name whose labels include labels."""
        want = {(k, str(v)) for k, v in labels.items()}
        return sum(v for (n, ls), v in self.metrics().items()
                   if n == name and want <= ls)

    def wait_metric(self, name, at_least, timeout=30.0, **labels):
        """Waits until metric(name, **labels) >= at_least; returns it."""
        deadline = time.monotonic() + timeout * TIMEOUT_MULT
        value = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mesh-materializer exited with %d:\n%s"
                                   % (self.proc.returncode,
                                      self.log()[-4000:]))
            value = self.metric(name, **labels)
            if value >= at_least:
                return value
            time.sleep(0.1)
        raise TimeoutError("%s%s = %s, wanted >= %s after %.1fs:\n%s"
                           % (name, labels, value, at_least, timeout,
                              self.log()[-4000:]))

    def wait_exit(self, timeout=30.0):
        """Waits for the process to end by itself; returns the exit code."""
        try:
            self.proc.wait(timeout * TIMEOUT_MULT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if not self._log.closed:
                self._log.close()
        return self.proc.returncode

    def stop(self, timeout=60.0):
        """SIGTERM, wait, return the exit code (-9 if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * TIMEOUT_MULT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash), wait, return the exit code."""
        self.killed = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode
