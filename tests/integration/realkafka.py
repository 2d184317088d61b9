"""A real Apache Kafka (KRaft, single combined broker+controller) on loopback.

The broker is started through tests/kafka/kafka.sh (jars from Maven Central,
cached under build/), on free ports, with its data in a temporary directory.
The process is our child and gets SIGTERM if the test process dies, so an
aborted test run leaves no JVM behind.

    kafka = RealKafka(tmp_dir)
    kafka.start()
    ... kafka.bootstrap ...
    kafka.stop()
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "tests" / "kafka" / "kafka.sh"


def timeout_mult():
    """TIMEOUT_MULT (default 1.0) stretches every timeout for slow builds."""
    try:
        mult = float(os.environ.get("TIMEOUT_MULT", "1.0"))
    except ValueError:
        mult = 1.0
    return mult if mult > 0 else 1.0


def free_ports(count):
    """Ports the kernel considers free right now (bind port 0, then release).

    All sockets stay open until every port is known, so the ports differ."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def fetch():
    """Resolves the pinned Kafka jars once (kafka.sh fetch is idempotent)."""
    subprocess.run([str(KAFKA_SH), "fetch"], check=True,
                   stdin=subprocess.DEVNULL)


def _tcp_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class KafkaStartError(RuntimeError):
    pass


class RealKafka:
    """One broker in `workdir` (config, data, logs all live there)."""

    def __init__(self, workdir, start_timeout=60.0, stop_timeout=30.0):
        self.workdir = pathlib.Path(workdir)
        self.start_timeout = start_timeout * timeout_mult()
        self.stop_timeout = stop_timeout * timeout_mult()
        self.proc = None
        self.port = None
        self.controller_port = None
        self.startup_seconds = None

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def server_log(self):
        return self.workdir / "logs" / "server.log"

    def start(self, attempts=3):
        """Starts the broker and waits until it answers a Metadata request.

        Free ports are only free until someone else binds them (other test
        runs share the machine), so a lost race is retried on new ports."""
        fetch()
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once()
            except KafkaStartError:
                if attempt == attempts or not self._lost_port_race():
                    raise

    def _lost_port_race(self):
        try:
            out = (self.workdir / "kafka.out").read_text(errors="replace")
        except OSError:
            return False
        return "Address already in use" in out

    def _start_once(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.controller_port = free_ports(2)
        out = open(self.workdir / "kafka.out", "wb")
        cmd = [str(KAFKA_SH), "run", str(self.workdir), str(self.port),
               str(self.controller_port)]
        # setpriv ties the JVM's life to ours: if pytest is killed, Kafka
        # gets SIGTERM instead of living on and holding the ports.
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "TERM", "--"] + cmd
        t0 = time.monotonic()
        # Own session: a Ctrl-C on the test run reaches pytest only, which
        # then stops the broker through the fixture's teardown.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()
        try:
            self._wait_ready(t0 + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, deadline):
        # The port accepts before the broker serves requests, so after the
        # TCP check a Metadata request must list this broker.
        while not _tcp_open(self.port):
            self._check_alive()
            self._check_deadline(deadline)
            time.sleep(0.1)
        from confluent_kafka.admin import AdminClient
        # log_level 3: connection warnings while the broker comes up are
        # expected; a broker that never does is reported below, with its log.
        admin = AdminClient({"bootstrap.servers": self.bootstrap,
                             "socket.connection.setup.timeout.ms": 2000,
                             "log_level": 3})
        while True:
            self._check_alive()
            self._check_deadline(deadline)
            try:
                md = admin.list_topics(timeout=2)
                if md.brokers:
                    return
            except Exception:  # KafkaException until the broker is up
                pass
            time.sleep(0.1)

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise KafkaStartError(
                f"Kafka exited with {self.proc.returncode} during start-up\n"
                + self.log_tail())

    def _check_deadline(self, deadline):
        if time.monotonic() > deadline:
            raise KafkaStartError(
                f"Kafka not ready on {self.bootstrap} after "
                f"{self.start_timeout:.0f} s\n" + self.log_tail())

    def log_tail(self, lines=30):
        """The broker's console (ERROR lines, one each) for failure messages."""
        path = self.workdir / "kafka.out"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        return "\n".join([f"--- {path} (last {len(tail)} lines)"] + tail +
                         [f"--- full log: {self.server_log}"])

    def stop(self):
        """SIGTERM, wait (controlled shutdown), SIGKILL after the stop timeout.

        Returns the exit code: 143 (128 + SIGTERM) is the JVM's normal exit
        after a clean shutdown on SIGTERM."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
