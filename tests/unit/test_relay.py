"""The event relay resumes after a crash without gaps or reordering per container: it
publishes notifications in order and records its position only after the log has
acknowledged, so a crash at any point repeats at most the last batch, never skips one."""
from __future__ import annotations

import uuid as uuidlib

import pytest

from commands.embedded_log import EmbeddedLog
from commands.envelope import Command
from commands.store import ContainerStore, Tracking, store_env
from workers import relay as relay_module
from workers.compute import ComputeWorker
from workers.relay import Relay

from .test_outcomes import FakeEngine

TOPIC = "zun.events"


class Crash(Exception):
    pass


class FlakyLog(EmbeddedLog):
    """Appends, then dies before the caller hears back (acknowledged but unrecorded)."""
    crash_after_append = 0

    def append_many(self, topic, items, timeout=10.0):
        records = super().append_many(topic, items, timeout)
        if self.crash_after_append:
            self.crash_after_append -= 1
            raise Crash("relay killed after Kafka acknowledged")
        return records


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setattr(relay_module, "BATCH", 7)  # several batches per history
    store = ContainerStore(env=store_env("", str(tmp_path)))
    worker = ComputeWorker(store, FakeEngine(), "h1")
    log = FlakyLog(tmp_path / "log.sqlite", partitions=3)
    log.ensure_topics([TOPIC])
    offset = 0
    for n in range(4):
        uuid = f"{n}aaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
        for ctype in ("create", "stop", "start", "pause", "unpause"):
            params = {"container": {"uuid": uuid, "name": "c", "image": "i", "status": "Creating"},
                      "run": True} if ctype == "create" else {}
            worker.handle(Command(type=ctype, container_uuid=uuid, request_id=f"r{offset}",
                                  project_id="p", user_id="u", params=params),
                          Tracking("c:0", offset))
            offset += 1
    return store, log


def published(log) -> list[dict]:
    reader = log.reader()
    reader.assign({(TOPIC, p): 0 for p in log.partitions(TOPIC)})
    out = []
    while True:
        batch = reader.poll(0.1)
        if not batch:
            return out
        out += [r.value for r in batch]


def test_a_relay_killed_anywhere_neither_skips_nor_reorders(setup):
    store, log = setup
    total = store.recorder.max_notification_id()
    relay = Relay(store, log, TOPIC)
    crashes = 0
    while (store.recorder.max_tracking_id("relay:events") or 0) < total:
        log.crash_after_append = 1 if crashes < 3 else 0
        try:
            relay.relay_once()
        except Crash:
            crashes += 1
        relay = Relay(store, log, TOPIC)  # a new process resumes from the tracking record
    assert crashes == 3
    records = published(log)
    assert len(records) > total  # the repeated batches
    by_container: dict[str, list[int]] = {}
    for r in records:
        by_container.setdefault(r["container_uuid"], []).append(r["version"])
    for uuid, versions in by_container.items():
        seen, first_seen = 0, []
        for v in versions:
            assert v <= seen + 1, f"{uuid}: version {v} after {seen} (a gap)"
            if v == seen + 1:
                seen = v
                first_seen.append(v)
        stored = list(store.events.get(uuidlib.UUID(uuid)))
        assert first_seen == list(range(1, len(stored) + 1))
    notification_ids = sorted({r["notification_id"] for r in records})
    assert notification_ids == [n.id for n in store.recorder.select_notifications(1, 1000)]
