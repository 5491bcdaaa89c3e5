"""A private Kafka and PostgreSQL for tests that stop and restart them (scripts/stack.sh
with its own ZUN_STACK_DIR and ports), the shared dockerd's restart, and a relay in
front of the Docker socket that one deployment's worker can lose and get back."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.support import ROOT, free_port

STACK_SH = str(ROOT / "scripts" / "stack.sh")
PRIVATE_VARS = ("ZUN_STACK_DIR", "ZUN_STACK_PG_PORT", "ZUN_STACK_KAFKA_PORT",
                "ZUN_STACK_KAFKA_CONTROLLER_PORT", "ZUN_STACK_KAFKA_STOP_TIMEOUT")


def _ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def stack_sh(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> float:
    """Run scripts/stack.sh; returns the seconds it took. Its notes go to the test's
    output when it took long (a broker that would not stop, say)."""
    started = time.monotonic()
    done = subprocess.run([STACK_SH, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"stack.sh {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    if took > 30:
        print(f"stack.sh {' '.join(args)} took {took:.0f}s:\n{done.stderr[-2000:]}")
    return took


def restart_shared_docker() -> float:
    """The one dockerd of the machine (others' containers survive: --live-restore)."""
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_VARS}
    return stack_sh("restart", "docker", env=env, timeout=300)


class PrivateStack:
    def __init__(self) -> None:
        # below /tmp, reachable by the postgres user (pytest's tmp dirs are 0700)
        self.dir = Path(tempfile.mkdtemp(prefix="zun-fault-stack-", dir="/tmp"))
        self.dir.chmod(0o755)
        pg, kafka, controller = _ports(3)
        self.env = {**os.environ, "ZUN_STACK_DIR": str(self.dir),
                    "ZUN_STACK_PG_PORT": str(pg), "ZUN_STACK_KAFKA_PORT": str(kafka),
                    "ZUN_STACK_KAFKA_CONTROLLER_PORT": str(controller),
                    "ZUN_STACK_KAFKA_STOP_TIMEOUT": "15"}
        self.kafka = f"127.0.0.1:{kafka}"
        self.pg_admin_url = f"postgresql://zun:zun@127.0.0.1:{pg}/zun"

    def start(self, service: str | None = None) -> float:
        if service is None:
            return self.start("postgres") + self.start("kafka")
        return stack_sh("start", service, env=self.env)

    def stop(self, service: str) -> float:
        return stack_sh("stop", service, env=self.env)

    def restart(self, service: str) -> float:
        return stack_sh("restart", service, env=self.env)

    def close(self) -> None:
        for service in ("kafka", "postgres"):
            try:
                self.stop(service)
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class UnixRelay:
    """Forwards a private Unix socket to the Docker socket. `down()` drops the listener
    and every open connection, as a dockerd that went away would; `up()` brings it back.
    The engine behind it is the real one: only the path to it is cut."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock"):
        self.path, self.target = Path(path), target
        self.url = f"unix://{self.path}"
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def up(self) -> None:
        self.path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            listener, self.listener = self.listener, None
            conns, self.conns = self.conns, []
        if listener is not None:
            listener.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.path.unlink(missing_ok=True)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()
