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

    class ActionEventFinished(Aggregate.Event):
        """Version 2 adds `message`, the action's message when this event finishes it
        (Zun's "Error" for a failed action), so that readers need not derive it."""
        class_version = 2
        request_id: str
        action: str
        event: str
        finish_time: str
        result: str
        traceback: str | None
        finish_action: bool
        message: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["message"] = action_message(state["result"], state["finish_action"])

    def action_event_finished(self, request_id: str, action: str, event: str, finish_time: str,
                              result: str, traceback: str | None, finish_action: bool,
                              message: str | None = None) -> None:
        """`message` defaults to Zun's: "Error" when a failed event finishes the action."""
        self._action_event_finished(
            request_id=request_id, action=action, event=event, finish_time=finish_time,
            result=result, traceback=traceback, finish_action=finish_action,
            message=message if message is not None else action_message(result, finish_action))

    @event(ActionEventFinished)
    def _action_event_finished(self, request_id: str, action: str, event: str, finish_time: str,
                               result: str, traceback: str | None, finish_action: bool,
                               message: str | None) -> None:
        if finish_action:
            self.open_actions.pop(request_id, None)

    @event("Removed")
    def remove(self, request_id: str) -> None:
        self.removed = True
        self.doc["status"] = DELETED

    @event("Answered")
    def answered(self, request_id: str, command: str, result: str, reason: str | None,
                 message: str | None, data: dict[str, Any]) -> None:
        """The outcome a synchronous request waits for (PATCH, commit, networks):
        `reason` names what went wrong (invalid, not-found, state, conflict, failed)."""


def action_message(result: str, finish_action: bool) -> str | None:
    """What a version 1 ActionEventFinished meant for its action's message."""
    return "Error" if finish_action and result == "Error" else None


EVENT_TYPES = {cls.__name__: cls for cls in (
    Container.Registered, Container.Updated, Container.ActionEventStarted,
    Container.ActionEventFinished, Container.Removed, Container.Answered)}


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
