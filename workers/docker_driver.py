"""The Docker side of the compute worker: each operation is idempotent, because a
redelivered command repeats it. Containers are named `zun-<uuid>` and labelled with the
uuid and project, so a repeated create adopts what the first one made."""
from __future__ import annotations

import logging
import shlex
import threading
from dataclasses import dataclass
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

log = logging.getLogger(__name__)

LABEL_UUID = "zun.uuid"
LABEL_PROJECT = "zun.project_id"
LABEL_MANAGED = "zun.managed-by"
LABEL_HOST = "zun.host"
MANAGED_BY = "zun-cqrs"
RESERVED_LABEL_PREFIX = "zun."


class DriverError(Exception):
    """A Docker operation failed; the message is what the user sees as status_reason."""


class EngineUnavailable(DriverError):
    """The Docker engine cannot be reached: the command must wait, not fail."""


class StateConflict(DriverError):
    """Docker's state forbids the operation (e.g. pause of a container that has exited
    behind the service's back): the action fails, the container keeps Docker's state."""

    def __init__(self, message: str, observed: "Observed"):
        super().__init__(message)
        self.observed = observed


#: what a call to an engine that is down or restarting raises: docker-py lets the
#: transport's errors (requests) through, only construction wraps them in DockerException
UNREACHABLE = (DockerException, requests.exceptions.RequestException)


def engine_down(e: BaseException) -> bool:
    """An error that says the engine did not answer (wait and retry), not that it refused."""
    if isinstance(e, EngineUnavailable):
        return True
    if isinstance(e, APIError):
        return False
    return isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


def docker_name(uuid: str) -> str:
    return f"zun-{uuid}"


@dataclass(frozen=True)
class Observed:
    """Docker's view of one container, mapped to Zun's fields."""
    exists: bool
    status: str = "Error"
    status_detail: str | None = None
    status_reason: str | None = None
    container_id: str | None = None
    exit_code: int | None = None
    health: str | None = None
    oom_killed: bool = False
    addresses: dict | None = None

    def fields(self) -> dict[str, Any]:
        return {"status": self.status, "status_detail": self.status_detail,
                "status_reason": self.status_reason, "container_id": self.container_id,
                "addresses": self.addresses or {}}


def observe(attrs: dict[str, Any]) -> Observed:
    """Zun's mapping of Docker state to status (zun/container/docker/driver.py)."""
    state = attrs.get("State") or {}
    cid = attrs.get("Id")
    health = (state.get("Health") or {}).get("Status")
    addresses = _addresses(attrs)
    if state.get("Paused"):
        return Observed(True, "Paused", "Up (paused)", None, cid, None, health, False, addresses)
    if state.get("Restarting"):
        return Observed(True, "Restarting", "Restarting", None, cid, None, health, False, addresses)
    if state.get("Running"):
        return Observed(True, "Running", "Up", None, cid, None, health, False, addresses)
    if state.get("Dead"):
        return Observed(True, "Dead", "Dead", None, cid, state.get("ExitCode"), health, False,
                        addresses)
    status = state.get("Status")
    if status == "created":
        return Observed(True, "Created", "Created", None, cid, None, health, False, addresses)
    if status == "exited":
        code = state.get("ExitCode")
        oom = bool(state.get("OOMKilled"))
        reason = "OOMKilled" if oom else (state.get("Error") or None)
        detail = f"Exited({code})"
        return Observed(True, "Stopped", detail, reason, cid, code, health, oom, addresses)
    return Observed(True, "Unknown", None, "unexpected container state", cid, None, health,
                    False, addresses)


def _addresses(attrs: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Zun's `addresses` shape, with Docker networks standing in for Neutron networks."""
    out: dict[str, list[dict[str, Any]]] = {}
    networks = ((attrs.get("NetworkSettings") or {}).get("Networks") or {})
    for name, net in networks.items():
        entries = []
        if net.get("IPAddress"):
            entries.append({"addr": net["IPAddress"], "version": 4, "port": net.get("EndpointID"),
                            "subnet_id": None, "preserve_on_delete": False})
        if net.get("GlobalIPv6Address"):
            entries.append({"addr": net["GlobalIPv6Address"], "version": 6,
                            "port": net.get("EndpointID"), "subnet_id": None,
                            "preserve_on_delete": False})
        out[net.get("NetworkID") or name] = entries
    return out


class DockerDriver:
    def __init__(self, base_url: str, host: str, timeout: int = 120):
        self.base_url = base_url
        self.host = host
        self.timeout = timeout
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        """Built on first use: with version="auto" the constructor asks the engine, and a
        worker must start (and wait) while dockerd is down."""
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = docker.DockerClient(base_url=self.base_url,
                                                       timeout=self.timeout, version="auto")
                except UNREACHABLE as e:
                    raise _engine_error(e) from e
            return self._client

    # --- lookups -------------------------------------------------------------------------
    def _get(self, uuid: str):
        try:
            return self.client.containers.get(docker_name(uuid))
        except NotFound:
            return None
        except UNREACHABLE as e:
            raise _engine_error(e) from e

    def inspect(self, uuid: str) -> Observed:
        c = self._get(uuid)
        return observe(c.attrs) if c is not None else Observed(False)

    def managed(self) -> dict[str, Observed]:
        """Every container this service manages on the engine, by Zun uuid."""
        try:
            found = self.client.containers.list(
                all=True, filters={"label": [f"{LABEL_MANAGED}={MANAGED_BY}",
                                             f"{LABEL_HOST}={self.host}"]})
        except UNREACHABLE as e:
            raise _engine_error(e) from e
        return {c.labels.get(LABEL_UUID): observe(c.attrs) for c in found
                if c.labels.get(LABEL_UUID)}

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    # --- images --------------------------------------------------------------------------
    def ensure_image(self, image: str, policy: str | None) -> str:
        """Honour image_pull_policy with no registry reachable: returns a note for the
        action event when a local image stood in for a failed pull."""
        policy = (policy or "ifnotpresent").lower()
        repo, tag = _split_image(image)
        local = self._local_image(f"{repo}:{tag}")
        if policy == "never":
            if not local:
                raise DriverError(f"Image {image} could not be found.")
            return ""
        if policy == "ifnotpresent" and local:
            return ""
        try:
            self.client.images.pull(repo, tag=tag)
            return ""
        except requests.exceptions.ConnectionError as e:
            raise _engine_error(e) from e
        except UNREACHABLE as e:
            if local:
                return (f"Pulling {image} failed ({_short(e)}); "
                        f"used the image present on the host.")
            raise DriverError(f"Image {image} could not be found: pull failed "
                              f"({_short(e)}) and the image is not present on the host.") from e

    def _local_image(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except ImageNotFound:
            return False
        except UNREACHABLE as e:
            raise _engine_error(e) from e

    # --- lifecycle -----------------------------------------------------------------------
    def create(self, doc: dict[str, Any]) -> Observed:
        existing = self._get(doc["uuid"])
        if existing is not None:
            return observe(existing.attrs)
        kwargs = create_kwargs(doc, self.host)
        try:
            api = self.client.api
            host_config = api.create_host_config(**kwargs.pop("host_config"))
            created = api.create_container(host_config=host_config, **kwargs)
        except APIError as e:
            if e.status_code == 409:
                return self.inspect(doc["uuid"])
            raise _driver_error(e) from e
        except UNREACHABLE as e:
            raise _engine_error(e) from e
        from .docker_ops import after_create
        after_create(self, created["Id"], doc)
        return observe(self.client.api.inspect_container(created["Id"]))

    def start(self, uuid: str) -> Observed:
        c = self._require(uuid)
        if not c.attrs["State"].get("Running"):
            self._call(c.start)
        return self.inspect(uuid)

    def stop(self, uuid: str, timeout: int | None = None) -> Observed:
        c = self._require(uuid)
        if c.attrs["State"].get("Paused"):
            self._call(c.unpause)
        if c.attrs["State"].get("Running"):
            self._call(c.stop, timeout=10 if timeout is None else timeout)
        return self.inspect(uuid)

    def reboot(self, uuid: str, timeout: int | None = None) -> Observed:
        c = self._require(uuid)
        self._call(c.restart, timeout=10 if timeout is None else timeout)
        return self.inspect(uuid)

    def kill(self, uuid: str, signal: str | None = None) -> Observed:
        c = self._require(uuid)
        if c.attrs["State"].get("Running"):
            self._call(c.kill, signal=signal or "SIGKILL")
        return self.inspect(uuid)

    def pause(self, uuid: str) -> Observed:
        c = self._require(uuid)
        state = c.attrs["State"]
        if not state.get("Paused"):
            if not state.get("Running"):
                raise StateConflict(f"Container {c.id} is not running", observe(c.attrs))
            self._call(c.pause)
        return self.inspect(uuid)

    def unpause(self, uuid: str) -> Observed:
        c = self._require(uuid)
        if c.attrs["State"].get("Paused"):
            self._call(c.unpause)
        return self.inspect(uuid)

    def delete(self, uuid: str, force: bool = False) -> None:
        c = self._get(uuid)
        if c is None:
            return
        try:
            c.remove(force=force, v=True)
        except NotFound:
            return
        except APIError as e:
            raise _driver_error(e) from e
        except UNREACHABLE as e:
            raise _engine_error(e) from e

    # --- helpers -------------------------------------------------------------------------
    def _require(self, uuid: str):
        c = self._get(uuid)
        if c is None:
            raise DriverError(f"No such container: {docker_name(uuid)} in docker")
        return c

    @staticmethod
    def _call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except APIError as e:
            raise _driver_error(e) from e
        except UNREACHABLE as e:
            raise _engine_error(e) from e


def create_kwargs(doc: dict[str, Any], host: str) -> dict[str, Any]:
    """Map a Zun container document to docker-py's low-level create arguments."""
    labels = {k: v for k, v in (doc.get("labels") or {}).items()
              if not k.startswith(RESERVED_LABEL_PREFIX)}
    labels.update({LABEL_UUID: doc["uuid"], LABEL_PROJECT: doc.get("project_id") or "",
                   LABEL_MANAGED: MANAGED_BY, LABEL_HOST: host})
    host_config: dict[str, Any] = {}
    cpu = doc.get("cpu")
    if cpu:
        host_config.update(cpu_limits(cpu))
    memory = doc.get("memory")
    if memory:
        host_config.update(memory_limits(memory))
    rp = doc.get("restart_policy") or {}
    if rp.get("Name") and rp["Name"] != "no":
        policy = {"Name": rp["Name"]}
        if rp["Name"] == "on-failure":
            policy["MaximumRetryCount"] = int(rp.get("MaximumRetryCount") or 0)
        host_config["restart_policy"] = policy
    if doc.get("privileged"):
        host_config["privileged"] = True
    if doc.get("auto_remove"):
        host_config["auto_remove"] = True
    if doc.get("runtime"):
        host_config["runtime"] = doc["runtime"]
    mounts = volume_mounts(doc)
    if mounts:
        host_config["mounts"] = mounts
    nets = [n for n in doc.get("nets") or [] if n.get("network")]
    if nets:
        host_config["network_mode"] = nets[0]["network"]
    ports = []
    for key in (doc.get("exposed_ports") or {}):
        port, _, proto = str(key).partition("/")
        ports.append((int(port), proto or "tcp") if proto and proto != "tcp" else int(port))
    kwargs: dict[str, Any] = {
        "image": doc["image"],
        "name": docker_name(doc["uuid"]),
        "command": doc.get("command") or None,
        "entrypoint": doc.get("entrypoint") or None,
        "environment": doc.get("environment") or None,
        "working_dir": doc.get("workdir") or None,
        "labels": labels,
        "hostname": doc.get("hostname") or None,
        "tty": bool(doc.get("tty")),
        "stdin_open": bool(doc.get("interactive")),
        "ports": ports or None,
        "host_config": host_config,
    }
    hc = doc.get("healthcheck")
    if hc:
        test = hc.get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        kwargs["healthcheck"] = {
            "test": test,
            "interval": int(float(hc.get("interval") or 0) * 1e9),
            "timeout": int(float(hc.get("timeout") or 0) * 1e9),
            "retries": int(hc.get("retries") or 0),
        }
    if nets:
        from .docker_ops import endpoint_config
        kwargs["networking_config"] = {"EndpointsConfig": {
            nets[0]["network"]: endpoint_config(nets[0])}}
    return kwargs


def cpu_limits(cpu: Any) -> dict[str, int]:
    """Zun's cpu_shares plus a hard cap; period/quota (unlike nano_cpus, which docker
    update cannot change) let PATCH and resize_container change the cap later."""
    cpu = float(cpu)
    return {"cpu_shares": int(1024 * cpu), "cpu_period": CPU_PERIOD,
            "cpu_quota": int(cpu * CPU_PERIOD)}


CPU_PERIOD = 100000


def memory_limits(memory: Any) -> dict[str, str]:
    """Memory plus swap at Docker's default ratio, set together so that raising the
    memory later never trips over an older, smaller swap limit."""
    return {"mem_limit": f"{int(memory)}m", "memswap_limit": f"{2 * int(memory)}m"}


def volume_mounts(doc: dict[str, Any]) -> list[docker.types.Mount]:
    """Docker volumes stand in for Cinder: `source` names a volume of the container's
    project, `size` gets an anonymous volume removed with the container. A `bind` mount
    is Zun's file injection (base64 content in `source`, written after create by
    docker_ops.after_create), never a path of the host."""
    out = []
    for m in doc.get("mounts") or []:
        if m.get("type") == "bind":
            continue
        source = project_volume(doc.get("project_id") or "", m["source"]) \
            if m.get("source") else None
        out.append(docker.types.Mount(target=m["destination"], source=source, type="volume"))
    return out


def project_volume(project_id: str, name: str) -> str:
    """Named volumes are global on an engine; prefixing the project keeps one project's
    `data` away from another's."""
    import hashlib
    return f"zun-{hashlib.sha256(project_id.encode()).hexdigest()[:12]}-{name}"


def _split_image(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":")
    if name and "/" not in tag:
        return name, tag
    return image, "latest"


def _short(e: Exception) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip().splitlines()[0][:300] if text else type(e).__name__


def _driver_error(e: APIError) -> DriverError:
    return DriverError(_short(e))


def _engine_error(e: Exception) -> EngineUnavailable:
    return EngineUnavailable(f"Docker engine unavailable: {_short(e)}")


def command_list(command: Any) -> list[str] | None:
    if command is None:
        return None
    if isinstance(command, str):
        return shlex.split(command)
    return [str(c) for c in command]
