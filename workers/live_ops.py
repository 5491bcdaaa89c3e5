"""The Docker side of the live operations: one function per command type, registered
with `@op(type)`. Each returns the reply body or raises LiveError with Zun's status and
error code (409 for "is not running"/"paused", 404 when the container is gone in
Docker, 400 for bad input such as a missing archive path)."""
from __future__ import annotations

import base64
import binascii
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import docker
from docker.errors import APIError, DockerException, NotFound

from commands.envelope import Command

from .docker_driver import docker_name


class LiveError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def conflict(message: str) -> LiveError:
    return LiveError(409, "conflict", message)


def invalid(message: str) -> LiveError:
    return LiveError(400, "invalid", message)


@dataclass(frozen=True)
class Limits:
    log_bytes: int
    exec_output_bytes: int
    archive_bytes: int


@dataclass
class Call:
    api: docker.APIClient
    cmd: Command
    limits: Limits

    @property
    def uuid(self) -> str:
        return self.cmd.container_uuid

    @property
    def name(self) -> str:
        return docker_name(self.uuid)

    @property
    def params(self) -> dict[str, Any]:
        return self.cmd.params

    def remaining(self) -> float:
        return float(self.params.get("expires_at", time.time() + 30)) - time.time()

    def docker(self, fn: Callable[..., Any], *args: Any, missing: str | None = None,
               **kwargs: Any) -> Any:
        """Call Docker, mapping its errors; `missing` is the 400 message for a NotFound
        that is not about the container (a path, an exec instance)."""
        try:
            return fn(*args, **kwargs)
        except NotFound as e:
            if missing is not None:
                raise invalid(f"{missing}: {_explain(e)}" if missing else _explain(e)) from e
            raise self.gone() from e
        except APIError as e:
            raise mapped(e) from e
        except DockerException as e:
            raise LiveError(503, "", f"Docker engine unavailable: {_explain(e)}") from e
        except (OSError, socket.timeout) as e:
            raise LiveError(503, "", f"Docker engine unavailable: {e}") from e

    def gone(self) -> LiveError:
        return LiveError(404, "container-not-found", f"Container {self.uuid} could not be found.")

    def inspect(self) -> dict[str, Any]:
        return self.docker(self.api.inspect_container, self.name)


def mapped(e: APIError) -> LiveError:
    """Zun's is_conflict rule (zun/container/docker/driver.py), then by status class."""
    text = _explain(e)
    if e.status_code == 409 or "not running" in text or "paused" in text:
        return conflict(text)
    if e.is_client_error():
        return invalid(text)
    return LiveError(500, "", f"Docker failed: {text}")


def _explain(e: Exception) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip().splitlines()[0][:500] if text else type(e).__name__


OPS: dict[str, Callable[[Call], Any]] = {}


def op(command_type: str):
    def register(fn: Callable[[Call], Any]) -> Callable[[Call], Any]:
        OPS[command_type] = fn
        return fn
    return register


# --- reads -------------------------------------------------------------------------------

@op("logs")
def logs(call: Call) -> str:
    p = call.params
    tail = p.get("tail")
    tail = int(tail) if isinstance(tail, str) and tail.lstrip("-").isdigit() else "all"
    return call.docker(lambda: _tail_text(call.api.logs(
        call.name, stdout=p.get("stdout", True), stderr=p.get("stderr", True),
        timestamps=p.get("timestamps", False), tail=tail, since=_since(p.get("since")),
        stream=True, follow=False), call.limits.log_bytes))


def _since(since: Any) -> int | datetime | None:
    """Zun's two forms: epoch seconds or `YYYY-MM-DD HH:MM:SS,mmm` (UTC)."""
    if since in (None, "", "None"):
        return None
    text = str(since)
    if text.isdigit():
        return int(text)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")


def _tail_text(chunks: Any, limit: int) -> str:
    """The last `limit` bytes of a stream, read without holding more than twice that."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) > 2 * limit:
            del buf[:len(buf) - limit]
    if len(buf) > limit:
        del buf[:len(buf) - limit]
    return bytes(buf).decode("utf-8", errors="replace")


@op("top")
def top(call: Call) -> dict[str, Any]:
    """Docker answers 500 when `ps` refuses its arguments: that is the caller's error."""
    try:
        return call.docker(call.api.top, call.name, ps_args=call.params.get("ps_args") or None)
    except LiveError as e:
        if e.status == 500 and ("ps: " in e.message or "PID field" in e.message):
            raise invalid(e.message.removeprefix("Docker failed: ")) from e
        raise


@op("stats")
def stats(call: Call) -> dict[str, Any]:
    """Zun's keys, computed with the docker CLI's formulas (cache excluded from usage)."""
    s = call.docker(call.api.stats, call.name, stream=False)
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage", 0)
                 - (pre.get("cpu_usage") or {}).get("total_usage", 0))
    sys_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage")
                                         or [1])
    cpu_percent = cpu_delta / sys_delta * ncpu * 100.0 if sys_delta > 0 and cpu_delta >= 0 \
        else 0.0
    mem = s.get("memory_stats") or {}
    usage = mem.get("usage", 0)
    detail = mem.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    used = usage - cache if cache < usage else usage
    limit = mem.get("limit", 0)
    blk = ((s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or [])
    read = sum(i.get("value", 0) for i in blk if str(i.get("op", "")).lower() == "read")
    write = sum(i.get("value", 0) for i in blk if str(i.get("op", "")).lower() == "write")
    nets = (s.get("networks") or {}).values()
    return {"CONTAINER": call.params.get("name") or call.name,
            "CPU %": cpu_percent,
            "MEM USAGE(MiB)": used / 1024 / 1024,
            "MEM LIMIT(MiB)": limit / 1024 / 1024,
            "MEM %": used / limit * 100.0 if limit else 0.0,
            "BLOCK I/O(B)": f"{read}/{write}",
            "NET I/O(B)": f"{sum(n.get('rx_bytes', 0) for n in nets)}/"
                          f"{sum(n.get('tx_bytes', 0) for n in nets)}"}


@op("network_list")
def network_list(call: Call) -> list[dict[str, Any]]:
    """Docker networks in Zun's 1.18 shape; Docker has no subnet ids (None). A container
    not (yet) in Docker has no networks, as a Zun container without addresses."""
    try:
        attrs = call.inspect()
    except LiveError as e:
        if e.status == 404:
            return []
        raise
    out = []
    for name, net in ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).items():
        ips = [{"ip_address": net[key], "version": version, "subnet_id": None}
               for key, version in (("IPAddress", 4), ("GlobalIPv6Address", 6)) if net.get(key)]
        out.append({"net_id": net.get("NetworkID") or name, "port_id": net.get("EndpointID"),
                    "network": name, "fixed_ips": ips})
    return out


@op("attach")
def attach(call: Call) -> dict[str, Any]:
    """The proxy attaches later; here Docker confirms the container runs."""
    state = call.inspect().get("State") or {}
    if not state.get("Running") or state.get("Paused"):
        raise conflict(f"Container {call.uuid} is not running")
    return {}


# --- exec --------------------------------------------------------------------------------

@op("execute")
def execute(call: Call) -> dict[str, Any]:
    p = call.params
    command = p["command"]
    if not p.get("run", True):
        interactive = bool(p.get("interactive"))
        created = call.docker(call.api.exec_create, call.name, command, stdin=interactive,
                              tty=interactive)
        return {"exec_id": created["Id"]}
    created = call.docker(call.api.exec_create, call.name, command, stdout=True, stderr=True)
    exec_id = created["Id"]
    sock = call.docker(call.api.exec_start, exec_id, socket=True)
    deadline = time.monotonic() + max(call.remaining() - 1.5, 0.5)
    raw_sock = getattr(sock, "_sock", sock)
    try:
        raw = _read_until_eof(raw_sock, deadline, command)
    finally:
        sock.close()
        raw_sock.close()
    output = _demux(raw)
    if len(output) > call.limits.exec_output_bytes:
        output = output[-call.limits.exec_output_bytes:]
    code = call.docker(call.api.exec_inspect, exec_id).get("ExitCode")
    return {"output": output.decode("utf-8", errors="replace"), "exit_code": code}


def _read_until_eof(sock: socket.socket, deadline: float, command: str) -> bytes:
    buf = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise conflict(f"Timeout on executing command: {command}")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            return bytes(buf)
        buf += data


def _demux(raw: bytes) -> bytes:
    """Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, size) → payloads."""
    out, i = bytearray(), 0
    while i + 8 <= len(raw):
        size = int.from_bytes(raw[i + 4:i + 8], "big")
        out += raw[i + 8:i + 8 + size]
        i += 8 + size
    return bytes(out)


@op("execute_resize")
def execute_resize(call: Call) -> None:
    exec_id = call.params["exec_id"]
    info = call.docker(call.api.exec_inspect, exec_id, missing="no such exec instance")
    if info.get("ContainerID") != call.inspect().get("Id"):
        raise invalid(f"no such exec instance: No such exec instance: {exec_id}")
    if not info.get("Running"):
        raise conflict(f"Exec instance {exec_id} is not running")
    call.docker(call.api.exec_resize, exec_id, height=call.params["h"], width=call.params["w"])


@op("resize")
def resize(call: Call) -> None:
    call.docker(call.api.resize, call.name, height=call.params["h"], width=call.params["w"])


# --- archives ------------------------------------------------------------------------------

@op("get_archive")
def get_archive(call: Call) -> dict[str, Any]:
    call.inspect()
    path = call.params["path"]
    stream, stat = call.docker(call.api.get_archive, call.name, path,
                               missing="")
    data = call.docker(lambda: _bounded(stream, call.limits.archive_bytes, path))
    return {"data": base64.b64encode(data).decode(), "stat": stat}


def _bounded(stream: Any, limit: int, path: str) -> bytes:
    data = bytearray()
    for chunk in stream:
        data += chunk
        if len(data) > limit:
            raise invalid(f"The archive of {path} is larger than {limit} bytes.")
    return bytes(data)


@op("put_archive")
def put_archive(call: Call) -> None:
    call.inspect()
    try:
        data = base64.b64decode(call.params["data"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise LiveError(400, "base64-exception", "Invalid Base 64 file data") from e
    try:
        call.api.put_archive(call.name, call.params["path"], data)
    except NotFound as e:
        raise invalid(_explain(e)) from e
    except APIError as e:
        err = mapped(e)
        raise (err if err.status == 409 else invalid(_explain(e))) from e
    except DockerException as e:
        raise LiveError(503, "", f"Docker engine unavailable: {_explain(e)}") from e
