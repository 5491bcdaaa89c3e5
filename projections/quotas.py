"""The `quotas` table: limits set by `quota` commands (applied by the projector) and the
queries the API asks of it (zun/common/quota.py DbQuotaDriver: a project's own limit,
else the `default` quota class, else the configured default)."""
from __future__ import annotations

from typing import Any

from commands.quotas import CLASS, DEFAULT_CLASS, PROJECT, RESOURCES

from .db import Database


def apply_quota(cur: Any, params: dict[str, Any]) -> None:
    kind, name, limits = params["target"], params["name"], params.get("limits")
    if limits is None:
        cur.execute("DELETE FROM quotas WHERE kind=%s AND name=%s", (kind, name))
        return
    for resource, value in limits.items():
        if resource not in RESOURCES:
            continue
        cur.execute("UPDATE quotas SET hard_limit=%s WHERE kind=%s AND name=%s AND resource=%s",
                    (int(value), kind, name, resource))
        if cur.rowcount == 0:
            cur.execute("INSERT INTO quotas (kind, name, resource, hard_limit) "
                        "VALUES (%s, %s, %s, %s)", (kind, name, resource, int(value)))


class QuotaModel:
    def __init__(self, db: Database, defaults: dict[str, int]):
        self.db = db
        self.defaults = defaults

    def _rows(self, kind: str, name: str) -> dict[str, int]:
        rows = self.db.query("SELECT resource, hard_limit FROM quotas WHERE kind=%s AND name=%s",
                             (kind, name))
        return {r["resource"]: int(r["hard_limit"]) for r in rows}

    def defaults_for_all(self) -> dict[str, int]:
        """The `default` quota class over the configured defaults."""
        return {**self.defaults, **self._rows(CLASS, DEFAULT_CLASS)}

    def class_limits(self, name: str) -> dict[str, int]:
        return {**self.defaults, **self._rows(CLASS, name)}

    def project_limits(self, project_id: str) -> dict[str, int]:
        return {**self.defaults_for_all(), **self._rows(PROJECT, project_id)}
