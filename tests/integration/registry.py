"""MeshRegistry: runs mesh-registry for integration tests.

Starts the binary with listeners=http://127.0.0.1:0 and data.dir=<workdir>/data
(plus any extra settings), waits for <data.dir>/url (written atomically once
the store is replayed and the port listens), and talks to the REST API with
urllib only.  stderr/stdout go to <workdir>/mesh-registry.log so a failing
test can show the registry's log.

    reg = MeshRegistry(binary, workdir, sets={"storage": "journal"})
    status, body = reg.post("/subjects/s/versions", {"schema": text})
    reg.stop()  # SIGTERM, returns the exit code

With MESH_REGISTRY_AUTH=admin in the environment, every registry started
here without credentials of its own gets a credentials file with one admin
principal, and every request made through it sends that principal's Basic
credentials: the API tests then show that authentication on changes
nothing for an admin (MESH_REGISTRY_AUTH=admin tests/run.sh ... with
MESH_PYTEST=tests/integration/test_registry_api.py).
"""

import base64
import ctypes
import json
import os
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
        self.default_headers = {}
        if os.environ.get("MESH_REGISTRY_AUTH") == "admin" and \
                "auth.credentials.file" not in settings:
            self.workdir.mkdir(parents=True, exist_ok=True)
            creds = self.workdir / "principals"
            creds.write_text(f"admin:{yescrypt('admin-secret')}:admin\n")
            settings["auth.credentials.file"] = str(creds)
            self.default_headers = {"Authorization": "Basic " + base64.b64encode(
                b"admin:admin-secret").decode()}
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
        hdrs.update(self.default_headers)
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


def yescrypt(password):
    """A yescrypt hash of password, made by libxcrypt (what mkpasswd -m
    yescrypt makes)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt.restype = ctypes.c_char_p
    salt = lib.crypt_gensalt(b"$y$", 0, None, 0)
    return lib.crypt(password.encode(), salt).decode()


def _decode(data):
    if not data:
        return None
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
