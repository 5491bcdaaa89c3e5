"""Queries of the read model: the only way the API reads containers and actions."""
from __future__ import annotations

import json
from typing import Any

from .db import Database

LIST_FILTERS = ("name", "image", "project_id", "user_id", "memory", "host", "task_state",
                "status", "auto_remove")


class ReadModel:
    def __init__(self, db: Database):
        self.db = db

    # --- containers ----------------------------------------------------------------------
    def by_uuid(self, uuid: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT doc FROM containers WHERE uuid=%s AND removed=0", (uuid,))
        return json.loads(rows[0]["doc"]) if rows else None

    def by_name(self, name: str, project_id: str | None) -> list[dict[str, Any]]:
        sql = "SELECT doc FROM containers WHERE name=%s AND removed=0"
        params: tuple = (name,)
        if project_id is not None:
            sql += " AND project_id=%s"
            params += (project_id,)
        return [json.loads(r["doc"]) for r in self.db.query(sql, params)]

    def list(self, project_id: str | None, filters: dict[str, Any], sort_key: str,
             sort_dir: str, limit: int | None, marker: str | None) -> list[dict[str, Any]]:
        where, params = ["removed=0"], []
        if project_id is not None:
            where.append("project_id=%s")
            params.append(project_id)
        for key, value in filters.items():
            if key == "auto_remove":
                where.append("auto_remove=%s")
                params.append(int(bool(value)))
            else:
                where.append(f"{key}=%s")
                params.append(value)
        rows = [json.loads(r["doc"]) | {"_seq": r["seq"]} for r in self.db.query(
            f"SELECT doc, seq FROM containers WHERE {' AND '.join(where)} ORDER BY seq",
            tuple(params))]
        key = (lambda d: d["_seq"]) if sort_key == "id" else (
            lambda d: (d.get(sort_key) is None, _sortable(d.get(sort_key)), d["_seq"]))
        rows.sort(key=key, reverse=(sort_dir == "desc"))
        if marker:
            uuids = [r["uuid"] for r in rows]
            if marker in uuids:
                rows = rows[uuids.index(marker) + 1:]
        if limit is not None:
            rows = rows[:limit]
        for r in rows:
            r.pop("_seq", None)
        return rows

    def count_for_project(self, project_id: str) -> dict[str, float]:
        rows = self.db.query("SELECT doc FROM containers WHERE project_id=%s AND removed=0",
                             (project_id,))
        docs = [json.loads(r["doc"]) for r in rows]
        return {"containers": len(docs),
                "cpu": sum(float(d.get("cpu") or 0) for d in docs),
                "memory": sum(int(d.get("memory") or 0) for d in docs),
                "disk": sum(int(d.get("disk") or 0) for d in docs)}

    def live_on_host(self, host: str) -> dict[str, dict[str, Any]]:
        """Containers of this host, and those not yet placed (a create in flight: its
        Docker container may already exist while the row has no host)."""
        rows = self.db.query("SELECT doc FROM containers WHERE removed=0 AND "
                             "(host=%s OR host IS NULL)", (host,))
        return {d["uuid"]: d for d in (json.loads(r["doc"]) for r in rows)}

    # --- actions -------------------------------------------------------------------------
    def actions(self, uuid: str) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT action, container_uuid, finish_time, message, project_id, request_id, "
            "start_time, user_id FROM container_actions WHERE container_uuid=%s ORDER BY seq",
            (uuid,))

    def action(self, uuid: str, request_id: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT action, container_uuid, finish_time, message, project_id, request_id, "
            "start_time, user_id FROM container_actions WHERE container_uuid=%s AND "
            "request_id=%s ORDER BY seq", (uuid, request_id))
        if not rows:
            return None
        action = rows[0]
        action["events"] = self.db.query(
            "SELECT event, finish_time, result, start_time, traceback FROM "
            "container_action_events WHERE container_uuid=%s AND request_id=%s "
            "ORDER BY start_time, event", (uuid, request_id))
        return action

    # --- read-your-writes ----------------------------------------------------------------
    def projected(self, topic: str, partition: int, offset: int) -> bool:
        rows = self.db.query("SELECT next_offset FROM projection_offsets WHERE topic=%s AND "
                             "partition=%s", (topic, partition))
        return bool(rows) and rows[0]["next_offset"] > offset

    def outcome(self, uuid: str, request_id: str, command: str) -> dict[str, Any] | None:
        """The worker's answer to a synchronous command, once projected."""
        rows = self.db.query(
            "SELECT result, reason, message, data FROM command_outcomes WHERE "
            "container_uuid=%s AND request_id=%s AND command=%s", (uuid, request_id, command))
        if not rows:
            return None
        row = dict(rows[0])
        row["data"] = json.loads(row["data"] or "{}")
        return row


def _sortable(value: Any) -> Any:
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value))
