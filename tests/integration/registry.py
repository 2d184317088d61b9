"""MeshRegistry: runs mesh-registry for integration tests.

Starts the binary with listeners=http://127.0.0.1:0 and data.dir=<workdir>/data
(plus any extra settings), waits for <data.dir>/url (written atomically once
the store is replayed and the port listens), and talks to the REST API with
urllib only.  stderr/stdout go to <workdir>/mesh-registry.log so a failing
test can show the registry's log.

    reg = MeshRegistry(binary, workdir, sets={"storage": "journal"})
    status, body = reg.post("/subjects/s/versions", {"schema": text})
    reg.stop()  # SIGTERM, returns the exit code
"""

import json
import os
import pathlib
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_MULT = float(os.environ.get("TIMEOUT_MULT", "1.0"))
CT = "application/vnd.schemaregistry.v1+json"


def quote(subject):
    """A subject as one path segment ('/' encoded too)."""
    return urllib.parse.quote(subject, safe="")


class MeshRegistry:
    def __init__(self, binary, workdir, sets=None, start_timeout=30.0,
                 wait=True):
        self.binary = pathlib.Path(binary)
        if self.binary.is_dir():
            self.binary = self.binary / "mesh-registry"
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.url_path = self.data_dir / "url"
        self.log_path = self.workdir / "mesh-registry.log"
        self.url = None
        settings = {"listeners": "http://127.0.0.1:0",
                    "data.dir": str(self.data_dir)}
        if isinstance(sets, dict):
            settings.update({k: str(v) for k, v in sets.items()})
        elif sets:
            for kv in sets:
                k, _, v = kv.partition("=")
                settings[k] = v
        self.settings = settings
        # A url file left by an earlier (killed) instance is not ours.
        try:
            self.url_path.unlink()
        except FileNotFoundError:
            pass
        args = [str(self.binary)]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
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
                raise RuntimeError("mesh-registry exited with %d before ready:"
                                   "\n%s" % (self.proc.returncode, self.log()))
            if self.url_path.exists():
                url = self.url_path.read_text().strip()
                if url:
                    self.url = url
                    return url
            time.sleep(0.02)
        raise TimeoutError("mesh-registry not ready after %.1fs:\n%s"
                           % (timeout, self.log()))

    def log(self):
        """The registry's output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ---- lifecycle --------------------------------------------------------
    def stop(self, timeout=30.0):
        """SIGTERM, wait, return the exit code (-9 if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * TIMEOUT_MULT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash), wait, return the exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._log.close()
        return self.proc.returncode

    # ---- HTTP -------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, raw=None,
                timeout=30.0):
        """(status, parsed JSON body or text or None).  body is JSON-encoded;
        raw (bytes or str) is sent as is.  path starts with '/'."""
        data = None
        hdrs = {"Accept": CT}
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = CT
        if raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
            hdrs.setdefault("Content-Type", CT)
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout * TIMEOUT_MULT) \
                    as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, _decode(e.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- shortcuts --------------------------------------------------------
    def register(self, subject, schema, **extra):
        """POST /subjects/{subject}/versions; schema may be a dict."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return self.post(f"/subjects/{quote(subject)}/versions",
                         dict({"schema": text}, **extra))


def _decode(data):
    if not data:
        return None
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
