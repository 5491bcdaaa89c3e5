"""Consumer lanes: one thread per (topic, partition), each reading from the position its
consumer has recorded in its own database. A lane retries the same record until its
handler succeeds, so a transient outage (Docker, database) delays, never skips."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from commands.log import CommandLog, Record, close_quietly

log = logging.getLogger(__name__)

BACKOFF_MAX = 5.0


class Lane(threading.Thread):
    def __init__(self, log_: CommandLog, topic: str, partition: int,
                 position: Callable[[str, int], int], handle: Callable[[Record], None],
                 stopping: threading.Event):
        super().__init__(name=f"lane-{topic}-{partition}", daemon=True)
        self.log = log_
        self.topic, self.partition = topic, partition
        self.position, self.handle = position, handle
        self.stopping = stopping

    def run(self) -> None:
        backoff = 0.2
        while not self.stopping.is_set():
            reader = None
            try:
                reader = self.log.reader()
                reader.assign({(self.topic, self.partition): self.position(self.topic, self.partition)})
                while not self.stopping.is_set():
                    for record in reader.poll(0.5):
                        self.handle(record)
                        backoff = 0.2
            except Exception:
                log.exception("lane %s:%s failed; resuming from the recorded position",
                              self.topic, self.partition)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            finally:
                close_quietly(reader)


def start_lanes(log_: CommandLog, topic: str, partitions: list[int],
                position: Callable[[str, int], int], handle: Callable[[Record], None],
                stopping: threading.Event) -> list[Lane]:
    lanes = [Lane(log_, topic, p, position, handle, stopping) for p in partitions]
    for lane in lanes:
        lane.start()
    return lanes


def retry_forever(fn: Callable[[], object], stopping: threading.Event, what: str) -> None:
    """Call fn until it returns or the process stops, backing off between failures."""
    backoff = 0.2
    while not stopping.is_set():
        try:
            fn()
            return
        except Exception as e:
            log.warning("%s failed (%s); retrying in %.1fs", what, e, backoff)
            stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
    time.sleep(0)
