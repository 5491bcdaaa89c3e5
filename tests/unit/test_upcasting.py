"""Versioned events: ActionEventFinished is at version 2 (it gained `message`). A version 1
event is read as version 2 in both places old events live: the event store (the event
class's upcast_v1_v2, run by eventsourcing on every read) and the `events` topic (the
wire upcasters of schemas/envelopes.py, run by the projector on every record)."""
from __future__ import annotations

import json
import sqlite3
import uuid as uuidlib

from commands.aggregate import EVENT_TYPES, Container, event_to_wire
from commands.envelope import Command
from commands.store import ContainerStore, Tracking, store_env
from schemas.envelopes import EVENT_VERSIONS, EventEnvelope, upcast_event
from workers.compute import ComputeWorker

from .test_outcomes import FakeEngine

UUID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def v1_wire(result: str, finish_action: bool = True) -> dict:
    return {"kind": "event", "type": "ActionEventFinished", "v": 1, "container_uuid": UUID,
            "version": 4, "timestamp": "2026-01-01T00:00:01+00:00", "notification_id": 4,
            "data": {"request_id": "r1", "action": "start", "event": "compute__do_container_start",
                     "finish_time": "2026-01-01T00:00:01.000000", "result": result,
                     "traceback": None, "finish_action": finish_action}}


def test_every_event_class_is_at_the_version_the_wire_contract_names():
    for name, cls in EVENT_TYPES.items():
        assert getattr(cls, "class_version", 1) == EVENT_VERSIONS.get(name, 1), name


def test_a_v1_wire_event_is_read_as_v2():
    failed, done = upcast_event(v1_wire("Error")), upcast_event(v1_wire("Success"))
    assert (failed["v"], failed["data"]["message"]) == (2, "Error")
    assert (done["v"], done["data"]["message"]) == (2, None)
    # an event that does not finish its action leaves the action's message alone
    assert upcast_event(v1_wire("Error", finish_action=False))["data"]["message"] is None
    assert not EventEnvelope().validate(failed)


def test_a_v2_wire_event_is_left_as_it_is():
    v2 = {**v1_wire("Error"), "v": 2}
    v2["data"] = {**v2["data"], "message": "custom"}
    assert upcast_event(v2) == v2


def test_new_events_are_written_at_v2():
    c = Container({"uuid": UUID})
    c.action_event_finished(request_id="r", action="stop", event="e", finish_time="t",
                            result="Error", traceback="tb", finish_action=True)
    wire = event_to_wire(c.collect_events()[-1], 2)
    assert (wire["v"], wire["data"]["message"]) == (2, "Error")


def test_a_v1_event_in_the_store_is_upcast_on_read(tmp_path):
    store = ContainerStore(env=store_env("", str(tmp_path)))
    worker = ComputeWorker(store, FakeEngine(), "h1")
    doc = {"uuid": UUID, "name": "c", "image": "busybox", "status": "Creating"}
    worker.handle(Command(type="create", container_uuid=UUID, request_id="r1", project_id="p",
                          user_id="u", params={"container": doc, "run": True}),
                  Tracking("c:0", 0))
    worker.handle(Command(type="stop", container_uuid=UUID, request_id="r2", project_id="p",
                          user_id="u"), Tracking("c:0", 1))
    worker.handle(Command(type="stop", container_uuid=UUID, request_id="r3", project_id="p",
                          user_id="u"), Tracking("c:0", 2))  # refused: already Stopped
    # rewrite the stored finishes as a version 1 writer left them
    db = sqlite3.connect(tmp_path / "events.sqlite")
    rows = db.execute("SELECT originator_version, state FROM stored_events WHERE topic LIKE "
                      "'%ActionEventFinished'").fetchall()
    assert rows
    for version, state in rows:
        old = json.loads(state)
        assert old.pop("class_version") == 2
        old.pop("message")
        db.execute("UPDATE stored_events SET state=? WHERE originator_version=?",
                   (json.dumps(old).encode(), version))
    db.commit()
    db.close()

    fresh = ContainerStore(env=store_env("", str(tmp_path)))
    finishes = [e for e in fresh.events.get(uuidlib.UUID(UUID))
                if type(e).__name__ == "ActionEventFinished"]
    assert [(e.request_id, e.result, e.message) for e in finishes if e.finish_action] == [
        ("r1", "Success", None), ("r2", "Success", None), ("r3", "Error", "Error")]
    assert fresh.get(UUID).status == "Stopped"  # the aggregate still loads
    # the relay publishes what it reads: version 2
    wires = [event_to_wire(fresh.mapper.to_domain_event(n), n.id)
             for n in fresh.recorder.select_notifications(start=1, limit=100)]
    assert {w["v"] for w in wires if w["type"] == "ActionEventFinished"} == {2}
