"""The Container aggregate: the authoritative state of one container, rebuilt from its
events. Event bodies are pure and deterministic (they run again on every replay); the
worker decides, calls Docker, then records what happened through these methods."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from .states import DELETED


class Container(Aggregate):
    @staticmethod
    def create_id(doc: dict[str, Any]) -> UUID:
        return UUID(doc["uuid"])

    @event("Registered")
    def __init__(self, doc: dict[str, Any]):
        self.doc = dict(doc)
        self.removed = False
        self.open_actions: dict[str, str] = {}

    @property
    def status(self) -> str:
        return self.doc.get("status", "")

    @property
    def uuid(self) -> str:
        return self.doc["uuid"]

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        self.doc.update(changes)

    @event("ActionEventStarted")
    def action_event_started(self, request_id: str, action: str, event: str, start_time: str,
                             user_id: str, project_id: str) -> None:
        self.open_actions[request_id] = action

    @event("ActionEventFinished")
    def action_event_finished(self, request_id: str, action: str, event: str, finish_time: str,
                              result: str, traceback: str | None, finish_action: bool) -> None:
        if finish_action:
            self.open_actions.pop(request_id, None)

    @event("Removed")
    def remove(self, request_id: str) -> None:
        self.removed = True
        self.doc["status"] = DELETED


EVENT_TYPES = {cls.__name__: cls for cls in (
    Container.Registered, Container.Updated, Container.ActionEventStarted,
    Container.ActionEventFinished, Container.Removed)}


def event_to_wire(domain_event: Aggregate.Event, notification_id: int) -> dict[str, Any]:
    """The form of a stored event on the `events` topic (schemas/envelopes.py)."""
    body = {k: v for k, v in domain_event.__dict__.items()
            if k not in ("originator_id", "originator_version", "timestamp",
                         "originator_topic")}
    return {
        "kind": "event",
        "type": type(domain_event).__name__,
        "v": getattr(type(domain_event), "class_version", 1),
        "container_uuid": str(domain_event.originator_id),
        "version": domain_event.originator_version,
        "timestamp": domain_event.timestamp.isoformat(),
        "notification_id": notification_id,
        "data": body,
    }
