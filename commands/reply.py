"""A worker's answer to a live command (logs, top, exec, archives...), appended to the
replies topic keyed by the request id of the command it answers.

`status` is the HTTP status the API returns; `error` is {"code", "message"} in Zun's
terms (code without the `container.` prefix) or None."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

REPLY_VERSION = 1


@dataclass(frozen=True)
class Reply:
    request_id: str
    status: int
    body: Any = None
    error: dict[str, str] | None = None
    v: int = REPLY_VERSION

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "reply", **asdict(self)}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Reply":
        return cls(request_id=wire["request_id"], status=int(wire["status"]),
                   body=wire.get("body"), error=wire.get("error"), v=wire.get("v", 1))

    @classmethod
    def failure(cls, request_id: str, status: int, code: str, message: str) -> "Reply":
        return cls(request_id, status, None, {"code": code, "message": message})
