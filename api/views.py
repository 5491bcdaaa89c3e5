"""Response views (zun/api/controllers/v1/views): allow-lists of keys, admin-only keys
hidden by policy, Zun's types and date formats."""
from __future__ import annotations

from typing import Any

VIEW_KEYS = ("uuid", "user_id", "project_id", "name", "image", "links", "command", "status",
             "status_reason", "task_state", "cpu", "memory", "environment", "workdir", "ports",
             "hostname", "labels", "addresses", "image_pull_policy", "host", "restart_policy",
             "status_detail", "interactive", "tty", "image_driver", "security_groups",
             "auto_remove", "runtime", "disk", "auto_heal", "privileged", "healthcheck",
             "cpu_policy", "registry_id", "entrypoint", "created_at", "updated_at")

#: keys shown only when `container:get_one:<key>` allows the caller
GUARDED_KEYS = ("host", "image_pull_policy", "privileged", "runtime")


def container_view(doc: dict[str, Any], visible_guarded: set[str],
                   base_url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in VIEW_KEYS:
        if key == "links":
            if base_url:
                out["links"] = [
                    {"href": f"{base_url}/v1/containers/{doc['uuid']}", "rel": "self"},
                    {"href": f"{base_url}/containers/{doc['uuid']}", "rel": "bookmark"}]
            continue
        if key in GUARDED_KEYS and key not in visible_guarded:
            continue
        value = doc.get(key)
        if key in ("created_at", "updated_at") and value:
            value = value.replace("T", " ")
        out[key] = value
    return out


ACTION_KEYS = ("action", "container_uuid", "finish_time", "message", "project_id",
               "request_id", "start_time", "user_id")


def action_view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ACTION_KEYS}


def action_event_view(row: dict[str, Any], show_traceback: bool) -> dict[str, Any]:
    return {"event": row["event"], "finish_time": row.get("finish_time"),
            "result": row.get("result"), "start_time": row.get("start_time"),
            "traceback": row.get("traceback") if show_traceback else None}
