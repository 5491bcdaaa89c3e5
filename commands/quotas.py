"""Quota limits as commands on the log (zun/common/quota.py's resources and defaults).

A `quota` command sets or clears the limits of one project or of one quota class; the
projector applies it to the `quotas` table, so limits are replayed with everything else
and every change stays in the audit trail. It is keyed by a uuid derived from its target,
so the changes of one project are read in order."""
from __future__ import annotations

import uuid
from typing import Any

QUOTA = "quota"
#: command types only the projector reads; the compute worker skips them
READ_MODEL_ONLY = frozenset({QUOTA})

RESOURCES = ("containers", "memory", "cpu", "disk")
#: Zun's [quota] defaults; -1 is unlimited
ZUN_DEFAULTS = {"containers": 40, "memory": 51200, "cpu": 20, "disk": 100}
DEFAULT_CLASS = "default"
PROJECT, CLASS = "project", "class"
LIMIT_MIN, LIMIT_MAX = -1, 2 ** 31 - 1

_NAMESPACE = uuid.UUID("5a756e00-7175-6f74-6173-000000000000")


def target_key(kind: str, name: str) -> str:
    """The partition key (and container_uuid field) of a target's quota commands."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def params(kind: str, name: str, limits: dict[str, int] | None) -> dict[str, Any]:
    """`limits` None clears every limit of the target (DELETE /v1/quotas/{project})."""
    return {"target": kind, "name": name, "limits": limits}


def parse_defaults(text: str) -> dict[str, int]:
    """ZUN_QUOTA_DEFAULTS, e.g. "containers=40,memory=51200,cpu=20,disk=100"."""
    out = dict(ZUN_DEFAULTS)
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in RESOURCES:
            raise ValueError(f"ZUN_QUOTA_DEFAULTS: unknown entry {part.strip()!r}")
        number = int(value)
        if not LIMIT_MIN <= number <= LIMIT_MAX:
            raise ValueError(f"ZUN_QUOTA_DEFAULTS: {key} out of range")
        out[key] = number
    return out
