"""The event store of the Container aggregates (eventsourcing), with its process
recorder: a command's events and the tracking record of the log offset it came from are
written in ONE transaction, so a redelivered command is recognised and applied once."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import unquote, urlparse

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.projection import EventSourcedProjection

from .aggregate import Container

__all__ = ["ContainerStore", "IntegrityError", "Tracking", "store_env"]


def store_env(database_url: str, data_dir: str) -> dict[str, str]:
    if not database_url:
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": f"{data_dir}/events.sqlite", "SQLITE_LOCK_TIMEOUT": "30"}
    u = urlparse(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": u.path.lstrip("/"),
        "POSTGRES_HOST": u.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(u.port or 5432),
        "POSTGRES_USER": unquote(u.username or ""),
        "POSTGRES_PASSWORD": unquote(u.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
        "POSTGRES_LOCK_TIMEOUT": "10",
    }


class ContainerStore(EventSourcedProjection):
    """`process(tracking, decide)` runs `decide(processing_event)` and records what it
    collected together with `tracking`; IntegrityError means: already processed."""

    name = "containers"
    snapshotting_intervals = {Container: 50}

    def process(self, tracking: Tracking, decide: Callable[[ProcessingEvent], Any]) -> Any:
        processing_event = ProcessingEvent(tracking=tracking)
        result = decide(processing_event)
        self._record(processing_event)
        self._take_snapshots(processing_event)
        return result

    def get(self, uuid: str) -> Container | None:
        try:
            return self.repository.get(UUID(uuid))
        except AggregateNotFoundError:
            return None
