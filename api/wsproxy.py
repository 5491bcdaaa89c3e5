"""The websocket proxy (Zun's zun-wsproxy role, inside the API process): attach and
interactive exec hand out `ws://<api>/v1/containers/<uuid>/ws?token=<token>`; the
proxy claims the token and bridges the websocket to Docker's attach or exec socket.

Tokens are single use and short lived (ZUN_WS_TOKEN_TTL). The table keeps only their
SHA-256, so a reader of the database cannot use them. A wrong, expired or used token is
refused with 403 before the upgrade. A session ends when either side closes, when the
process exits, or after ZUN_WS_IDLE_TIMEOUT seconds without traffic. The proxy talks to
the engine at ZUN_DOCKER_HOST, which is the container's host in this single-host
deployment."""
from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import docker
from flask import Blueprint, Response, current_app, g, request
from simple_websocket import ConnectionClosed, Server

from commands.envelope import utcnow
from workers.docker_driver import docker_name

from .auth import public
from .errors import Conflict, ContainerNotFound, InvalidWebsocketToken, ServiceUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("wsproxy", __name__, url_prefix="/v1/containers")

SUBPROTOCOLS = ["binary", "base64"]  # what python-zunclient offers, as websockify does
RECEIVE_SLICE = 1.0
_docker_lock = threading.Lock()


def _boot():
    return current_app.extensions["zun"]


# --- tokens -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    container_uuid: str
    project_id: str
    kind: str
    exec_id: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_url(doc: dict[str, Any], kind: str, exec_id: str | None = None) -> str:
    """A single-use token for this container's attach or exec, as the URL to open."""
    boot = _boot()
    token = secrets.token_urlsafe(32)
    now = time.time()
    with boot.db.transaction() as cur:
        cur.execute("DELETE FROM ws_tokens WHERE expires_at < %s", (now - 3600,))
        cur.execute("INSERT INTO ws_tokens (token_hash, container_uuid, project_id, kind, "
                    "exec_id, expires_at, used, created_at) VALUES (%s, %s, %s, %s, %s, %s, 0, "
                    "%s)", (_hash(token), doc["uuid"], g.ctx.project_id, kind, exec_id,
                            now + boot.settings.ws_token_ttl, utcnow()))
    base = boot.settings.ws_base_url.rstrip("/") or _ws_origin()
    return f"{base}/v1/containers/{doc['uuid']}/ws?token={token}"


def _ws_origin() -> str:
    origin = request.host_url.rstrip("/")
    return "wss" + origin[5:] if origin.startswith("https") else "ws" + origin[4:]


def claim(token: str, uuid: str) -> Grant:
    """Mark the token used, atomically: of two concurrent claims one wins."""
    with _boot().db.transaction() as cur:
        cur.execute("UPDATE ws_tokens SET used=1 WHERE token_hash=%s AND container_uuid=%s "
                    "AND used=0 AND expires_at > %s", (_hash(token), uuid, time.time()))
        if cur.rowcount != 1:
            raise InvalidWebsocketToken("The websocket token is invalid, expired or already "
                                        "used.")
        cur.execute("SELECT container_uuid, project_id, kind, exec_id FROM ws_tokens "
                    "WHERE token_hash=%s", (_hash(token),))
        row = cur.fetchone()
    return Grant(*row)


# --- the proxy --------------------------------------------------------------------------

def _docker() -> docker.APIClient:
    with _docker_lock:
        ext = current_app.extensions
        if "zun.wsproxy.docker" not in ext:
            ext["zun.wsproxy.docker"] = docker.APIClient(
                base_url=_boot().settings.docker_host, version="auto", timeout=60)
        return ext["zun.wsproxy.docker"]


@bp.route("/<uuid>/ws", websocket=True)
@public
def proxy(uuid: str):
    grant = claim(request.args.get("token", ""), uuid)
    try:
        stream, tty = _open(_docker(), grant)
    except docker.errors.NotFound as e:
        raise ContainerNotFound(f"Container {uuid} could not be found.") from e
    except docker.errors.APIError as e:
        raise Conflict(str(e.explanation or e)) from e
    except docker.errors.DockerException as e:
        raise ServiceUnavailable("The Docker engine is unavailable.") from e
    ws = None
    try:
        ws = Server(request.environ, subprotocols=SUBPROTOCOLS)
        Bridge(ws, stream, tty, _boot().settings.ws_idle_timeout).run()
    finally:
        _quietly(stream.close)
        if ws is not None:
            _quietly(ws.close)
    return _WebSocketDone(ws)


def _quietly(close) -> None:
    """Closing what the other side may have closed already."""
    try:
        close()
    except Exception:
        pass


def _open(api: docker.APIClient, grant: Grant):
    """Docker's hijacked socket of the exec or attach, and whether it is a tty (raw) or
    multiplexed (8-byte frame headers)."""
    if grant.kind == "exec":
        tty = bool(api.exec_inspect(grant.exec_id)["ProcessConfig"].get("tty"))
        sock = api.exec_start(grant.exec_id, tty=tty, socket=True)
    else:
        name = docker_name(grant.container_uuid)
        tty = bool(api.inspect_container(name)["Config"].get("Tty"))
        sock = api.attach_socket(name, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                               "stream": 1})
    return _Stream(sock), tty


class _Stream:
    def __init__(self, sock: Any):
        self.io = sock
        self.sock = getattr(sock, "_sock", sock)

    def recv(self) -> bytes:
        return self.sock.recv(65536)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(2)
        except OSError:
            pass
        self.io.close()
        self.sock.close()


class Bridge:
    """Both directions between one websocket and one Docker socket."""

    def __init__(self, ws: Server, stream: _Stream, tty: bool, idle_timeout: float):
        self.ws, self.stream, self.tty = ws, stream, tty
        self.idle_timeout = idle_timeout
        self.last = time.monotonic()
        self.done = threading.Event()
        self.b64 = ws.subprotocol == "base64"

    def run(self) -> None:
        threading.Thread(target=self._from_docker, name="ws-from-docker", daemon=True).start()
        while not self.done.is_set():
            try:
                msg = self.ws.receive(timeout=RECEIVE_SLICE)
            except ConnectionClosed:
                return
            if msg is None:
                if time.monotonic() - self.last > self.idle_timeout:
                    self.ws.close(message="idle timeout")
                    return
                continue
            self.last = time.monotonic()
            data = msg.encode() if isinstance(msg, str) else msg
            try:
                self.stream.sendall(base64.b64decode(data) if self.b64 else data)
            except OSError:
                return

    def _from_docker(self) -> None:
        pending = b""
        try:
            while True:
                chunk = self.stream.recv()
                if not chunk:
                    break
                self.last = time.monotonic()
                if self.tty:
                    self._send(chunk)
                    continue
                pending += chunk
                while len(pending) >= 8:
                    size = int.from_bytes(pending[4:8], "big")
                    if len(pending) < 8 + size:
                        break
                    self._send(pending[8:8 + size])
                    pending = pending[8 + size:]
        except (OSError, ConnectionClosed):
            pass
        finally:
            self.done.set()

    def _send(self, data: bytes) -> None:
        if data:
            self.ws.send(base64.b64encode(data).decode() if self.b64 else data)


class _WebSocketDone(Response):
    """flask-sock's ending of a websocket request under each server: gunicorn must not
    write a response on the upgraded socket, werkzeug needs one to finish its bookkeeping."""

    def __init__(self, ws: Server):
        super().__init__()
        self._ws = ws

    def __call__(self, *args: Any, **kwargs: Any):
        if self._ws.mode == "gunicorn":
            raise StopIteration()
        return super().__call__(*args, **kwargs)
