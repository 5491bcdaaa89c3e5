"""Quotas (zun/api/controllers/v1/quotas.py, quota_classes.py, zun/common/quota.py):
`/v1/quotas/{project_id}[/defaults]`, `/v1/quota_classes/{name}`, and the check of a
create or an update against the project's limits.

A check and the command it guards run under a per-project lock (`project_lock`): the
count is read, the command appended and projected before the next create of the same
project counts, so parallel creates cannot overshoot a limit."""
from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from flask import Blueprint, Response, current_app, g, jsonify, request

from commands.quotas import (CLASS, PROJECT, QUOTA, RESOURCES, params, parse_defaults,
                             target_key)
from projections.quotas import QuotaModel
from schemas import requests as rq

from .containers import boot, command, enforce, flag, validate
from .errors import InvalidValue, OverQuota, ServiceUnavailable

bp = Blueprint("quotas", __name__, url_prefix="/v1")

#: pg_advisory_xact_lock(int4, int4): the first key names this use
LOCK_CLASS = 0x5A554E51
STRIPES = 256
MAX_NAME = 255


@bp.record_once
def _configure(state) -> None:
    """At registration, so that a bad ZUN_QUOTA_DEFAULTS stops the start."""
    b = state.app.extensions["zun"]
    state.app.extensions["zun.quotas"] = QuotaModel(b.db,
                                                    parse_defaults(b.settings.quota_defaults))


def model() -> QuotaModel:
    return current_app.extensions["zun.quotas"]


# --- the check ---------------------------------------------------------------------------

def check(project_id: str, requested: dict[str, float]) -> None:
    """Zun's limit_check: `requested` is what the request adds to the project's usage."""
    limits = model().project_limits(project_id)
    wanted = {k: v for k, v in requested.items() if v is not None}
    if all(limits[k] < 0 for k in wanted):
        return
    usage = boot().read_model.count_for_project(project_id)
    overs = sorted(k for k, v in wanted.items() if 0 <= limits[k] < usage[k] + v)
    if overs:
        raise OverQuota(f"Quota exceeded for resources: {overs!r}")


def check_create(project_id: str, data: dict[str, Any]) -> None:
    """One more container, with the cpu/memory/disk the request names (defaults are not
    counted, as in Zun)."""
    check(project_id, {"containers": 1,
                       "cpu": _number(data.get("cpu")),
                       "memory": _number(data.get("memory")),
                       "disk": _number(data.get("disk"))})


def check_update(doc: dict[str, Any], cpu: Any = None, memory: Any = None) -> None:
    """A PATCH of cpu/memory: the deltas against the container's current values."""
    deltas: dict[str, float] = {"containers": 0}
    if cpu is not None:
        deltas["cpu"] = float(cpu) - float(doc.get("cpu") or 0)
    if memory is not None:
        deltas["memory"] = int(memory) - int(doc.get("memory") or 0)
    check(doc["project_id"], deltas)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# --- the per-project lock ------------------------------------------------------------------

_stripes = [threading.Lock() for _ in range(STRIPES)]


def lock_key(project_id: str) -> int:
    digest = hashlib.sha256(project_id.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


class ProjectBusy(ServiceUnavailable):
    def __init__(self, project_id: str):
        super().__init__(f"Too many concurrent requests change the resources of project "
                         f"{project_id}. Retry later.")
        self.headers["Retry-After"] = "1"


@contextmanager
def project_lock(project_id: str) -> Iterator[None]:
    """Serialise one project's quota-checked changes: an in-process lock (waiters hold no
    database connection), then, on PostgreSQL, a transaction-scoped advisory lock that
    spans every API process. Both waits are bounded (ZUN_READ_YOUR_WRITES_TIMEOUT)."""
    b = boot()
    timeout = b.settings.read_your_writes_timeout
    key = lock_key(project_id)
    local = _stripes[key % STRIPES]
    if not local.acquire(timeout=timeout):
        raise ProjectBusy(project_id)
    try:
        if b.db.dialect != "postgres":
            yield
            return
        import psycopg2.errors
        with b.db.transaction() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, key))
            except psycopg2.errors.LockNotAvailable:
                raise ProjectBusy(project_id) from None
            yield
    finally:
        local.release()


# --- /v1/quotas and /v1/quota_classes ---------------------------------------------------------

def _name(value: str, field: str) -> str:
    if not value or len(value) > MAX_NAME:
        raise InvalidValue(f"Invalid {field}: it must have 1 to {MAX_NAME} characters.")
    return value


def _limits(data: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in validate(rq.QuotaUpdate, data, version=False).items()}


def _ordered(values: dict[str, Any]) -> dict[str, Any]:
    return {r: values[r] for r in RESOURCES}


def _set(kind: str, name: str, limits: dict[str, int] | None) -> None:
    command(target_key(kind, name), QUOTA, params(kind, name, limits))


@bp.get("/quotas/<project_id>")
def get_quotas(project_id: str):
    project_id = _name(project_id, "project_id")
    usages = flag(request.args, "usages")
    enforce("quota:get", {"project_id": project_id})
    limits = model().project_limits(project_id)
    if not usages:
        return jsonify(_ordered(limits))
    used = boot().read_model.count_for_project(project_id)
    return jsonify({r: {"limit": limits[r], "in_use": _plain(used[r])} for r in RESOURCES})


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


@bp.put("/quotas/<project_id>")
def update_quotas(project_id: str):
    project_id = _name(project_id, "project_id")
    limits = _limits({**request.args, **g.body})
    enforce("quota:update", {"project_id": project_id})
    if limits:
        _set(PROJECT, project_id, limits)
    return jsonify(_ordered(model().project_limits(project_id)))


@bp.delete("/quotas/<project_id>")
def delete_quotas(project_id: str):
    project_id = _name(project_id, "project_id")
    enforce("quota:delete", {"project_id": project_id})
    _set(PROJECT, project_id, None)
    return Response(status=200)


@bp.get("/quotas/<project_id>/defaults")
def quota_defaults(project_id: str):
    project_id = _name(project_id, "project_id")
    enforce("quota:get_default", {"project_id": project_id})
    return jsonify(_ordered(model().defaults_for_all()))


@bp.get("/quota_classes/<class_name>")
def get_quota_class(class_name: str):
    class_name = _name(class_name, "quota_class_name")
    enforce("quota_class:get")
    return jsonify(_ordered(model().class_limits(class_name)))


@bp.put("/quota_classes/<class_name>")
def update_quota_class(class_name: str):
    class_name = _name(class_name, "quota_class_name")
    limits = _limits({**request.args, **g.body})
    enforce("quota_class:update")
    if limits:
        _set(CLASS, class_name, limits)
    return jsonify(_ordered(model().class_limits(class_name)))

