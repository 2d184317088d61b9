"""MeshBroker: runs mesh-broker for integration tests.

Starts the binary on loopback with port 0 for both listeners and a private
state.dir, waits for the state files (written once everything listens), and
drives the control endpoint with urllib only.  stderr goes to a file in the
test's tmpdir so a failing test can show the broker's log.
"""

import json
import os
import pathlib
import signal
import subprocess
import time
import urllib.error
import urllib.request

TIMEOUT_MULT = float(os.environ.get("TIMEOUT_MULT", "1.0"))


class MeshBrokerError(Exception):
    """A control call answered with an HTTP error; .status and .body."""

    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body))
        self.status = status
        self.body = body


class MeshBroker:
    def __init__(self, bin_path, tmpdir, brokers=3, extra_args=(),
                 start_timeout=20.0):
        self.bin_path = pathlib.Path(bin_path)
        if self.bin_path.is_dir():
            self.bin_path = self.bin_path / "mesh-broker"
        self.tmpdir = pathlib.Path(tmpdir)
        self.state_dir = self.tmpdir / "mesh-state"
        self.log_path = self.tmpdir / "mesh-broker.log"
        self.bootstrap = None
        self.control = None
        self.brokers = None
        args = [str(self.bin_path),
                "--set", "brokers=%d" % brokers,
                "--set", "bootstrap.listener=127.0.0.1:0",
                "--set", "control.listener=127.0.0.1:0",
                "--set", "state.dir=%s" % self.state_dir]
        args += list(extra_args)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        try:
            self._wait_ready(start_timeout * TIMEOUT_MULT)
        except Exception:
            self.kill()
            raise

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        names = ("bootstrap", "brokers", "control")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mesh-broker exited with %d before ready:\n%s"
                                   % (self.proc.returncode, self.log()))
            # bootstrap is written last: once it exists, all three do.
            if (self.state_dir / "bootstrap").exists():
                vals = [(self.state_dir / n).read_text().strip() for n in names]
                self.bootstrap, self.brokers, self.control = vals
                return
            time.sleep(0.02)
        raise TimeoutError("mesh-broker not ready after %.1fs:\n%s"
                           % (timeout, self.log()))

    def log(self):
        """The broker's stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ---- control endpoint -------------------------------------------------

    def request(self, method, path, body=None, timeout=10.0):
        """Returns (status, parsed JSON or text) without raising on 4xx/5xx."""
        data = None if body is None else (
            body if isinstance(body, (bytes, str)) else json.dumps(body))
        if isinstance(data, str):
            data = data.encode()
        req = urllib.request.Request(self.control + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout *
                                        TIMEOUT_MULT) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def _call(self, method, path, body=None, ok=(200,)):
        status, res = self.request(method, path, body)
        if status not in ok:
            raise MeshBrokerError(status, res)
        return res

    def topics(self):
        return self._call("GET", "/topics")["topics"]

    def topic(self, name):
        return self._call("GET", "/topics/" + name)

    def create_topic(self, name, partitions, configs=None,
                     replication_factor=None):
        body = {"name": name, "partitions": partitions}
        if configs is not None:
            body["configs"] = configs
        if replication_factor is not None:
            body["replication_factor"] = replication_factor
        return self._call("POST", "/topics", body, ok=(201,))

    def broker_list(self):
        return self._call("GET", "/brokers")["brokers"]

    def broker_down(self, broker_id):
        return self._call("POST", "/brokers/%d/down" % broker_id)

    def broker_up(self, broker_id):
        return self._call("POST", "/brokers/%d/up" % broker_id)

    def set_rtt(self, broker_id, ms):
        return self._call("PUT", "/brokers/%d/rtt" % broker_id, {"rtt_ms": ms})

    def push_errors(self, api, errors):
        return self._call("POST", "/errors", {"api": api,
                                              "errors": list(errors)})

    def clear_errors(self, api):
        return self._call("DELETE", "/errors/%s" % api)

    # ---- lifecycle --------------------------------------------------------

    def stop(self, timeout=20.0):
        """SIGTERM, wait, return the exit code (killing past the timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * TIMEOUT_MULT)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
