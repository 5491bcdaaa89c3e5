"""The projector: builds `containers`, `container_actions` and their events from the
commands and events topics. Every batch of records and the next offsets of their
partitions are written in ONE transaction, so a projector killed at any point neither
loses nor repeats a row; events older than a row's version (relay repeats) are ignored."""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from commands.log import Record
from commands.states import CREATING, DELETED, DELETING
from workers.compute import ACTIONS

from .db import Database

log = logging.getLogger(__name__)

TASK_STATES = {
    "create": "container_creating", "start": "container_starting",
    "stop": "container_stopping", "reboot": "container_rebooting",
    "pause": "container_pausing", "unpause": "container_unpausing",
    "kill": "container_killing", "delete": "container_deleting",
    "rebuild": "container_rebuilding", "network_attach": "network_attaching",
    "network_detach": "network_detaching", "add_security_group": "sg_adding",
    "remove_security_group": "sg_removing",
}

COLUMNS = ("name", "image", "status", "task_state", "host", "memory")


def positions(db: Database, topic: str, partitions: list[int]) -> dict[tuple[str, int], int]:
    rows = db.query("SELECT partition, next_offset FROM projection_offsets WHERE topic=%s",
                    (topic,))
    known = {r["partition"]: r["next_offset"] for r in rows}
    return {(topic, p): known.get(p, 0) for p in partitions}


def project_batch(db: Database, records: list[Record]) -> None:
    with db.transaction() as cur:
        for r in records:
            cur.execute("SELECT next_offset FROM projection_offsets WHERE topic=%s AND partition=%s",
                        (r.topic, r.partition))
            row = cur.fetchone()
            if row is not None and r.offset < row[0]:
                continue  # already projected (a reader repeated it)
            apply(cur, r.value)
            _save_offset(cur, r.topic, r.partition, r.offset + 1)


def _save_offset(cur: Any, topic: str, partition: int, next_offset: int) -> None:
    cur.execute("UPDATE projection_offsets SET next_offset=%s WHERE topic=%s AND partition=%s",
                (next_offset, topic, partition))
    if cur.rowcount == 0:
        cur.execute("INSERT INTO projection_offsets (topic, partition, next_offset) "
                    "VALUES (%s, %s, %s)", (topic, partition, next_offset))


def apply(cur: Any, value: dict[str, Any]) -> None:
    if value.get("kind") == "command":
        apply_command(cur, value)
    elif value.get("kind") == "event":
        apply_event(cur, upcast(value))


# --- commands: what the API asked for, visible at once (read-your-writes) ---------------

def apply_command(cur: Any, cmd: dict[str, Any]) -> None:
    uuid, rid = cmd["container_uuid"], cmd["request_id"]
    ctype = cmd["type"]
    if ctype == "create":
        doc = dict(cmd["params"]["container"])
        cur.execute("SELECT 1 FROM containers WHERE uuid=%s", (uuid,))
        if cur.fetchone() is None:
            doc.update(status=CREATING, task_state=TASK_STATES["create"])
            _insert_container(cur, doc, version=0)
    action = ACTIONS.get(ctype, (None, None))[0]
    if action is None:
        return
    _insert_action(cur, uuid, rid, action, cmd["project_id"], cmd["user_id"], cmd["issued_at"])
    if ctype == "create":
        return
    cur.execute("SELECT finish_time FROM container_actions WHERE container_uuid=%s AND "
                "request_id=%s AND action=%s", (uuid, rid, action))
    if cur.fetchone()[0] is not None:
        return  # the worker's outcome was projected first; it is the newer truth
    changes: dict[str, Any] = {"task_state": TASK_STATES.get(ctype)}
    if ctype == "delete":
        changes["status"] = DELETING
    _update_container(cur, uuid, changes, version=None, when=cmd["issued_at"])


# --- events: what the worker did -------------------------------------------------------

def upcast(event: dict[str, Any]) -> dict[str, Any]:
    """Events are read at the newest schema version (schemas/envelopes.py)."""
    from schemas.envelopes import upcast_event
    return upcast_event(event)


def apply_event(cur: Any, ev: dict[str, Any]) -> None:
    uuid, version, data = ev["container_uuid"], ev["version"], ev["data"]
    cur.execute("SELECT version FROM containers WHERE uuid=%s", (uuid,))
    row = cur.fetchone()
    if row is not None and version <= row[0]:
        return
    if row is None and ev["type"] != "Registered":
        return
    handler = EVENT_HANDLERS.get(ev["type"])
    if handler is not None:
        handler(cur, uuid, data, ev)
    _update_container(cur, uuid, {}, version=version)


def naive(timestamp: str) -> str:
    """An event's aware ISO timestamp as Zun's naive UTC form."""
    return timestamp[:26]


def _registered(cur: Any, uuid: str, data: dict, ev: dict) -> None:
    doc = dict(data["doc"])
    cur.execute("SELECT doc FROM containers WHERE uuid=%s", (uuid,))
    row = cur.fetchone()
    if row is None:
        _insert_container(cur, doc, version=ev["version"])
    else:
        merged = {**json.loads(row[0]), **doc}
        _update_container(cur, uuid, merged, version=None, when=naive(ev["timestamp"]))


def _updated(cur: Any, uuid: str, data: dict, ev: dict) -> None:
    _update_container(cur, uuid, dict(data["changes"]), version=None, when=naive(ev["timestamp"]))


def _action_event_started(cur: Any, uuid: str, data: dict, ev: dict) -> None:
    _insert_action(cur, uuid, data["request_id"], data["action"], data["project_id"],
                   data["user_id"], data["start_time"])
    cur.execute("SELECT 1 FROM container_action_events WHERE container_uuid=%s AND "
                "request_id=%s AND event=%s", (uuid, data["request_id"], data["event"]))
    if cur.fetchone() is None:
        cur.execute("INSERT INTO container_action_events (container_uuid, request_id, action, "
                    "event, start_time) VALUES (%s, %s, %s, %s, %s)",
                    (uuid, data["request_id"], data["action"], data["event"], data["start_time"]))


def _action_event_finished(cur: Any, uuid: str, data: dict, ev: dict) -> None:
    cur.execute("UPDATE container_action_events SET finish_time=%s, result=%s, traceback=%s "
                "WHERE container_uuid=%s AND request_id=%s AND event=%s",
                (data["finish_time"], data["result"], data.get("traceback"), uuid,
                 data["request_id"], data["event"]))
    if data.get("finish_action"):
        message = "Error" if data["result"] == "Error" else None
        cur.execute("UPDATE container_actions SET finish_time=%s, message=COALESCE(message, %s) "
                    "WHERE container_uuid=%s AND request_id=%s AND action=%s",
                    (data["finish_time"], message, uuid, data["request_id"], data["action"]))
        _update_container(cur, uuid, {"task_state": None}, version=None,
                          when=naive(ev["timestamp"]))


def _removed(cur: Any, uuid: str, data: dict, ev: dict) -> None:
    _update_container(cur, uuid, {"status": DELETED, "task_state": None}, version=None,
                      when=naive(ev["timestamp"]))
    cur.execute("UPDATE containers SET removed=1 WHERE uuid=%s", (uuid,))
    cur.execute("UPDATE container_actions SET finish_time=COALESCE(finish_time, %s) "
                "WHERE container_uuid=%s AND request_id=%s AND action=%s",
                (naive(ev["timestamp"]), uuid, data["request_id"], "delete"))


EVENT_HANDLERS: dict[str, Callable[[Any, str, dict, dict], None]] = {
    "Registered": _registered,
    "Updated": _updated,
    "ActionEventStarted": _action_event_started,
    "ActionEventFinished": _action_event_finished,
    "Removed": _removed,
}


# --- rows ------------------------------------------------------------------------------

def _insert_container(cur: Any, doc: dict[str, Any], version: int) -> None:
    cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM containers")
    seq = cur.fetchone()[0]
    cur.execute(
        "INSERT INTO containers (uuid, seq, project_id, user_id, name, image, status, task_state,"
        " host, memory, auto_remove, removed, version, created_at, updated_at, doc) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, NULL, %s)",
        (doc["uuid"], seq, doc.get("project_id") or "", doc.get("user_id") or "", doc.get("name"),
         doc.get("image"), doc.get("status"), doc.get("task_state"), doc.get("host"),
         doc.get("memory"), int(bool(doc.get("auto_remove"))), version, doc["created_at"],
         json.dumps(doc, sort_keys=True)))


def _update_container(cur: Any, uuid: str, changes: dict[str, Any], version: int | None,
                      when: str | None = None) -> None:
    cur.execute("SELECT doc FROM containers WHERE uuid=%s", (uuid,))
    row = cur.fetchone()
    if row is None:
        return
    doc = json.loads(row[0])
    if changes:
        doc.update(changes)
    if changes and when:
        doc["updated_at"] = when
    sets = {c: doc.get(c) for c in COLUMNS}
    sets["doc"] = json.dumps(doc, sort_keys=True)
    sets["updated_at"] = doc.get("updated_at")
    if version is not None:
        sets["version"] = version
    assignments = ", ".join(f"{k}=%s" for k in sets)
    cur.execute(f"UPDATE containers SET {assignments} WHERE uuid=%s", (*sets.values(), uuid))


def _insert_action(cur: Any, uuid: str, request_id: str, action: str, project_id: str,
                   user_id: str, start_time: str) -> None:
    cur.execute("SELECT 1 FROM container_actions WHERE container_uuid=%s AND request_id=%s "
                "AND action=%s", (uuid, request_id, action))
    if cur.fetchone() is not None:
        return
    cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM container_actions")
    seq = cur.fetchone()[0]
    cur.execute("INSERT INTO container_actions (container_uuid, request_id, action, project_id, "
                "user_id, start_time, finish_time, message, seq) VALUES "
                "(%s, %s, %s, %s, %s, %s, NULL, NULL, %s)",
                (uuid, request_id, action, project_id, user_id, start_time, seq))
