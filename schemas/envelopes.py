"""The wire contracts on the log: command and event envelopes, with their schema
versions and the upcasters that read old versions as the current one."""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import INCLUDE, Schema, fields, validate

from commands.envelope import COMMAND_VERSION
from commands.reply import REPLY_VERSION

EVENT_VERSION = 1


class CommandEnvelope(Schema):
    class Meta:
        unknown = INCLUDE

    kind = fields.String(required=True, validate=validate.Equal("command"))
    v = fields.Integer(required=True, validate=validate.Range(min=1, max=COMMAND_VERSION))
    type = fields.String(required=True)
    container_uuid = fields.String(required=True)
    request_id = fields.String(required=True)
    project_id = fields.String(required=True)
    user_id = fields.String(required=True)
    is_admin = fields.Boolean(required=True)
    host = fields.String(required=True)
    issued_at = fields.String(required=True)
    params = fields.Dict(required=True)


class ReplyEnvelope(Schema):
    """A worker's answer to a live command (commands/reply.py), on the replies topic."""
    class Meta:
        unknown = INCLUDE

    kind = fields.String(required=True, validate=validate.Equal("reply"))
    v = fields.Integer(required=True, validate=validate.Range(min=1, max=REPLY_VERSION))
    request_id = fields.String(required=True)
    status = fields.Integer(required=True, validate=validate.Range(min=100, max=599))
    body = fields.Raw(allow_none=True)
    error = fields.Dict(allow_none=True)


class PartEnvelope(Schema):
    """One part of a command or reply too large for one record (commands/parts.py)."""
    class Meta:
        unknown = INCLUDE

    kind = fields.String(required=True, validate=validate.Equal("part"))
    of = fields.String(required=True)
    request_id = fields.String(required=True)
    index = fields.Integer(required=True, validate=validate.Range(min=0))
    count = fields.Integer(required=True, validate=validate.Range(min=1))
    text = fields.String(required=True)


class EventEnvelope(Schema):
    class Meta:
        unknown = INCLUDE

    kind = fields.String(required=True, validate=validate.Equal("event"))
    v = fields.Integer(required=True, validate=validate.Range(min=1))
    type = fields.String(required=True)
    container_uuid = fields.String(required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    timestamp = fields.String(required=True)
    notification_id = fields.Integer(required=True)
    data = fields.Dict(required=True)


def _action_event_finished_v1_v2(event: dict[str, Any]) -> dict[str, Any]:
    """v2 carries the action's `message` (commands/aggregate.py ActionEventFinished)."""
    from commands.aggregate import action_message
    data = dict(event["data"])
    data["message"] = action_message(data["result"], data["finish_action"])
    return {**event, "v": 2, "data": data}


#: (event type, from version) -> function returning the event at version + 1. The event
#: store upcasts its stored events the same way (the event classes' upcast_vN_vN+1); these
#: read the events already on the `events` topic, which stay there at their old version.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("ActionEventFinished", 1): _action_event_finished_v1_v2,
}

#: the newest version of each event type; types not named here are at version 1
EVENT_VERSIONS = {"ActionEventFinished": 2}


def upcast_event(event: dict[str, Any]) -> dict[str, Any]:
    while (event["type"], event.get("v", 1)) in UPCASTERS:
        event = UPCASTERS[(event["type"], event.get("v", 1))](event)
    return event
