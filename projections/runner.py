"""The `projector` role: reads the commands and events topics and applies each batch
with its offsets in one read-model transaction."""
from __future__ import annotations

import logging
import threading

from commands.log import close_quietly
from zun_cqrs.bootstrap import Bootstrap

from .projector import positions, project_batch
from .schema import create_schema

log = logging.getLogger(__name__)


class ProjectorService:
    def __init__(self, boot: Bootstrap):
        self.boot = boot

    def run(self, stopping: threading.Event) -> None:
        backoff = 0.2
        topics = (self.boot.topic("commands"), self.boot.topic("events"))
        while not stopping.is_set():
            reader = None
            try:
                create_schema(self.boot.db)
                reader = self.boot.log.reader()
                start: dict[tuple[str, int], int] = {}
                for t in topics:
                    start.update(positions(self.boot.db, t, self.boot.consumed_partitions(t)))
                reader.assign(start)
                while not stopping.is_set():
                    records = reader.poll(0.5)
                    if records:
                        project_batch(self.boot.db, records)
                    backoff = 0.2
            except Exception as e:
                log.warning("projector failed (%s); resuming from stored offsets in %.1fs",
                            e, backoff)
                stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                close_quietly(reader)

    def start(self, stopping: threading.Event) -> threading.Thread:
        t = threading.Thread(target=self.run, args=(stopping,), name="projector", daemon=True)
        t.start()
        return t
