"""Commands as they travel on the log: a type, a schema version and the caller's context.

The wire form is the contract between the API, the workers and the projections; its
marshmallow schema is schemas/envelopes.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

COMMAND_VERSION = 1


def utcnow() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Command:
    type: str
    container_uuid: str
    request_id: str
    project_id: str
    user_id: str
    params: dict[str, Any] = field(default_factory=dict)
    is_admin: bool = False
    host: str = ""
    issued_at: str = field(default_factory=utcnow)
    v: int = COMMAND_VERSION

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "command", **asdict(self)}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Command":
        data = {k: v for k, v in wire.items() if k != "kind"}
        return cls(**data)
