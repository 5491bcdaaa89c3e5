"""Docker operations behind the endpoints that change a container after its creation
(PATCH and resize_container, rebuild, commit, network attach/detach) and the steps of a
create that follow `docker create` (more networks, injected files). They take the
DockerDriver, so docker_driver.py stays the lifecycle core.

Docker networks stand in for Neutron networks: a network is named by its Docker name or
id, and a "port" is the endpoint id Docker gives a container on a network (the `port` of
each entry of `addresses`)."""
from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import tarfile
import time
from contextlib import contextmanager
from typing import Any, Iterator

from docker.errors import APIError, DockerException, NotFound

from .docker_driver import (DockerDriver, DriverError, Observed, _engine_error, _short,
                            cpu_limits, docker_name, memory_limits)

#: the network a container joins when network_attach names none (Zun picks "an
#: available network"; here it is the engine's default bridge)
DEFAULT_NETWORK = "bridge"


class Refusal(Exception):
    """The request cannot be applied and the container is left as it was. `reason` is
    one of the outcome reasons the API maps to a status: invalid, not-found,
    network-not-found, conflict, failed."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _refusal(e: APIError) -> Refusal:
    text = _short(e)
    code = e.status_code or 500
    if code == 404:
        return Refusal("not-found", text)
    if code == 409:
        return Refusal("conflict", text)
    if code in (400, 403) or "invalid reference format" in text or "invalid tag format" in text:
        return Refusal("invalid", text)
    return Refusal("failed", text)


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except APIError as e:
        raise _refusal(e) from e
    except DockerException as e:
        raise _engine_error(e) from e


@contextmanager
def _create_step() -> Iterator[None]:
    """After `docker create` a failure fails the create (DriverError: status Error)."""
    try:
        yield
    except APIError as e:
        raise DriverError(_short(e)) from e
    except DockerException as e:
        raise _engine_error(e) from e


def _container(driver: DockerDriver, uuid: str):
    with _refusals():
        try:
            return driver.client.containers.get(docker_name(uuid))
        except NotFound:
            raise Refusal("conflict", f"No such container: {docker_name(uuid)} in docker") from None


# --- resources -------------------------------------------------------------------------

def update_resources(driver: DockerDriver, uuid: str, cpu: Any = None,
                     memory: Any = None) -> Observed:
    """`docker update` of the limits create set (docker_driver.cpu_limits/memory_limits)."""
    args: dict[str, Any] = {}
    if cpu is not None:
        args.update(cpu_limits(cpu))
    if memory is not None:
        args.update(memory_limits(memory))
    container = _container(driver, uuid)
    if args:
        with _refusals():
            container.update(**args)
    return driver.inspect(uuid)


# --- rebuild and commit ----------------------------------------------------------------

def recreate(driver: DockerDriver, doc: dict[str, Any]) -> Observed:
    """The same uuid (so the same Docker name and labels) on a fresh Docker container."""
    driver.delete(doc["uuid"], force=True)
    return driver.create(doc)


def commit(driver: DockerDriver, uuid: str, repository: str, tag: str) -> str:
    """A new image from the container's filesystem; returns Docker's image id. The
    caller pauses a running container around it, as Zun does."""
    container = _container(driver, uuid)
    with _refusals():
        image = container.commit(repository=repository, tag=tag, pause=False)
    return image.id


# --- networks --------------------------------------------------------------------------

def _network(driver: DockerDriver, name_or_id: str):
    with _refusals():
        try:
            return driver.client.networks.get(name_or_id)
        except NotFound:
            raise Refusal("network-not-found",
                          f"Network {name_or_id} could not be found.") from None


def _attached(container) -> dict[str, dict[str, Any]]:
    return (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}


def endpoint_kwargs(fixed_ip: str | None) -> dict[str, str]:
    if not fixed_ip:
        return {}
    version = ipaddress.ip_address(fixed_ip).version
    return {"ipv4_address" if version == 4 else "ipv6_address": fixed_ip}


def endpoint_config(net: dict[str, Any]) -> dict[str, Any]:
    """The create-time endpoint of a requested network (`nets` item)."""
    ipam = {}
    v4 = net.get("v4-fixed-ip") or net.get("v4_fixed_ip")
    v6 = net.get("v6-fixed-ip") or net.get("v6_fixed_ip")
    if v4:
        ipam["IPv4Address"] = v4
    if v6:
        ipam["IPv6Address"] = v6
    return {"IPAMConfig": ipam} if ipam else {}


def connect(driver: DockerDriver, uuid: str, network: str | None,
            fixed_ip: str | None) -> Observed:
    network = network or DEFAULT_NETWORK
    container = _container(driver, uuid)
    net = _network(driver, network)
    if net.id in {s.get("NetworkID") for s in _attached(container).values()}:
        raise Refusal("invalid",
                      f"Network '{network}' is already connected to container '{uuid}'.")
    with _refusals():
        driver.client.api.connect_container_to_network(container.id, net.id,
                                                       **endpoint_kwargs(fixed_ip))
    return driver.inspect(uuid)


def disconnect(driver: DockerDriver, uuid: str, network: str | None = None,
               port: str | None = None) -> Observed:
    container = _container(driver, uuid)
    attached = _attached(container)
    if port:
        ids = [s.get("NetworkID") for s in attached.values() if s.get("EndpointID") == port]
        if not ids:
            raise Refusal("invalid", f"Port '{port}' is not attached to container '{uuid}'.")
        target = ids[0]
    else:
        net = _network(driver, network or "")
        if net.id not in {s.get("NetworkID") for s in attached.values()}:
            raise Refusal("invalid",
                          f"Network '{network}' is not attached to container '{uuid}'.")
        target = net.id
    with _refusals():
        driver.client.api.disconnect_container_from_network(container.id, target)
    return driver.inspect(uuid)


# --- after docker create ---------------------------------------------------------------

def after_create(driver: DockerDriver, container_id: str, doc: dict[str, Any]) -> None:
    """What `docker create` cannot do in one call on this engine: join the second and
    later requested networks, and write the files of `bind` mounts. When that fails the
    Docker container goes too, so that nothing contradicts the record's Error."""
    try:
        _complete(driver, container_id, doc)
    except DriverError:
        with _create_step():
            driver.client.api.remove_container(container_id, v=True, force=True)
        raise


def _complete(driver: DockerDriver, container_id: str, doc: dict[str, Any]) -> None:
    nets = [n for n in doc.get("nets") or [] if n.get("network")]
    for net in nets[:1]:
        try:
            _network(driver, net["network"])  # Docker itself would only fail the start
        except Refusal as e:
            raise DriverError(e.message) from e
    for net in nets[1:]:
        fixed = net.get("v4-fixed-ip") or net.get("v6-fixed-ip") or \
            net.get("v4_fixed_ip") or net.get("v6_fixed_ip")
        with _create_step():
            driver.client.api.connect_container_to_network(container_id, net["network"],
                                                           **endpoint_kwargs(fixed))
    files = [m for m in doc.get("mounts") or [] if m.get("type") == "bind"]
    if files:
        archive = file_archive({m["destination"]: decode_file(m.get("source") or "")
                                for m in files})
        with _create_step():
            driver.client.api.put_archive(container_id, "/", archive)


def decode_file(data: str) -> bytes:
    """Zun's injected files travel base64-encoded (zun.common.utils.decode_file_data)."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise DriverError("Invalid Base 64 file data") from e


def file_archive(files: dict[str, bytes]) -> bytes:
    """A tar of `files` (absolute path -> content). No directory entries: Docker creates
    missing parents itself, and an entry for an existing one (/tmp) would reset its mode."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode, info.mtime = len(content), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()
