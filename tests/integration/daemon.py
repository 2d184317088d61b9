"""Daemon: the process lifecycle shared by the integration-test helpers
(MeshRegistry, MeshProducer, MeshMaterializer, MeshBroker).

A subclass names its program (PROGRAM), builds its settings and calls
_spawn(settings): the binary runs with one `--set key=value` per setting,
stdout and stderr go to <workdir>/<PROGRAM>.log, and (wait=True) the
constructor waits until _read_ready() returns something while checking
that the process is still alive; a failed start kills the process.

    d.stop()               # SIGTERM, wait, return the exit code
    d.kill()               # SIGKILL (a crash), wait, return the exit code
    d.wait_exit(timeout)   # for runs expected to end by themselves
    d.log()                # the process output so far

OpsDaemon adds what mesh-producer and mesh-materializer share: a JSON ready
file (ready.file) naming the ops endpoint (ops.listener on port 0), and
health() / metrics() / metric() / wait_metric() on that endpoint.

daemon_factory() is the body of the conftest factory fixtures: start,
remember, judge every instance at teardown.
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

import pytest

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


def http_call(method, url, data=None, headers=None, timeout=10.0):
    """(status, raw body bytes); 4xx/5xx answers are returned, not raised.
    timeout is used as given (callers apply TIMEOUT_MULT where they want)."""
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def unlink_stale(path):
    """Removes a ready/url file left by an earlier (killed) instance: it is
    not the new one's."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class Daemon:
    PROGRAM = "daemon"     # binary name in bins/, log file name
    STOP_TIMEOUT = 30.0    # stop()'s default, before TIMEOUT_MULT
    LOG_TAIL = None        # characters of log() quoted in start errors
    LOG_MODE = "ab"        # "ab": a restart in the same workdir appends

    def __init__(self, binary, workdir):
        self.binary = pathlib.Path(binary)
        if self.binary.is_dir():
            self.binary = self.binary / self.PROGRAM
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.PROGRAM}.log"
        self.killed = False
        self.proc = None

    def _spawn(self, settings, extra_args=(), stdin=None):
        args = [str(self.binary)]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        self.args = args + list(extra_args)
        self._log = open(self.log_path, self.LOG_MODE)
        self.proc = subprocess.Popen(
            self.args, stdout=self._log, stderr=self._log,
            stdin=subprocess.DEVNULL if stdin is None else stdin)

    def _start(self, settings, start_timeout, wait=True, extra_args=(),
               stdin=None):
        """_spawn, then (wait) wait_ready, killing the process on failure."""
        self._spawn(settings, extra_args, stdin)
        if wait:
            try:
                self.wait_ready(start_timeout * TIMEOUT_MULT)
            except Exception:
                self.kill()
                raise

    def _read_ready(self):
        """The ready value once the process announced it, else None."""
        raise NotImplementedError

    def _log_excerpt(self):
        text = self.log()
        return text if self.LOG_TAIL is None else text[-self.LOG_TAIL:]

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d before ready:\n%s"
                                   % (self.PROGRAM, self.proc.returncode,
                                      self._log_excerpt()))
            ready = self._read_ready()
            if ready is not None:
                return ready
            time.sleep(0.02)
        raise TimeoutError("%s not ready after %.1fs:\n%s"
                           % (self.PROGRAM, timeout, self._log_excerpt()))

    def log(self):
        """The process output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ---- lifecycle --------------------------------------------------------
    def _close_log(self):
        if not self._log.closed:
            self._log.close()

    def stop(self, timeout=None):
        """SIGTERM, wait, return the exit code (-9 if it had to be killed)."""
        if timeout is None:
            timeout = self.STOP_TIMEOUT
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * TIMEOUT_MULT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash), wait, return the exit code."""
        self.killed = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def wait_exit(self, timeout=30.0):
        """Waits for the process to end by itself; returns the exit code."""
        try:
            self.proc.wait(timeout * TIMEOUT_MULT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._close_log()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class OpsDaemon(Daemon):
    """A daemon announcing itself in a JSON ready file (ready.file) with its
    ops endpoint (ops.listener on port 0) as "ops"."""

    STOP_TIMEOUT = 60.0

    def __init__(self, binary, workdir):
        super().__init__(binary, workdir)
        self.ready_path = self.workdir / "ready.json"
        self.ops = None
        self.ready = None
        self.expect_exit = 0
        unlink_stale(self.ready_path)

    def _base_settings(self):
        return {"ready.file": str(self.ready_path),
                "ops.listener": "127.0.0.1:0"}

    def _read_ready(self):
        if not self.ready_path.exists():
            return None
        text = self.ready_path.read_text().strip()
        if not text:
            return None
        self.ready = json.loads(text)
        self.ops = self.ready.get("ops")
        return self.ready

    def _get(self, path, timeout=10.0):
        status, raw = http_call("GET", self.ops + path, timeout=timeout)
        return status, raw.decode("utf-8", "replace")

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
                raise RuntimeError("%s exited with %d:\n%s"
                                   % (self.PROGRAM, self.proc.returncode,
                                      self.log()[-4000:]))
            value = self.metric(name, **labels)
            if value >= at_least:
                return value
            time.sleep(0.1)
        raise TimeoutError("%s%s = %s, wanted >= %s after %.1fs:\n%s"
                           % (name, labels, value, at_least, timeout,
                              self.log()[-4000:]))


# ---- conftest factory fixtures ---------------------------------------------

def must_exit_with_expected(i, d):
    """Teardown verdict: an instance the test did not kill is stopped and
    must exit with its .expect_exit (0 unless the test says otherwise)."""
    if d.killed:
        return None
    code = d.stop()
    want = getattr(d, "expect_exit", 0)
    if code != want:
        return (f"{d.PROGRAM} {i} exited with {code} (expected {want}):\n"
                f"{d.log()[-3000:]}")
    return None


def daemon_factory(bins, tmp_path, cls, verdict=must_exit_with_expected):
    """Generator body of a factory fixture (`yield from daemon_factory(...)`):
    yields make(sets=None, workdir=None, **kwargs) -> cls(binary, workdir,
    [sets=sets,] **kwargs), each in a private workdir unless given; at
    teardown verdict(index, instance) -> error text or None is asked for
    every instance, and any error fails the test."""
    binary = bins / cls.PROGRAM
    if not binary.exists():
        pytest.fail(f"{binary} not built "
                    "(make test-build BUILD=build/asan SAN=1)")
    started = []

    def make(sets=None, workdir=None, **kwargs):
        if workdir is None:
            workdir = tmp_path / f"{cls.PROGRAM}-{len(started)}"
        if sets is not None:
            kwargs["sets"] = sets
        # The constructor starts the process and (by default) waits for it.
        d = cls(binary, workdir, **kwargs)
        started.append(d)
        return d

    yield make
    bad = [msg for msg in (verdict(i, d) for i, d in enumerate(started))
           if msg]
    assert not bad, "\n".join(bad)
