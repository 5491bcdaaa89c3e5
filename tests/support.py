"""Test support: deployments of the service as real processes against the real stack.

A `Deployment` gets its own topic prefix, its own PostgreSQL database, its own data
directory and its own compute-host name (which scopes the Docker containers it
manages), so deployments never see each other's state. Services missing from the
machine make the fixtures fail loudly: run `scripts/stack.sh up` first (scripts/test.sh
does)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

ROOT = Path(__file__).resolve().parent.parent
# scripts/test.sh exports the stack's addresses (scripts/stack.sh env)
KAFKA = (os.environ.get("ZUN_TEST_KAFKA") or os.environ.get("ZUN_KAFKA_BOOTSTRAP")
         or "127.0.0.1:39092")
PG_ADMIN_URL = (os.environ.get("ZUN_TEST_PG") or os.environ.get("ZUN_DATABASE_URL")
                or "postgresql://zun:zun@127.0.0.1:55432/zun")
DOCKER_HOST = (os.environ.get("ZUN_TEST_DOCKER") or os.environ.get("ZUN_DOCKER_HOST")
               or "unix:///var/run/docker.sock")
IMAGE = "busybox:latest"
LATEST = {"OpenStack-API-Version": "container latest"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_stack(kafka: bool = True, postgres: bool = True, kafka_addr: str | None = None,
                  pg_url: str | None = None) -> None:
    """Fail (never skip) when a service the test needs is not running."""
    kafka_addr, pg_url = kafka_addr or KAFKA, pg_url or PG_ADMIN_URL
    problems = []
    import docker
    try:
        docker.DockerClient(base_url=DOCKER_HOST, timeout=5).ping()
    except Exception as e:
        problems.append(f"Docker engine at {DOCKER_HOST}: {e}")
    if kafka:
        host, port = kafka_addr.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
        except OSError as e:
            problems.append(f"Kafka at {kafka_addr}: {e}")
    if postgres:
        import psycopg2
        try:
            psycopg2.connect(pg_url, connect_timeout=3).close()
        except Exception as e:
            problems.append(f"PostgreSQL at {pg_url}: {e}")
    if problems:
        raise RuntimeError("the test stack is not running (scripts/stack.sh up):\n  "
                           + "\n  ".join(problems))


def create_database(name: str, admin_url: str | None = None) -> str:
    import psycopg2
    admin_url = admin_url or PG_ADMIN_URL
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_database(name: str, admin_url: str | None = None) -> None:
    import psycopg2
    conn = psycopg2.connect(admin_url or PG_ADMIN_URL, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def delete_topics(prefix: str, kafka: str | None = None) -> None:
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=kafka or KAFKA)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        if topics:
            admin.delete_topics(topics)
    finally:
        admin.close()


def remove_host_containers(host: str) -> None:
    import docker
    client = docker.DockerClient(base_url=DOCKER_HOST, timeout=60)
    for c in client.containers.list(all=True, filters={"label": f"zun.host={host}"}):
        try:
            c.remove(force=True)
        except Exception:
            pass


@dataclass
class Process:
    role: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "zun_cqrs.cli", *self.args], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=15)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Deployment:
    """mode: "kafka" (separate api, worker and projector processes on Kafka and
    PostgreSQL) or "embedded" (`zun-cqrs up`). `kafka` and `pg_admin_url` point a
    deployment at another Kafka and PostgreSQL than the shared stack (tests/fault)."""
    tmp: Path
    mode: str = "kafka"
    extra_env: dict[str, str] = field(default_factory=dict)
    kafka: str = KAFKA
    pg_admin_url: str = PG_ADMIN_URL
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"host-{self.name}"
        self.data_dir = self.tmp / f"data-{self.name}"
        self.env = {**os.environ, "ZUN_BIND": f"127.0.0.1:{self.port}", "ZUN_HOST": self.host,
                    "ZUN_DOCKER_HOST": DOCKER_HOST, "ZUN_DATA_DIR": str(self.data_dir),
                    "ZUN_TOPIC_PREFIX": f"{self.name}.", "ZUN_API_WORKERS": "2",
                    "ZUN_RECONCILE_INTERVAL": "1", "PYTHONUNBUFFERED": "1"}
        self.env.pop("ZUN_KAFKA_BOOTSTRAP", None)
        self.env.pop("ZUN_DATABASE_URL", None)
        if self.mode == "kafka":
            require_stack(kafka_addr=self.kafka, pg_url=self.pg_admin_url)
            self.database_url = create_database(self.name, self.pg_admin_url)
            self.env.update(ZUN_KAFKA_BOOTSTRAP=self.kafka, ZUN_DATABASE_URL=self.database_url)
        else:
            require_stack(kafka=False, postgres=False)
        self.env.update(self.extra_env)
        roles = ["api", "worker", "projector"] if self.mode == "kafka" else ["up"]
        for role in roles:
            self.processes[role] = Process(role, [role], self.env,
                                           self.tmp / f"{self.name}-{role}.log")

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> "Deployment":
        if self.mode == "kafka":
            subprocess.run([sys.executable, "-m", "zun_cqrs.cli", "init"], env=self.env,
                           check=True, cwd=str(ROOT), capture_output=True, timeout=120)
        for p in self.processes.values():
            p.start()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            for p in self.processes.values():
                if p.popen is not None and p.popen.poll() is not None:
                    raise RuntimeError(f"{p.role} exited:\n{self.log_tail(p.role)}")
            time.sleep(0.2)
        raise RuntimeError(f"API not ready at {self.url}:\n" +
                           "\n".join(self.log_tail(r) for r in self.processes))

    def log_tail(self, role: str, lines: int = 40) -> str:
        path = self.processes[role].log_path
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self, role: str) -> None:
        self.processes[role].kill(signal.SIGKILL)

    def restart(self, role: str) -> None:
        self.processes[role].kill(signal.SIGKILL)
        self.processes[role].start()
        if role in ("api", "up"):
            self.wait_ready()

    def stop(self) -> None:
        for p in self.processes.values():
            p.kill(signal.SIGTERM)
        remove_host_containers(self.host)
        if self.mode == "kafka":
            try:
                drop_database(self.name, self.pg_admin_url)
            except Exception:
                pass
            try:
                delete_topics(self.name + ".", self.kafka)
            except Exception:
                pass

    # --- HTTP --------------------------------------------------------------------------
    def client(self, **headers: str) -> "Client":
        return Client(self.url, {**LATEST, **headers})


class Client:
    def __init__(self, base: str, headers: dict[str, str]):
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(headers)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 60)
        return self.session.request(method, self.base + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def create(self, run: bool = False, **body: Any) -> dict[str, Any]:
        body.setdefault("image", IMAGE)
        body.setdefault("command", ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"])
        r = self.post("/v1/containers" + ("?run=true" if run else ""), json=body)
        assert r.status_code == 202, r.text
        return r.json()

    def show(self, ident: str) -> dict[str, Any]:
        r = self.get(f"/v1/containers/{ident}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, ident: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(lambda: self._status_in(ident, statuses), timeout,
                        f"{ident} to reach {statuses}")

    def _status_in(self, ident: str, statuses: tuple[str, ...]) -> dict[str, Any] | None:
        doc = self.show(ident)
        return doc if doc["status"] in statuses and not doc.get("task_state") else None

    def wait_gone(self, ident: str, timeout: float = 30) -> None:
        wait_for(lambda: self.get(f"/v1/containers/{ident}").status_code == 404, timeout,
                 f"{ident} to disappear")

    def wait_action_finished(self, ident: str, request_id: str,
                             timeout: float = 30) -> dict[str, Any]:
        def done():
            r = self.get(f"/v1/containers/{ident}/container_actions/{request_id}")
            return r.json() if r.status_code == 200 and r.json()["finish_time"] else None
        return wait_for(done, timeout, f"action {request_id} to finish")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def docker_client():
    import docker
    return docker.DockerClient(base_url=DOCKER_HOST, timeout=60)


def docker_container(host_or_uuid: str):
    """The Docker container of a Zun uuid (None when absent)."""
    from docker.errors import NotFound
    try:
        return docker_client().containers.get(f"zun-{host_or_uuid}")
    except NotFound:
        return None
