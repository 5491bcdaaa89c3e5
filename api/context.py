"""The caller: who asks (project, user, roles), under which request id and microversion."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .versions import MIN_VERSION, Version

DEFAULT_PROJECT = "default-project"
DEFAULT_USER = "default-user"


@dataclass
class RequestContext:
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")
    project_id: str = DEFAULT_PROJECT
    user_id: str = DEFAULT_USER
    roles: tuple[str, ...] = ("member",)
    version: Version = MIN_VERSION
    authenticated: bool = False

    @property
    def is_admin(self) -> bool:
        return "admin" in {r.lower() for r in self.roles}

    def creds(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "user_id": self.user_id,
                "roles": list(self.roles), "is_admin": self.is_admin}

    def at_least(self, major: int, minor: int) -> bool:
        return self.version >= Version(major, minor)
