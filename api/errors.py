"""One exception class per Zun error code, and the one place that renders Zun's error
body: {"errors": [{"request_id": "", "code": "container.<kebab>", "status", "title",
"detail", "links": []}]}."""
from __future__ import annotations

import re
from typing import Any


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class ZunError(Exception):
    status = 500
    code: str | None = None  # default: the class name in kebab case

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}

    @property
    def error_code(self) -> str:
        return "container." + (self.code if self.code is not None else kebab(type(self).__name__))

    def body(self) -> dict[str, Any]:
        item = {"request_id": "", "code": self.error_code, "status": self.status,
                "title": self.message, "detail": self.message, "links": []}
        item.update(self.extra)
        return {"errors": [item]}


class Invalid(ZunError):
    status = 400


class SchemaValidationError(Invalid):
    pass


class InvalidValue(Invalid):
    pass


class InvalidParamInVersion(Invalid):
    pass


class NoInteractiveFlag(Invalid):
    pass


class Base64Exception(Invalid):
    pass


class NotAuthenticated(ZunError):
    status = 401
    code = ""


class PolicyNotAuthorized(ZunError):
    status = 403


class OverQuota(ZunError):
    status = 403


class InvalidWebsocketToken(ZunError):
    status = 403


class ContainerNotFound(ZunError):
    status = 404


class ResourceNotFound(ZunError):
    status = 404


class HTTPNotFound(ZunError):
    status = 404
    code = ""


class MethodNotAllowed(ZunError):
    status = 405
    code = ""


class NotAcceptable(ZunError):
    status = 406
    code = ""


class InvalidStateException(ZunError):
    status = 409


class Conflict(ZunError):
    status = 409


class RequestEntityTooLarge(ZunError):
    status = 413
    code = ""


class UnsupportedMediaType(ZunError):
    status = 415
    code = ""


class ServiceUnavailable(ZunError):
    status = 503
    code = ""


class GatewayTimeout(ZunError):
    status = 504
    code = ""


class InternalError(ZunError):
    status = 500
    code = ""


class NetworkNotFound(ZunError):
    status = 404


class DockerError(ZunError):
    """Docker failed a synchronous request (Zun's DockerError); the message is Docker's."""
    status = 500
