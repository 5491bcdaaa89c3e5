"""The event relay: publishes the event store's notifications to the `events` topic in
notification order, keyed by container uuid. Its position is a tracking record in the
event store written after Kafka acknowledged, so a crash repeats at most the last batch;
projections drop the repeats by aggregate version. With PostgreSQL one relay per store
holds an advisory lock; the others stand by."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

from commands.aggregate import event_to_wire
from commands.log import CommandLog
from commands.store import ContainerStore, Tracking

log = logging.getLogger(__name__)

RELAY_TRACKING = "relay:events"
BATCH = 200


class Relay:
    def __init__(self, store: ContainerStore, log_: CommandLog, topic: str,
                 database_url: str = "", write_timeout: float = 10.0):
        self.store, self.log, self.topic = store, log_, topic
        self.database_url = database_url
        self.write_timeout = write_timeout
        self.wakeup = threading.Event()

    def relay_once(self) -> int:
        last = self.store.recorder.max_tracking_id(RELAY_TRACKING)
        notifications = self.store.recorder.select_notifications(start=(last or 0) + 1,
                                                                 limit=BATCH)
        wires = [event_to_wire(self.store.mapper.to_domain_event(n), n.id) for n in notifications]
        if wires:
            self.log.append_many(self.topic, [(w["container_uuid"], w) for w in wires],
                                 timeout=self.write_timeout)
            self.store.recorder.insert_tracking(Tracking(RELAY_TRACKING, notifications[-1].id))
        return len(notifications)

    def run(self, stopping: threading.Event) -> None:
        backoff = 0.2
        while not stopping.is_set():
            try:
                with self._leadership(stopping):
                    while not stopping.is_set():
                        if self.relay_once() < BATCH:
                            self.wakeup.wait(0.2)
                            self.wakeup.clear()
                        backoff = 0.2
            except Exception as e:
                log.warning("relay failed (%s); resuming in %.1fs", e, backoff)
                stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    @contextmanager
    def _leadership(self, stopping: threading.Event) -> Iterator[None]:
        if not self.database_url:
            yield
            return
        import psycopg
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            key = 0x7A756E  # "zun"
            while not stopping.is_set():
                if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                    break
                stopping.wait(1.0)
            try:
                yield
            finally:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
