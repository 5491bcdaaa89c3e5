"""What must hold after the fault suite, read from the three places that know: the event
store (what the workers recorded), the read model (what the API shows) and Docker.

The outcome of an accepted command (a 2xx, keyed by its request id):
- a command with a Zun action (create, start, stop, pause, unpause, kill, reboot): exactly
  one ActionEventFinished that finishes that action (finish_action) in the event store,
  and the read model's action row (container, request id, action) has a finish_time and
  the message of that event ("Error" when it failed, else null);
- a delete: exactly one of a Removed event carrying its request id (the read model then
  holds the container as removed: GET answers 404) or an ActionEventFinished that
  finishes its delete action with an Error (the container stays, not removed)."""
from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.support import docker_client

ACTION_COMMANDS = ("create", "start", "stop", "pause", "unpause", "kill", "reboot")


@dataclass
class History:
    """The event store's record, indexed for the checks."""
    finishes: dict[tuple, list] = field(default_factory=lambda: defaultdict(list))
    starts: Counter = field(default_factory=Counter)
    removed: dict[tuple, int] = field(default_factory=Counter)
    events: int = 0


def read_history(store) -> History:
    h = History()
    start = 1
    while True:
        batch = store.recorder.select_notifications(start=start, limit=500)
        if not batch:
            return h
        for n in batch:
            e = store.mapper.to_domain_event(n)
            name, uuid = type(e).__name__, str(e.originator_id)
            h.events += 1
            if name == "ActionEventStarted":
                h.starts[(uuid, e.request_id, e.action, e.event)] += 1
            elif name == "ActionEventFinished" and e.finish_action:
                h.finishes[(uuid, e.request_id, e.action)].append(e)
            elif name == "Removed":
                h.removed[(uuid, e.request_id)] += 1
        start = batch[-1].id + 1


@dataclass
class Report:
    outcomes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)

    def fail(self, text: str) -> None:
        self.problems.append(text)


def check_outcomes(accepted, history: History, db) -> Report:
    report = Report()
    rows = {(r["container_uuid"], r["request_id"], r["action"]): r for r in db.query(
        "SELECT container_uuid, request_id, action, finish_time, message FROM container_actions")}
    removed = {r["uuid"]: bool(r["removed"]) for r in db.query("SELECT uuid, removed FROM containers")}
    for s in accepted:
        if s.type in ACTION_COMMANDS:
            key = (s.uuid, s.request_id, s.type)
            finishes = history.finishes.get(key, [])
            row = rows.get(key)
            if len(finishes) != 1:
                report.fail(f"{s.type} {s.request_id} on {s.uuid}: {len(finishes)} finishes")
            elif row is None or row["finish_time"] is None:
                report.fail(f"{s.type} {s.request_id} on {s.uuid}: action row {row}")
            elif row["message"] != finishes[0].message:
                report.fail(f"{s.type} {s.request_id}: message {row['message']!r} in the read "
                            f"model, {finishes[0].message!r} in the event store")
            else:
                report.outcomes[f"{s.type} " + ("failed" if row["message"] else "done")] += 1
                if row["message"]:
                    last = (finishes[0].traceback or "").strip().splitlines()[-1:] or ["?"]
                    reason = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{12,}", "<id>", last[0])
                    report.reasons[f"{s.type}: {reason[:160]}"] += 1
        elif s.type == "delete":
            gone = history.removed.get((s.uuid, s.request_id), 0)
            failed = history.finishes.get((s.uuid, s.request_id, "delete"), [])
            if gone + len(failed) != 1:
                report.fail(f"delete {s.request_id} on {s.uuid}: {gone} Removed, "
                            f"{len(failed)} failures")
            elif gone and not removed.get(s.uuid):
                report.fail(f"delete {s.request_id}: Removed, but the read model shows {s.uuid}")
            elif failed and removed.get(s.uuid):
                report.fail(f"delete {s.request_id} failed, but {s.uuid} is removed")
            else:
                report.outcomes["delete " + ("done" if gone else "failed")] += 1
    return report


def check_no_duplicates(history: History, db, commands: list[dict]) -> Report:
    """Each action event recorded once; the read model's action rows are exactly the
    actions the logs name (a command, an event, a removal), none twice, none missing."""
    report = Report()
    for key, n in history.starts.items():
        if n > 1:
            report.fail(f"action event {key} recorded {n} times")
    for key, fs in history.finishes.items():
        if len(fs) > 1:
            report.fail(f"action {key} finished {len(fs)} times")
    for key, n in history.removed.items():
        if n > 1:
            report.fail(f"removal {key} recorded {n} times")
    from workers.compute import ACTIONS
    expected = {(c["container_uuid"], c["request_id"], ACTIONS[c["type"]][0])
                for c in commands if c["type"] in ACTIONS}
    expected |= {k[:3] for k in history.starts}
    expected |= {(u, r, "delete") for (u, r) in history.removed}
    rows = db.query("SELECT container_uuid, request_id, action FROM container_actions")
    got = Counter((r["container_uuid"], r["request_id"], r["action"]) for r in rows)
    for key, n in got.items():
        if n > 1:
            report.fail(f"action row {key} appears {n} times")
    for key in expected - set(got):
        report.fail(f"action {key} missing from the read model")
    for key in set(got) - expected:
        report.fail(f"action row {key} has no command or event behind it")
    report.outcomes["action rows"] = len(rows)
    return report


def check_docker(db, host: str) -> Report:
    """Docker holds exactly the containers the read model says exist, in their state."""
    from workers.docker_driver import observe
    report = Report()
    live = {r["uuid"]: json.loads(r["doc"]) for r in db.query(
        "SELECT uuid, doc FROM containers WHERE removed=0")}
    found: dict[str, list] = defaultdict(list)
    for c in docker_client().containers.list(all=True, filters={"label": f"zun.host={host}"}):
        found[c.labels.get("zun.uuid")].append(c)
    for uuid, cs in found.items():
        if len(cs) > 1:
            report.fail(f"{uuid}: {len(cs)} Docker containers")
        if uuid not in live:
            report.fail(f"orphan Docker container {cs[0].name} ({cs[0].status})")
    for uuid, doc in live.items():
        cs = found.get(uuid)
        if not cs:
            if doc["status"] != "Error":
                report.fail(f"{uuid} is {doc['status']} in the read model, absent from Docker")
            else:
                report.outcomes["Error without a Docker container"] += 1
            continue
        obs = observe(cs[0].attrs)
        if (obs.status, obs.container_id) != (doc["status"], doc.get("container_id")):
            report.fail(f"{uuid}: read model {doc['status']} {doc.get('container_id')}, "
                        f"Docker {obs.status} {obs.container_id}")
        if doc.get("task_state"):
            report.fail(f"{uuid}: task_state {doc['task_state']} left over")
    report.outcomes["containers in Docker"] = sum(len(c) for c in found.values())
    report.outcomes["containers in the read model"] = len(live)
    return report


def end_offsets(log, topic: str) -> dict[int, int]:
    reader = log.reader()
    try:
        reader.assign({(topic, p): 0 for p in log.partitions(topic)})
        return {p: off for (_, p), off in reader.end_offsets().items()}
    finally:
        reader.close()


def read_topic(log, topic: str) -> list[dict[str, Any]]:
    ends = end_offsets(log, topic)
    reader = log.reader()
    out = []
    try:
        reader.assign({(topic, p): 0 for p in ends})
        seen = {p: 0 for p in ends}
        deadline = time.monotonic() + 120
        while any(seen[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            for r in reader.poll(1.0):
                seen[r.partition] = r.offset + 1
                if r.offset < ends[r.partition]:
                    out.append(r.value)
    finally:
        reader.close()
    return out


def lagging(dep, log, store, db) -> list[str]:
    """What is still moving: the worker, the relay or the projector behind the logs."""
    out = []
    commands, events = f"{dep.name}.commands", f"{dep.name}.events"
    for p, end in end_offsets(log, commands).items():
        last = store.recorder.max_tracking_id(f"{commands}:{p}")
        if end and (last is None or last + 1 < end):
            out.append(f"worker at {commands}:{p} {last} < {end - 1}")
    top = store.recorder.max_notification_id() or 0
    relayed = store.recorder.max_tracking_id("relay:events") or 0
    if relayed < top:
        out.append(f"relay at {relayed} < {top}")
    projected = {(r["topic"], r["partition"]): r["next_offset"] for r in db.query(
        "SELECT topic, partition, next_offset FROM projection_offsets")}
    for topic in (commands, events):
        for p, end in end_offsets(log, topic).items():
            if projected.get((topic, p), 0) < end:
                out.append(f"projector at {topic}:{p} {projected.get((topic, p), 0)} < {end}")
    busy = db.query("SELECT uuid, task_state FROM containers WHERE removed=0 AND "
                    "task_state IS NOT NULL")
    out += [f"{r['uuid']} still {r['task_state']}" for r in busy]
    return out
