"""The projector's rules on an SQLite read model: repeats are ignored, and a worker's
outcome projected before its command is not overwritten by the command."""
from __future__ import annotations

import json

import pytest

from commands.envelope import Command
from commands.log import Record
from projections.db import SqliteDatabase
from projections.projector import project_batch
from projections.readmodel import ReadModel
from projections.schema import create_schema

UUID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def db(tmp_path):
    db = SqliteDatabase(tmp_path / "rm.sqlite")
    create_schema(db)
    return db


def cmd(ctype, rid, params=None, offset=0):
    c = Command(type=ctype, container_uuid=UUID, request_id=rid, project_id="p", user_id="u",
                params=params or {}, issued_at=f"2026-01-01T00:00:0{offset}.000000")
    return Record("zun.commands", 0, offset, UUID, c.to_wire())


def ev(etype, version, data, offset):
    return Record("zun.events", 0, offset, UUID, {
        "kind": "event", "type": etype, "v": 1, "container_uuid": UUID, "version": version,
        "timestamp": f"2026-01-01T00:00:1{version}.000000+00:00", "notification_id": version,
        "data": data})


def doc(**kw):
    return {"uuid": UUID, "name": "c1", "image": "busybox", "project_id": "p", "user_id": "u",
            "status": "Creating", "created_at": "2026-01-01T00:00:00.000000", **kw}


def started(rid, action, event, version, offset):
    return ev("ActionEventStarted", version, {
        "request_id": rid, "action": action, "event": event, "start_time": "t0",
        "user_id": "u", "project_id": "p"}, offset)


def finished(rid, action, event, version, offset, result="Success"):
    return ev("ActionEventFinished", version, {
        "request_id": rid, "action": action, "event": event, "finish_time": "t1",
        "result": result, "traceback": None, "finish_action": True}, offset)


def test_create_command_then_events(db):
    rm = ReadModel(db)
    project_batch(db, [cmd("create", "r1", {"container": doc()})])
    assert rm.by_uuid(UUID)["status"] == "Creating"
    assert rm.by_uuid(UUID)["task_state"] == "container_creating"
    project_batch(db, [ev("Registered", 1, {"doc": doc(host="h")}, 0),
                       started("r1", "create", "compute__do_container_create", 2, 1),
                       ev("Updated", 3, {"changes": {"status": "Created"}}, 2),
                       finished("r1", "create", "compute__do_container_create", 4, 3)])
    row = rm.by_uuid(UUID)
    assert (row["status"], row["task_state"]) == ("Created", None)
    action = rm.action(UUID, "r1")
    assert action["finish_time"] == "t1" and action["message"] is None
    assert [e["result"] for e in action["events"]] == ["Success"]


def test_repeated_records_change_nothing(db):
    batch = [cmd("create", "r1", {"container": doc()}), ev("Registered", 1, {"doc": doc()}, 0),
             ev("Updated", 2, {"changes": {"status": "Created"}}, 1)]
    project_batch(db, batch)
    before = db.query("SELECT * FROM containers")
    project_batch(db, batch)  # a reader repeats records already projected
    # the relay republishes an event at a new offset: the version check drops it
    project_batch(db, [ev("Updated", 2, {"changes": {"status": "Created"}}, 2)])
    assert db.query("SELECT * FROM containers") == before
    assert len(db.query("SELECT * FROM container_actions")) == 1


def test_outcome_before_command_keeps_outcome(db):
    project_batch(db, [cmd("create", "r1", {"container": doc()}),
                       ev("Registered", 1, {"doc": doc()}, 0),
                       ev("Updated", 2, {"changes": {"status": "Running"}}, 1)])
    # the stop's outcome reaches the projector before the stop command itself
    project_batch(db, [started("r2", "stop", "compute__do_container_stop", 3, 2),
                       ev("Updated", 4, {"changes": {"status": "Stopped"}}, 3),
                       finished("r2", "stop", "compute__do_container_stop", 5, 4)])
    project_batch(db, [cmd("stop", "r2", offset=1)])
    row = ReadModel(db).by_uuid(UUID)
    assert (row["status"], row["task_state"]) == ("Stopped", None)


def test_removed_hides_container_and_old_events_cannot_resurrect(db):
    project_batch(db, [cmd("create", "r1", {"container": doc()}),
                       ev("Registered", 1, {"doc": doc()}, 0),
                       ev("Removed", 2, {"request_id": "r9"}, 1)])
    assert ReadModel(db).by_uuid(UUID) is None
    project_batch(db, [ev("Registered", 1, {"doc": doc()}, 2)])
    assert ReadModel(db).by_uuid(UUID) is None


def test_failed_action_has_message_error(db):
    project_batch(db, [cmd("create", "r1", {"container": doc()}),
                       ev("Registered", 1, {"doc": doc()}, 0),
                       cmd("start", "r2", offset=1),
                       started("r2", "start", "compute__do_container_start", 2, 1),
                       finished("r2", "start", "compute__do_container_start", 3, 2, "Error")])
    action = ReadModel(db).action(UUID, "r2")
    assert action["message"] == "Error"
    assert ReadModel(db).by_uuid(UUID)["task_state"] is None


def test_offsets_saved_with_rows(db):
    project_batch(db, [cmd("create", "r1", {"container": doc()}, offset=0)])
    assert ReadModel(db).projected("zun.commands", 0, 0)
    assert not ReadModel(db).projected("zun.commands", 0, 1)
    assert json.loads(db.query("SELECT doc FROM containers")[0]["doc"])["name"] == "c1"
