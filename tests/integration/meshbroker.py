"""MeshBroker: runs mesh-broker for integration tests.

Starts the binary on loopback with port 0 for both listeners and a private
state.dir, waits for the state files (written once everything listens), and
drives the control endpoint with urllib only.  stderr goes to a file in the
test's tmpdir so a failing test can show the broker's log.
"""

import json

from daemon import TIMEOUT_MULT, Daemon, http_call


class MeshBrokerError(Exception):
    """A control call answered with an HTTP error; .status and .body."""

    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body))
        self.status = status
        self.body = body


class MeshBroker(Daemon):
    PROGRAM = "mesh-broker"
    STOP_TIMEOUT = 20.0
    LOG_MODE = "wb"

    def __init__(self, bin_path, tmpdir, brokers=3, extra_args=(),
                 start_timeout=20.0):
        super().__init__(bin_path, tmpdir)
        self.bin_path = self.binary
        self.tmpdir = self.workdir
        self.state_dir = self.tmpdir / "mesh-state"
        self.bootstrap = None
        self.control = None
        self.brokers = None
        settings = {"brokers": "%d" % brokers,
                    "bootstrap.listener": "127.0.0.1:0",
                    "control.listener": "127.0.0.1:0",
                    "state.dir": str(self.state_dir)}
        self._start(settings, start_timeout, extra_args=extra_args)

    def _read_ready(self):
        # bootstrap is written last: once it exists, all three do.
        if not (self.state_dir / "bootstrap").exists():
            return None
        names = ("bootstrap", "brokers", "control")
        vals = [(self.state_dir / n).read_text().strip() for n in names]
        self.bootstrap, self.brokers, self.control = vals
        return self.bootstrap

    # ---- control endpoint -------------------------------------------------

    def request(self, method, path, body=None, timeout=10.0):
        """Returns (status, parsed JSON or text) without raising on 4xx/5xx."""
        data = None if body is None else (
            body if isinstance(body, (bytes, str)) else json.dumps(body))
        if isinstance(data, str):
            data = data.encode()
        headers = {} if data is None else {"Content-Type": "application/json"}
        status, raw = http_call(method, self.control + path, data, headers,
                                timeout * TIMEOUT_MULT)
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
