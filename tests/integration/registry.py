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
import urllib.parse

from daemon import TIMEOUT_MULT, Daemon, http_call, unlink_stale

CT = "application/vnd.schemaregistry.v1+json"


def quote(subject):
    """A subject as one path segment ('/' encoded too)."""
    return urllib.parse.quote(subject, safe="")


class MeshRegistry(Daemon):
    PROGRAM = "mesh-registry"

    def __init__(self, binary, workdir, sets=None, start_timeout=30.0,
                 wait=True):
        super().__init__(binary, workdir)
        self.data_dir = self.workdir / "data"
        self.url_path = self.data_dir / "url"
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
        unlink_stale(self.url_path)
        self._start(settings, start_timeout, wait)

    def _read_ready(self):
        if self.url_path.exists():
            url = self.url_path.read_text().strip()
            if url:
                self.url = url
                return url
        return None

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
        status, answer = http_call(method, self.url + path, data, hdrs,
                                   timeout * TIMEOUT_MULT)
        return status, _decode(answer)

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
