"""PgServer: a throwaway PostgreSQL 15 server for integration tests.

initdb into a fresh directory, start `postgres` on a free 127.0.0.1 port
with its unix socket inside that directory (never the system's
/var/run/postgresql, never port 5432), wait until pg_isready answers,
create the database, and stop with a fast shutdown at the end.

PostgreSQL refuses to run as root, so when the tests run as root the data
directory is created under /tmp (pytest's own tmp dirs are 0700 root and
the server could not enter them), chowned to the `postgres` system user,
and initdb/postgres run as that user (Popen user=/group=, which switches
before exec so the PID we hold is the postmaster itself).

wal_level is logical unless asked otherwise (PgServer(wal_level=
"replica")), so the pg source's tests can open replication slots.

fsync stays on: the materializer tests check durability, and a server that
lies about fsync would make them meaningless.

    pg = PgServer()
    pg.start()
    pg.conninfo   # "host=127.0.0.1 port=N dbname=mesh user=postgres"
    pg.psql("SELECT 1")  -> "1"
    pg.restart()  # fast shutdown and start on the same port and data
    pg.stop()
"""

import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BIN = pathlib.Path(os.environ.get("MESH_PG_BIN",
                                     "/usr/lib/postgresql/15/bin"))
TIMEOUT_MULT = float(os.environ.get("TIMEOUT_MULT", "1.0"))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, dbname="mesh", user="postgres", wal_level="logical"):
        self.dbname = dbname
        self.wal_level = wal_level
        self.user = user
        self.port = None
        self.proc = None
        self.as_root = os.geteuid() == 0
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="mesh-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self._uid, self._gid)

    # -- process helpers -------------------------------------------------

    def _run_as(self, args, **kwargs):
        if self.as_root:
            kwargs.setdefault("user", self._uid)
            kwargs.setdefault("group", self._gid)
            kwargs.setdefault("extra_groups", [])
        return kwargs

    def _check(self, args, **kwargs):
        res = subprocess.run(args, capture_output=True, text=True,
                             **self._run_as(args, **kwargs))
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} exited "
                               f"{res.returncode}:\n{res.stdout}{res.stderr}")
        return res.stdout

    @property
    def conninfo(self):
        return (f"host=127.0.0.1 port={self.port} dbname={self.dbname} "
                f"user={self.user}")

    # -- lifecycle -------------------------------------------------------

    def start(self, timeout=60.0):
        self._check([PG_BIN / "initdb", "-D", self.data, "-U", self.user,
                     "--auth=trust", "--encoding=UTF8", "--locale=C",
                     "--no-instructions"])
        # A free port can be taken between our probe and the bind: retry.
        for attempt in range(5):
            self.port = _free_port()
            if self._start_once(timeout * TIMEOUT_MULT):
                break
        else:
            raise RuntimeError(f"postgres did not start:\n{self.log()}")
        self._check([PG_BIN / "createdb", "-h", "127.0.0.1", "-p",
                     str(self.port), "-U", self.user, self.dbname])
        return self

    def _start_once(self, timeout):
        args = [PG_BIN / "postgres", "-D", self.data,
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"port={self.port}",
                "-c", f"unix_socket_directories={self.dir}",
                "-c", "fsync=on",
                "-c", "synchronous_commit=on",
                "-c", "max_connections=64",
                "-c", "logging_collector=off",
                "-c", "log_min_messages=warning",
                # the pg source's tests need logical decoding; the
                # materializer's do not mind it
                "-c", f"wal_level={self.wal_level}",
                "-c", "max_replication_slots=32",
                "-c", "max_wal_senders=32"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log,
                                     **self._run_as(args))
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            res = subprocess.run([PG_BIN / "pg_isready", "-q", "-h",
                                  "127.0.0.1", "-p", str(self.port)])
            if res.returncode == 0:
                return True
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres not ready after {timeout}s:\n"
                           f"{self.log()}")

    def restart(self, timeout=60.0):
        """Fast shutdown, then the same server again on the same port and
        data directory: what its clients see when an operator restarts
        PostgreSQL (sessions and replication connections drop, committed
        data and replication slots stay)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout * TIMEOUT_MULT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"postgres ignored SIGINT for {timeout}s:\n"
                               f"{self.log()[-3000:]}")
        if not self._start_once(timeout * TIMEOUT_MULT):
            raise RuntimeError(f"postgres did not start again on port "
                               f"{self.port}:\n{self.log()[-3000:]}")

    def stop(self, timeout=30.0):
        """Fast shutdown (SIGINT: abort sessions, checkpoint, exit); returns
        the postmaster's exit code, or None when it was not running.  The
        data directory is removed."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                code = self.proc.wait(timeout * TIMEOUT_MULT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        shutil.rmtree(self.dir, ignore_errors=True)
        return code

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- queries ---------------------------------------------------------

    def psql(self, sql, dbname=None):
        """Runs sql with psql (unaligned, tuples only, stop on error) and
        returns its stdout without the trailing newline.  Rows are lines,
        columns separated by '|'."""
        res = subprocess.run(
            [PG_BIN / "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
             "-d", dbname or self.dbname, "-c", sql],
            capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"psql failed ({res.returncode}) on "
                               f"{sql!r}:\n{res.stderr}")
        return res.stdout.rstrip("\n")

    def rows(self, sql, sep="\x1f"):
        """Runs sql and returns a list of tuples of strings (NULL as None
        is not distinguishable from '' in psql's text output, so NULLs are
        shown as the string '\\N')."""
        res = subprocess.run(
            [PG_BIN / "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-F", sep, "-P", "null=\\N",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
             "-d", self.dbname, "-c", sql],
            capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"psql failed ({res.returncode}) on "
                               f"{sql!r}:\n{res.stderr}")
        out = res.stdout.rstrip("\n")
        if not out:
            return []
        return [tuple(None if c == "\\N" else c for c in line.split(sep))
                for line in out.split("\n")]
