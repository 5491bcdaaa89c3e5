"""The wire contracts on the log: command and event envelopes, with their schema
versions and the upcasters that read old versions as the current one."""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import INCLUDE, Schema, fields, validate

from commands.envelope import COMMAND_VERSION

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


#: (event type, from version) -> function returning the event at version + 1
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def upcast_event(event: dict[str, Any]) -> dict[str, Any]:
    while (event["type"], event.get("v", 1)) in UPCASTERS:
        event = UPCASTERS[(event["type"], event.get("v", 1))](event)
    return event
