"""Builds the adapters from Settings: the Kafka or embedded log, the PostgreSQL or
SQLite stores. Entry points stay thin and ask this module for their parts."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from commands.log import CommandLog
from projections.db import Database, connect
from projections.readmodel import ReadModel

from .settings import Settings

TOPIC_KINDS = ("commands", "events", "replies", "live")

_embedded_logs: dict[str, CommandLog] = {}
_embedded_lock = threading.Lock()


@dataclass
class Bootstrap:
    settings: Settings
    _closers: list = field(default_factory=list)

    @cached_property
    def log(self) -> CommandLog:
        s = self.settings
        if s.embedded:
            from commands.embedded_log import EmbeddedLog
            path = str(s.data_dir / "log.sqlite")
            with _embedded_lock:  # one log object per file in a process
                if path not in _embedded_logs:
                    _embedded_logs[path] = EmbeddedLog(s.data_dir / "log.sqlite", s.partitions)
                return _embedded_logs[path]
        from commands.kafka_log import KafkaLog
        log = KafkaLog(s.kafka_bootstrap, s.partitions, write_timeout=s.write_timeout)
        self._closers.append(log.close)
        return log

    @cached_property
    def db(self) -> Database:
        db = connect(self.settings.database_url, self.settings.data_dir)
        self._closers.append(db.close)
        return db

    @cached_property
    def read_model(self) -> ReadModel:
        return ReadModel(self.db)

    @cached_property
    def store(self):
        from commands.store import ContainerStore, store_env
        return ContainerStore(env=store_env(self.settings.database_url,
                                            str(self.settings.data_dir)))

    def topic(self, kind: str) -> str:
        return self.settings.topic(kind)

    def ensure_topics(self, patience: float = 120.0) -> None:
        """Retried with backoff for `patience` seconds: a role restarted while Kafka is
        restarting waits for it instead of exiting."""
        import logging
        import time
        deadline, backoff = time.monotonic() + patience, 0.5
        while True:
            try:
                self.log.ensure_topics(self.topic(k) for k in TOPIC_KINDS)
                return
            except Exception as e:
                if time.monotonic() + backoff > deadline:
                    raise
                logging.getLogger(__name__).warning("topics not ready (%s); retrying", e)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def consumed_partitions(self, topic: str) -> list[int]:
        all_parts = self.log.partitions(topic)
        chosen = self.settings.consume_partitions
        return [p for p in all_parts if not chosen or p in chosen]

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                pass
