"""The projector: builds `containers`, `container_actions` and their events from the
commands and events topics. Every batch of records and the next offsets of their
partitions are written in ONE transaction, so a projector killed at any point neither
loses nor repeats a row; events older than a row's version (relay repeats) are ignored."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, Callable

from commands.log import Record
from commands.states import CREATING, DELETED, DELETING, REBUILDING
from commands.quotas import QUOTA
from workers.compute import ACTIONS

from .db import Database
from .quotas import apply_quota

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
    # FOR UPDATE: two projectors given the same partition take turns instead of both
    # applying a record (SQLite's BEGIN IMMEDIATE already serialises writers)
    lock = " FOR UPDATE" if db.dialect == "postgres" else ""
    with db.transaction() as cur:
        for r in records:
            cur.execute("SELECT next_offset FROM projection_offsets WHERE topic=%s AND "
                        "partition=%s" + lock, (r.topic, r.partition))
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
    if ctype == QUOTA:
        apply_quota(cur, cmd["params"])
        return
    if ctype == "create":
        doc = dict(cmd["params"]["container"])
        cur.execute("SELECT 1 FROM containers WHERE uuid=%s", (uuid,))
        if cur.fetchone() is None:
            doc.update(status=CREATING, task_state=TASK_STATES["create"])
            _insert_container(cur, doc, version=0)
    action = ACTIONS.get(ctype, (None, None))[0]
    if action is None:
        return
    _insert_action(cur, uuid, rid, action, cmd["project_id"], cmd["user_id"], cmd["issued_at"],
                   from_command=True)
    if ctype == "create" or _worker_began(cur, uuid, rid, action):
        return  # the worker's outcome was projected first; it is the newer truth
    changes: dict[str, Any] = {"task_state": TASK_STATES.get(ctype)}
    if ctype == "delete":
        changes["status"] = DELETING
    elif ctype == "rebuild":
        changes.update(status=REBUILDING, **{k: v for k, v in cmd["params"].items()
                                             if k in ("image", "image_driver") and v})
    _update_container(cur, uuid, changes, version=None, when=cmd["issued_at"])


def _worker_began(cur: Any, uuid: str, request_id: str, action: str) -> bool:
    """Whether any outcome of this request is already projected. Commands and events
    travel on different topics, so either may be projected first; the worker's outcome
    always wins, whatever the order, which keeps a replay identical to the live run.
    Every command that names an action gets an event from the worker (or Removed)."""
    cur.execute("SELECT removed FROM containers WHERE uuid=%s", (uuid,))
    row = cur.fetchone()
    if row is None or row[0]:
        return True
    cur.execute("SELECT 1 FROM container_action_events WHERE container_uuid=%s AND "
                "request_id=%s", (uuid, request_id))
    if cur.fetchone() is not None:
        return True
    cur.execute("SELECT finish_time FROM container_actions WHERE container_uuid=%s AND "
                "request_id=%s AND action=%s", (uuid, request_id, action))
    row = cur.fetchone()
    return row is not None and row[0] is not None


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
        _insert_container(cur, {**doc, "updated_at": naive(ev["timestamp"])},
                          version=ev["version"])
    else:
        projected = json.loads(row[0])
        merged = {**projected, **doc}
        # the create command's task_state holds until the create action finishes, so the
        # reconciler does not take a container being created for a drifted one
        merged["task_state"] = doc.get("task_state") or projected.get("task_state")
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
        message = data.get("message")
        cur.execute("UPDATE container_actions SET finish_time=%s, message=COALESCE(message, %s) "
                    "WHERE container_uuid=%s AND request_id=%s AND action=%s",
                    (data["finish_time"], message, uuid, data["request_id"], data["action"]))
        _update_container(cur, uuid, {"task_state": None}, version=None,
                          when=naive(ev["timestamp"]))


def _removed(cur: Any, uuid: str, data: dict, ev: dict) -> None:
    _update_container(cur, uuid, {"status": DELETED, "task_state": None}, version=None,
                      when=naive(ev["timestamp"]))
    cur.execute("UPDATE containers SET removed=1 WHERE uuid=%s", (uuid,))
    doc = _doc(cur, uuid)
    _insert_action(cur, uuid, data["request_id"], "delete", doc.get("project_id") or "",
                   doc.get("user_id") or "", naive(ev["timestamp"]))
    cur.execute("UPDATE container_actions SET finish_time=COALESCE(finish_time, %s) "
                "WHERE container_uuid=%s AND request_id=%s AND action=%s",
                (naive(ev["timestamp"]), uuid, data["request_id"], "delete"))


def _answered(cur: Any, uuid: str, data: dict, ev: dict) -> None:
    """The outcome a synchronous request waits for (ReadModel.outcome)."""
    cur.execute("SELECT 1 FROM command_outcomes WHERE container_uuid=%s AND request_id=%s AND "
                "command=%s", (uuid, data["request_id"], data["command"]))
    if cur.fetchone() is None:
        cur.execute("INSERT INTO command_outcomes (container_uuid, request_id, command, result, "
                    "reason, message, data, answered_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (uuid, data["request_id"], data["command"], data["result"], data.get("reason"),
                     data.get("message"), json.dumps(data.get("data") or {}, sort_keys=True),
                     naive(ev["timestamp"])))


EVENT_HANDLERS: dict[str, Callable[[Any, str, dict, dict], None]] = {
    "Registered": _registered,
    "Updated": _updated,
    "ActionEventStarted": _action_event_started,
    "ActionEventFinished": _action_event_finished,
    "Removed": _removed,
    "Answered": _answered,
}


# --- rows ------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1)


def order_key(timestamp: Any) -> int:
    """Microseconds since the epoch of a naive UTC ISO timestamp (0 if unparsable).

    Rows are ordered by when they were asked for, not by when the projector happened to
    see them: the commands and events topics interleave differently in every run, and a
    replay must order rows as the live projection did."""
    try:
        moment = datetime.fromisoformat(str(timestamp)[:26])
    except ValueError:
        return 0
    return (moment.replace(tzinfo=None) - EPOCH) // timedelta(microseconds=1)


def _doc(cur: Any, uuid: str) -> dict[str, Any]:
    cur.execute("SELECT doc FROM containers WHERE uuid=%s", (uuid,))
    row = cur.fetchone()
    return json.loads(row[0]) if row else {}


def _insert_container(cur: Any, doc: dict[str, Any], version: int) -> None:
    seq = order_key(doc["created_at"])
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
                   user_id: str, start_time: str, from_command: bool = False) -> None:
    """The action row, from whichever of its command and its first event comes first;
    the command is the authority on who asked and when (Zun's start_time is the API's)."""
    seq = order_key(start_time)
    cur.execute("SELECT 1 FROM container_actions WHERE container_uuid=%s AND request_id=%s "
                "AND action=%s", (uuid, request_id, action))
    if cur.fetchone() is not None:
        if from_command:
            cur.execute("UPDATE container_actions SET project_id=%s, user_id=%s, start_time=%s, "
                        "seq=%s WHERE container_uuid=%s AND request_id=%s AND action=%s",
                        (project_id, user_id, start_time, seq, uuid, request_id, action))
        return
    cur.execute("INSERT INTO container_actions (container_uuid, request_id, action, project_id, "
                "user_id, start_time, finish_time, message, seq) VALUES "
                "(%s, %s, %s, %s, %s, %s, NULL, NULL, %s)",
                (uuid, request_id, action, project_id, user_id, start_time, seq))
