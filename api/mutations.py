"""Changing a container after its creation (docs/api.md, "Changing containers"): PATCH,
resize_container, rename, rebuild, commit, network_attach / network_detach and the
security-group calls.

Zun answers PATCH, rename and commit synchronously; here the API appends the command,
then waits (bounded by ZUN_LIVE_TIMEOUT) until the worker's outcome (the `Answered`
event, workers/compute_ops.py) is projected, and answers from it. network_attach and
network_detach wait the same way so that "already connected" / "not attached" are the
400 Zun documents rather than a failed action nobody sees."""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from schemas import requests as rq

from . import quotas
from .containers import (accepted, boot, check_state, command, enforce, find, merged, validate,
                         view)
from .create_checks import PORTS_UNSUPPORTED, SECURITY_GROUPS_UNSUPPORTED
from .errors import (Conflict, ContainerNotFound, DockerError, GatewayTimeout, Invalid,
                     InvalidStateException, InvalidValue, NetworkNotFound, NotAcceptable,
                     ResourceNotFound, ZunError)
from .versions import Version

bp = Blueprint("mutations", __name__, url_prefix="/v1/containers")

IMAGE_DRIVERS = ("glance", "docker")

#: outcome reason (workers/compute_ops.py, workers/docker_ops.py) -> Zun error
FAILURES: dict[str, type[ZunError]] = {
    "invalid": InvalidValue,
    "state": InvalidStateException,
    "conflict": Conflict,
    "container-not-found": ContainerNotFound,
    "network-not-found": NetworkNotFound,
    "not-found": ResourceNotFound,
    "failed": DockerError,
}


def available(low: tuple[int, int], high: tuple[int, int] | None = None) -> None:
    """An endpoint outside its microversion window is a 406, before anything else."""
    v = g.ctx.version
    if v < Version(*low) or (high is not None and v > Version(*high)):
        raise NotAcceptable(f"Version {v} was requested but the requested API is not "
                            "supported for this version.")


def query_params() -> dict[str, Any]:
    """Zun's validate_query_param reads the query string and a form body, never JSON."""
    return {**request.args.to_dict(), **request.form.to_dict()}


def requested_changes(doc: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and doc.get(k) != v}


def wait_outcome(uuid: str, ctype: str) -> dict[str, Any] | None:
    rm = boot().read_model
    deadline = time.monotonic() + boot().settings.live_timeout
    delay = 0.01
    while True:
        out = rm.outcome(uuid, g.ctx.request_id, ctype)
        if out is not None or time.monotonic() >= deadline:
            return out
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def raise_failure(out: dict[str, Any] | None) -> dict[str, Any] | None:
    if out is not None and out["result"] != "Success":
        raise FAILURES.get(out.get("reason") or "", DockerError)(out.get("message") or "")
    return out


def synchronous(doc: dict[str, Any], ctype: str, params: dict[str, Any]) -> dict[str, Any]:
    command(doc, ctype, params)
    return outcome_of(doc, ctype)


def outcome_of(doc: dict[str, Any], ctype: str) -> dict[str, Any]:
    """The worker's outcome; 504 when it does not come in time (the command stays
    accepted and is applied when the worker gets to it)."""
    out = raise_failure(wait_outcome(doc["uuid"], ctype))
    if out is None:
        raise GatewayTimeout(f"The request was accepted but its outcome was not known within "
                             f"{boot().settings.live_timeout:g} seconds; it will still be "
                             "applied. Check the container later.")
    return out


def _after(doc: dict[str, Any]) -> Response:
    return jsonify(view(boot().read_model.by_uuid(doc["uuid"]) or doc))


# --- PATCH, rename, resize_container ---------------------------------------------------------

@bp.patch("/<ident>")
def update(ident: str):
    data = validate(rq.ContainerUpdate, merged())
    doc = find(ident)
    enforce("container:update", doc)
    check_state(doc, "update")
    changes = requested_changes(doc, data)
    if "cpu" in changes or "memory" in changes:
        with quotas.project_lock(doc["project_id"]):
            quotas.check_update(doc, changes.get("cpu"), changes.get("memory"))
            command(doc, "update", {"changes": changes})
        outcome_of(doc, "update")
    elif changes:
        synchronous(doc, "update", {"changes": changes})
    return _after(doc)


@bp.post("/<ident>/rename")
def rename(ident: str):
    available((1, 1), (1, 13))
    data = validate(rq.Rename, query_params(), where="query")
    doc = find(ident)
    enforce("container:rename", doc)
    if doc.get("name") == data["name"]:
        raise Conflict("The new name for the container is the same as the old name.")
    synchronous(doc, "rename", {"changes": {"name": data["name"]}})
    return _after(doc)


@bp.post("/<ident>/resize_container")
def resize_container(ident: str):
    """Zun casts this one: 202 with the container as it was before the change."""
    available((1, 19))
    data = validate(rq.ContainerUpdate, merged())
    doc = find(ident)
    enforce("container:resize_container", doc)
    check_state(doc, "resize_container")
    before = view(doc)
    changes = requested_changes(doc, data)
    if changes:
        command(doc, "resize_container", {"changes": changes})
    resp = jsonify(before)
    resp.status_code = 202
    return resp


# --- rebuild, commit -------------------------------------------------------------------------

@bp.post("/<ident>/rebuild")
def rebuild(ident: str):
    body = merged()
    data = validate(rq.Rebuild, body)
    doc = find(ident)
    enforce("container:rebuild", doc)
    check_state(doc, "rebuild")
    driver = body.get("image_driver")
    if driver and driver not in IMAGE_DRIVERS:
        raise InvalidValue("Invalid input for image_driver, it should be within the image "
                           "drivers list")
    command(doc, "rebuild", {"image": data.get("image"), "image_driver": driver or None})
    return accepted()


@bp.post("/<ident>/commit")
def commit(ident: str):
    data = validate(rq.Commit, query_params(), where="query")
    doc = find(ident)
    enforce("container:commit", doc)
    check_state(doc, "commit")
    out = synchronous(doc, "commit", {"repository": data["repository"],
                                      "tag": data.get("tag") or "latest"})
    resp = jsonify({"uuid": out["data"].get("uuid")})
    resp.status_code = 202
    return resp


# --- networks --------------------------------------------------------------------------------

@bp.post("/<ident>/network_detach")
def network_detach(ident: str):
    available((1, 6))
    data = validate(rq.NetworkDetach, query_params(), where="query")
    doc = find(ident)
    enforce("container:network_detach", doc)
    command(doc, "network_detach", data)
    raise_failure(wait_outcome(doc["uuid"], "network_detach"))
    return accepted()


@bp.post("/<ident>/network_attach")
def network_attach(ident: str):
    available((1, 8))
    data = validate(rq.NetworkAttach, {**query_params(), **g.body},
                    where="body" if g.body else "query")
    doc = find(ident)
    enforce("container:network_attach", doc)
    if data.get("port"):
        raise Invalid(PORTS_UNSUPPORTED)
    command(doc, "network_attach", {"network": data.get("network"),
                                    "fixed_ip": data.get("fixed_ip")})
    raise_failure(wait_outcome(doc["uuid"], "network_attach"))
    return Response(status=200)


# --- security groups -------------------------------------------------------------------------

def _security_group(ident: str, action: str) -> Response:
    """Zun's checks, then the answer that Docker networks have no security groups."""
    available((1, 1), (1, 14))
    validate(rq.SecurityGroup, merged())
    doc = find(ident)
    enforce(f"container:{action}", doc)
    check_state(doc, action)
    raise Invalid(SECURITY_GROUPS_UNSUPPORTED)


@bp.post("/<ident>/add_security_group")
def add_security_group(ident: str):
    return _security_group(ident, "add_security_group")


@bp.post("/<ident>/remove_security_group")
def remove_security_group(ident: str):
    return _security_group(ident, "remove_security_group")
