"""`zun-cqrs replay` and `zun-cqrs verify` on both configurations (Kafka + PostgreSQL, and
the embedded log + SQLite): a rebuild from the logs holds the rows the live projection
holds, verify says so (exit 0) and names a difference when the live read model is
wrong (exit 1); and a replay across the version change of ActionEventFinished reads the
version 1 events already in the log as version 2."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path

import pytest

from commands.aggregate import Container, event_to_wire
from commands.envelope import Command
from projections.db import PostgresDatabase, SqliteDatabase
from projections.rebuild import compare, read_tables, with_search_path
from tests.support import KAFKA, ROOT, create_database, delete_topics, drop_database


@pytest.fixture(params=["kafka", "embedded"])
def dep(request):
    return request.getfixturevalue("deployment" if request.param == "kafka" else "embedded")


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zun_cqrs.cli", *args], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=300)


def live_db(dep):
    if dep.mode == "kafka":
        return PostgresDatabase(dep.database_url, maxconn=2)
    return SqliteDatabase(dep.data_dir / "readmodel.sqlite")


def target_db(dep, name: str):
    if dep.mode == "kafka":
        return PostgresDatabase(with_search_path(dep.database_url, name), maxconn=2)
    return SqliteDatabase(dep.data_dir / f"{name}.sqlite")


def rows_of(db, uuids: set[str]) -> dict:
    with db.transaction() as cur:
        tables = read_tables(cur)
    key = {"containers": "uuid"}
    return {t: [r for r in rows if r.get(key.get(t, "container_uuid")) in uuids]
            for t, rows in tables.items()}


def some_history(api) -> set[str]:
    a = api.create(run=True, name="replay-a")["uuid"]
    b = api.create(name="replay-b")["uuid"]
    api.wait_status(a, "Running")
    api.wait_status(b, "Created")
    assert api.post(f"/v1/containers/{a}/pause").status_code == 202
    assert api.post(f"/v1/containers/{b}/start").status_code == 202
    api.wait_status(a, "Paused")
    api.wait_status(b, "Running")
    assert api.post(f"/v1/containers/{a}/stop").status_code == 409
    return {a, b}


def test_replay_rebuilds_what_the_projection_holds(dep):
    uuids = some_history(dep.client())
    name = f"replay_{uuidlib.uuid4().hex[:8]}"
    done = cli(dep.env, "replay", "--into", name)
    assert done.returncode == 0, done.stderr
    assert "replay" in done.stderr and "100%" in done.stderr  # the progress bar
    live, rebuilt = live_db(dep), target_db(dep, name)
    try:
        result = compare(rows_of(live, uuids), rows_of(rebuilt, uuids))
        assert result.same, [str(d) for d in result.differences]
        assert result.rows["containers"] == 2 and result.rows["container_actions"] >= 4
    finally:
        live.close()
        rebuilt.close()


def test_verify_finds_no_difference_then_names_one(dep):
    uuids = some_history(dep.client())
    done = cli(dep.env, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("verify: no difference")

    victim = sorted(uuids)[0]
    live = live_db(dep)
    try:
        (row,) = live.query("SELECT doc, status FROM containers WHERE uuid=%s", (victim,))
        wrong = json.dumps({**json.loads(row["doc"]), "status": "Dead"}, sort_keys=True)
        with live.transaction() as cur:
            cur.execute("UPDATE containers SET doc=%s, status=%s WHERE uuid=%s",
                        (wrong, "Dead", victim))
        done = cli(dep.env, "verify", "--attempts", "2")
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"containers {victim}: changed" in done.stdout
        assert "doc.status: live 'Dead'" in done.stdout
    finally:
        with live.transaction() as cur:
            cur.execute("UPDATE containers SET doc=%s, status=%s WHERE uuid=%s",
                        (row["doc"], row["status"], victim))
        live.close()


# --- a replay across the version change -----------------------------------------------

def old_history() -> list[tuple[str, dict]]:
    """Two containers' commands and events as an older release wrote them: the first
    container's ActionEventFinished events are at version 1 (no `message`), the second's
    at version 2. Each: created and started, then a stop that fails."""
    out = []
    notification = 0
    for n, version in enumerate((1, 2)):
        uuid = str(uuidlib.uuid4())
        doc = {"uuid": uuid, "name": f"old-{n}", "image": "busybox", "status": "Creating",
               "project_id": "p", "user_id": "u", "created_at": f"2025-01-0{n + 1}T00:00:00.000000"}
        create = Command(type="create", container_uuid=uuid, request_id=f"req-c{n}",
                         project_id="p", user_id="u", params={"container": doc, "run": True},
                         issued_at=doc["created_at"])
        stop = Command(type="stop", container_uuid=uuid, request_id=f"req-s{n}", project_id="p",
                       user_id="u", issued_at=f"2025-01-0{n + 1}T00:01:00.000000")
        out += [("commands", create.to_wire()), ("commands", stop.to_wire())]
        c = Container({**doc, "host": "h"})
        for rid, action, event, result in (
                (f"req-c{n}", "create", "compute__do_container_start", "Success"),
                (f"req-s{n}", "stop", "compute__do_container_stop", "Error")):
            c.action_event_started(request_id=rid, action=action, event=event,
                                   start_time="2025-01-01T00:00:01.000000", user_id="u",
                                   project_id="p")
            c.update({"status": "Running", "task_state": None})
            c.action_event_finished(request_id=rid, action=action, event=event,
                                    finish_time="2025-01-01T00:00:02.000000", result=result,
                                    traceback="boom" if result == "Error" else None,
                                    finish_action=True)
        for e in c.collect_events():
            notification += 1
            wire = event_to_wire(e, notification)
            if version == 1 and wire["type"] == "ActionEventFinished":
                wire["v"] = 1
                del wire["data"]["message"]
            out.append(("events", wire))
    return out


@pytest.mark.parametrize("mode", ["kafka", "embedded"])
def test_replay_across_the_version_change(mode, tmp_path):
    import os
    prefix = f"v{uuidlib.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZUN_")}
    env.update(ZUN_TOPIC_PREFIX=f"{prefix}.", ZUN_DATA_DIR=str(tmp_path))
    if mode == "kafka":
        from commands.kafka_log import KafkaLog
        env.update(ZUN_KAFKA_BOOTSTRAP=KAFKA, ZUN_DATABASE_URL=create_database(prefix))
        log = KafkaLog(KAFKA)
    else:
        from commands.embedded_log import EmbeddedLog
        log = EmbeddedLog(Path(tmp_path) / "log.sqlite")
    try:
        log.ensure_topics([f"{prefix}.{k}" for k in ("commands", "events", "replies")])
        for kind, value in old_history():
            log.append(f"{prefix}.{kind}", value["container_uuid"], value)
        done = cli(env, "replay", "--into", "across")
        assert done.returncode == 0, done.stderr
        if mode == "kafka":
            db = PostgresDatabase(with_search_path(env["ZUN_DATABASE_URL"], "across"), maxconn=1)
        else:
            db = SqliteDatabase(Path(tmp_path) / "across.sqlite")
        actions = {(r["request_id"]): r for r in db.query(
            "SELECT request_id, action, finish_time, message FROM container_actions")}
        db.close()
        # the version 1 failure reads as version 2: its action carries the message
        assert [actions[f"req-s{n}"]["message"] for n in (0, 1)] == ["Error", "Error"]
        assert [actions[f"req-c{n}"]["message"] for n in (0, 1)] == [None, None]
        assert all(a["finish_time"] for a in actions.values())
        # promoted, the rebuild becomes the live read model, and verify agrees with it
        done = cli(env, "replay", "--into", "promoted", "--promote", "--drop")
        assert done.returncode == 0 and "promoted: containers 2 rows" in done.stdout, done.stderr
        done = cli(env, "verify")
        assert done.returncode == 0 and done.stdout.startswith("verify: no difference"), \
            done.stdout + done.stderr
    finally:
        log.close()
        if mode == "kafka":
            drop_database(prefix)
            delete_topics(f"{prefix}.")
