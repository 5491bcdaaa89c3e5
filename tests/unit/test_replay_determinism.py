"""A replay must rebuild the read model the live projector built, whatever the order in
which the two topics happened to be read: commands and events of one history, projected
in many interleavings (each partition in order, relay repeats included), give identical
tables, row order included. `compare` names what differs."""
from __future__ import annotations

import random

import pytest

from commands.aggregate import event_to_wire
from commands.envelope import Command
from commands.log import Record, embedded_partition
from commands.store import ContainerStore, Tracking, store_env
from projections.db import SqliteDatabase
from projections.projector import project_batch
from projections.rebuild import compare, read_tables
from projections.schema import create_schema
from workers.compute import ComputeWorker

from .test_outcomes import FakeEngine

PARTITIONS = 3
UUIDS = [f"{i}aaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" for i in range(1, 5)]


def history(tmp_path):
    """Commands as the API wrote them and the events a worker recorded for them."""
    (tmp_path / "store").mkdir(exist_ok=True)
    store = ContainerStore(env=store_env("", str(tmp_path / "store")))
    engine = FakeEngine()
    worker = ComputeWorker(store, engine, "h1")
    script = []
    for n, u in enumerate(UUIDS):
        script.append(("create", u, {"run": n != 1, "container": {
            "uuid": u, "name": f"c{n}", "image": "busybox", "status": "Creating",
            "project_id": "p", "created_at": f"2026-01-01T00:00:0{n}.000000",
            "auto_heal": n == 3}}))
    script += [("stop", UUIDS[0], {}), ("start", UUIDS[0], {}), ("pause", UUIDS[0], {}),
               ("start", UUIDS[1], {}), ("stop", UUIDS[1], {}), ("delete", UUIDS[1], {}),
               ("stop", UUIDS[2], {}), ("stop", UUIDS[2], {}),  # the second is refused
               ("delete", UUIDS[2], {}), ("kill", UUIDS[0], {}),  # refused: Paused
               ("delete", UUIDS[0], {})]  # refused too: the projection showed "Deleting"
    commands, offsets = [], {}
    for i, (ctype, u, params) in enumerate(script):
        cmd = Command(type=ctype, container_uuid=u, request_id=f"req-{i}", project_id="p",
                      user_id="u", params=params, issued_at=f"2026-01-01T00:01:{i:02d}.000000")
        p = embedded_partition(u, PARTITIONS)
        offsets[p] = offsets.get(p, -1) + 1
        commands.append(Record("commands", p, offsets[p], u, cmd.to_wire()))
        worker.handle(cmd, Tracking(f"commands:{p}", offsets[p]))
        if ctype == "create" and u == UUIDS[3]:
            engine.delete(u)  # disappears; auto_heal rebuilds it on the next sync
            sync = Command(type="sync", container_uuid=u, request_id="req-sync", project_id="p",
                           user_id="zun-reconciler")
            offsets[p] += 1
            commands.append(Record("commands", p, offsets[p], u, sync.to_wire()))
            worker.handle(sync, Tracking(f"commands:{p}", offsets[p]))
    events, offsets = [], {}
    for n in store.recorder.select_notifications(start=1, limit=1000):
        wire = event_to_wire(store.mapper.to_domain_event(n), n.id)
        p = embedded_partition(wire["container_uuid"], PARTITIONS)
        offsets[p] = offsets.get(p, -1) + 1
        events.append(Record("events", p, offsets[p], wire["container_uuid"], wire))
    return commands, events


def interleave(rng: random.Random, streams: list[list[Record]]) -> list[list[Record]]:
    """Random batches of a random merge that keeps each partition's order."""
    queues = {}
    for s in streams:
        for r in s:
            queues.setdefault((r.topic, r.partition), []).append(r)
    merged = []
    while queues:
        key = rng.choice(sorted(queues))
        merged.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    batches, i = [], 0
    while i < len(merged):
        n = rng.randint(1, 7)
        batches.append(merged[i:i + n])
        i += n
    return batches


def late_commands(commands: list[Record], events: list[Record]) -> list[list[Record]]:
    """The adversarial order: each command projected after the worker's first events of
    it and just before the event that finishes it."""
    pending = {p: [r for r in commands if r.partition == p] for p in range(PARTITIONS)}
    out: list[list[Record]] = []
    for e in events:
        rid = e.value["data"].get("request_id")
        if e.value["type"] in ("ActionEventFinished", "Removed") and rid:
            queue = pending[embedded_partition(e.key, PARTITIONS)]
            ids = [c.value["request_id"] for c in queue]
            if rid in ids:
                for _ in range(ids.index(rid) + 1):
                    out.append([queue.pop(0)])
        out.append([e])
    return out + [[c] for q in pending.values() for c in q]


def project(tmp_path, name, batches):
    db = SqliteDatabase(tmp_path / f"{name}.sqlite")
    create_schema(db)
    for batch in batches:
        project_batch(db, batch)
    with db.transaction() as cur:
        tables = read_tables(cur)
    db.close()
    return tables


def relay_repeat(events: list[Record], rng: random.Random) -> list[Record]:
    """The relay died after Kafka acknowledged a batch and before it recorded that: the
    batch is published again, at new offsets."""
    cut = rng.randint(1, len(events) - 1)
    again = events[rng.randint(0, cut - 1):cut]
    out, offsets = list(events[:cut]), {}
    for r in out:
        offsets[r.partition] = r.offset
    for r in again + events[cut:]:
        offsets[r.partition] = offsets.get(r.partition, -1) + 1
        out.append(Record(r.topic, r.partition, offsets[r.partition], r.key, r.value))
    return out


def test_every_interleaving_builds_the_same_read_model(tmp_path):
    commands, events = history(tmp_path)
    reference = project(tmp_path, "commands-first", [commands, events])
    assert reference["containers"] and reference["container_actions"]
    orders = {"events-first": [events, commands],
              "late-commands": late_commands(commands, events)}
    rng = random.Random(7)
    for i in range(12):
        evs = relay_repeat(events, rng) if i % 3 == 0 else events
        orders[f"random-{i}"] = interleave(rng, [commands, evs])
    for name, batches in orders.items():
        result = compare(reference, project(tmp_path, name, batches))
        assert result.same, f"{name}: " + "; ".join(map(str, result.differences[:5]))


def test_the_history_ends_where_the_worker_left_it(tmp_path):
    commands, events = history(tmp_path)
    tables = project(tmp_path, "live", [commands, events])
    import json
    docs = {r["uuid"]: (json.loads(r["doc"]), r["removed"]) for r in tables["containers"]}
    assert docs[UUIDS[0]][0]["status"] == "Paused"
    assert docs[UUIDS[1]][1] == 1
    assert (docs[UUIDS[2]][0]["status"], docs[UUIDS[2]][1]) == ("Deleted", 1)
    assert docs[UUIDS[3]][0]["status"] == "Running"
    assert all(d["task_state"] is None for d, _ in docs.values())
    actions = {(r["request_id"], r["action"]): r for r in tables["container_actions"]}
    assert actions[("req-sync", "rebuild")]["finish_time"]
    assert all(a["finish_time"] for a in actions.values())
    refused = [a for a in actions.values() if a["message"] == "Error"]
    assert sorted(a["action"] for a in refused) == ["delete", "kill", "stop"]


def test_compare_names_each_difference():
    live = {"containers": [{"uuid": "u1", "doc": '{"status": "Running"}', "seq": 1},
                           {"uuid": "u2", "doc": "{}", "seq": 2}],
            "container_actions": []}
    rebuilt = {"containers": [{"uuid": "u1", "doc": '{"status": "Stopped"}', "seq": 1},
                              {"uuid": "u3", "doc": "{}", "seq": 3}],
               "container_actions": []}
    result = compare(live, rebuilt)
    assert not result.same
    text = sorted(str(d) for d in result.differences)
    assert text == ["containers u1: changed (doc.status: live 'Running' rebuild 'Stopped')",
                    "containers u2: missing", "containers u3: extra"]


@pytest.mark.parametrize("url,expected", [
    ("postgresql://u:p@h:5/db", "postgresql://u:p@h:5/db?options=-csearch_path%3Dreplay_1"),
    ("postgresql://u:p@h:5/db?sslmode=disable&options=-cx%3Dy",
     "postgresql://u:p@h:5/db?sslmode=disable&options=-csearch_path%3Dreplay_1"),
])
def test_search_path_url(url, expected):
    from projections.rebuild import with_search_path
    assert with_search_path(url, "replay_1") == expected
