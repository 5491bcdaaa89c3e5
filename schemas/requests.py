"""Request schemas per microversion (zun/api/controllers/v1/schemas/containers.py) as
marshmallow schemas, and the translation of their errors into Zun's messages."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import (EXCLUDE, RAISE, Schema, ValidationError, fields, validate,
                         validates_schema)

from . import parameter_types as pt


def no_nul(value: str) -> None:
    """Zun's image pattern is unanchored; a NUL would still reach a database column and
    Docker, which can take neither."""
    if "\x00" in value:
        raise ValidationError(f"{value!r} contains a NUL character")


class ZunSchema(Schema):
    class Meta:
        unknown = RAISE

    #: field name -> first microversion that accepts it (checked before loading)
    MIN_VERSIONS: dict[str, tuple[int, int]] = {}
    #: field name -> last microversion that accepts it
    MAX_VERSIONS: dict[str, tuple[int, int]] = {}
    #: field name -> first microversion of a parameter Zun checks with version_check
    #: after validation (400 InvalidParamInVersion rather than a schema error)
    PARAM_VERSIONS: dict[str, tuple[int, int]] = {}
    REQUIRED_MESSAGE = "'{}' is a required property"


class RestartPolicy(Schema):
    class Meta:
        unknown = RAISE

    Name = fields.String(required=True, validate=validate.OneOf(
        ["no", "always", "on-failure", "unless-stopped"]))
    MaximumRetryCount = pt.NonNegativeIntOrString(allow_none=True)


class Mount(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(validate=validate.OneOf(["volume", "bind"]))
    source = fields.String(allow_none=True)
    destination = fields.String(required=True)
    size = pt.NonNegativeIntOrString(allow_none=True)


class Net(Schema):
    class Meta:
        unknown = RAISE

    network = fields.String(validate=validate.Length(1, 255))
    port = fields.String(validate=validate.Length(1, 255))
    v4_fixed_ip = pt.IPAddress(4, data_key="v4-fixed-ip", attribute="v4-fixed-ip")
    v6_fixed_ip = pt.IPAddress(6, data_key="v6-fixed-ip", attribute="v6-fixed-ip")

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Zun's `oneOf: required network / required port`."""
        given = [k for k in ("network", "port") if k in data]
        if len(given) != 1:
            verb = "is not valid under any" if not given else "is valid under each"
            raise ValidationError(f"{_repr(data)} {verb} of the given schemas", "_schema")


class Healthcheck(Schema):
    class Meta:
        unknown = RAISE

    cmd = fields.String(allow_none=True)
    test = fields.Raw(allow_none=True)
    interval = fields.Float(allow_none=True, validate=validate.Range(min=0))
    retries = fields.Integer(allow_none=True, validate=validate.Range(min=0))
    timeout = fields.Float(allow_none=True, validate=validate.Range(min=0))
    start_period = fields.Float(allow_none=True, validate=validate.Range(min=0))


class ContainerCreate(ZunSchema):
    """Create body; `command` is a list from 1.20 on (a string before, see LegacyCommand)."""

    image = fields.String(required=True, validate=[validate.Length(2, 255),
                                                   validate.Regexp(pt.IMAGE_PATTERN),
                                                   no_nul])
    name = pt.Name(allow_none=True)
    command = pt.Command(allow_none=True)
    cpu = pt.Cpu(allow_none=True)
    memory = pt.Memory(allow_none=True)
    disk = pt.Disk(allow_none=True)
    cpu_policy = fields.String(validate=validate.OneOf(["dedicated", "shared"]))
    workdir = fields.String(allow_none=True)
    auto_remove = fields.Boolean(allow_none=True, truthy={True}, falsy={False})
    image_pull_policy = fields.String(allow_none=True, validate=validate.OneOf(
        ["never", "always", "ifnotpresent", "Never", "Always", "IfNotPresent"]))
    labels = fields.Dict(keys=fields.String(), values=pt.StringValue(), allow_none=True)
    environment = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    restart_policy = fields.Nested(RestartPolicy, allow_none=True)
    interactive = pt.ZunBoolean()
    tty = pt.ZunBoolean()
    image_driver = fields.String(allow_none=True,
                                 validate=validate.OneOf(["glance", "docker", "None"]))
    security_groups = fields.List(fields.String(validate=validate.Length(1, 255)),
                                  allow_none=True)
    hints = fields.Dict(allow_none=True)
    mounts = fields.List(fields.Nested(Mount), allow_none=True)
    nets = fields.List(fields.Nested(Net), allow_none=True)
    runtime = fields.String(allow_none=True)
    hostname = fields.String(validate=[validate.Length(1, 255),
                                       validate.Regexp(r"^[a-zA-Z0-9-._]*$")])
    availability_zone = fields.String(allow_none=True, validate=validate.Length(1, 255))
    auto_heal = pt.ZunBoolean()
    privileged = pt.ZunBoolean()
    healthcheck = fields.Nested(Healthcheck, allow_none=True)
    exposed_ports = fields.Dict(keys=fields.String(), values=fields.Dict(), allow_none=True)
    registry = fields.String(validate=[validate.Length(2, 255),
                                       validate.Regexp(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")])
    host = fields.String(validate=[validate.Length(1, 255),
                                   validate.Regexp(r"^[a-zA-Z0-9-._]*$")])
    entrypoint = fields.List(fields.String(), allow_none=True)

    MIN_VERSIONS = {"host": (1, 39), "entrypoint": (1, 40)}
    PARAM_VERSIONS = {"auto_remove": (1, 3), "runtime": (1, 5), "hostname": (1, 9),
                      "mounts": (1, 11), "privileged": (1, 21), "healthcheck": (1, 22),
                      "exposed_ports": (1, 24), "registry": (1, 31)}


class LegacyContainerCreate(ContainerCreate):
    """1.1–1.19: `command` is a string, split like a shell would."""
    command = pt.LegacyCommand(allow_none=True)


class Rebuild(ZunSchema):
    """Zun's rebuild has no schema (other keys are ignored); the image is checked as on
    create so that a bad one is a 400 rather than a failed rebuild."""
    class Meta:
        unknown = EXCLUDE

    image = fields.String(validate=[validate.Length(2, 255), validate.Regexp(pt.IMAGE_PATTERN),
                                    no_nul])


class Commit(ZunSchema):
    """query_param_commit (query string or form only, as Zun's validate_query_param)."""
    repository = fields.String(required=True, validate=validate.Regexp(r"[a-zA-Z- ,+]*"))
    tag = fields.String(validate=validate.Regexp(r"[a-zA-Z- ,+]*"))


class ContainerUpdate(ZunSchema):
    cpu = pt.Cpu(allow_none=True)
    memory = pt.Memory(allow_none=True)
    name = pt.Name(allow_none=True)
    auto_heal = pt.ZunBoolean()


class ResizeContainer(ZunSchema):
    cpu = pt.Cpu(allow_none=True)
    memory = pt.Memory(allow_none=True)


class Kill(ZunSchema):
    signal = fields.String(allow_none=True)


class Rename(ZunSchema):
    name = pt.Name(required=True)


class NetworkAttach(ZunSchema):
    """network_attach: `not required [port, network]` (at most one of them)."""
    network = fields.String(validate=validate.Length(1, 255))
    port = fields.String(validate=validate.Length(1, 255))
    fixed_ip = pt.IPAddress(None)

    @validates_schema
    def _not_both(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "network" in data and "port" in data:
            raise ValidationError(
                f"{{'required': ['port', 'network']}} is not allowed for {_repr(data)}",
                "_schema")


class NetworkDetach(ZunSchema):
    """network_detach: `oneOf required network / required port`."""
    network = fields.String(validate=validate.Length(1, 255))
    port = fields.String(validate=validate.Length(1, 255))

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [k for k in ("network", "port") if k in data]
        if not given:
            raise ValidationError(f"{_repr(data)} is not valid under any of the given schemas",
                                  "_schema")
        if len(given) > 1:
            raise ValidationError(
                f"{_repr(data)} is valid under each of {{'required': ['network']}}, "
                "{'required': ['port']}", "_schema")


class SecurityGroup(ZunSchema):
    name = fields.String(required=True, validate=validate.Length(1, 255))


class QuotaLimit(pt._Bounded):
    """zun/api/controllers/v1/schemas/quotas.py common_quota: an integer (or a string of
    one) from -1 (unlimited); bounded above by the storage's integer."""
    minimum, maximum = -1, 2 ** 31 - 1
    pattern = re.compile(r"^-?[0-9]+$")

    def convert(self, value: Any) -> int:
        return int(float(value))


class QuotaUpdate(ZunSchema):
    """PUT /v1/quotas/{project_id} and /v1/quota_classes/{name} (query string or body)."""
    containers = QuotaLimit()
    memory = QuotaLimit()
    cpu = QuotaLimit()
    disk = QuotaLimit()


def load(schema: type[ZunSchema], data: Any, version: tuple[int, int] | None = None,
         where: str = "body") -> dict[str, Any]:
    """Validate `data`; raise SchemaError with Zun's message for the first problem."""
    if not isinstance(data, dict):
        raise SchemaError(f"{_repr(data)} is not of type 'object'")
    if version is not None:
        for key in data:
            low = schema.MIN_VERSIONS.get(key)
            high = schema.MAX_VERSIONS.get(key)
            if (low and version < low) or (high and version > high):
                raise SchemaError(f"Additional properties are not allowed ('{key}' was "
                                  "unexpected)")
    try:
        loaded = schema().load(data)
    except ValidationError as e:
        raise SchemaError(_message(e.normalized_messages(), data, where)) from e
    if version is not None:
        for key, low in schema.PARAM_VERSIONS.items():
            if version < low and loaded.get(key) not in (None, {}, [], ""):
                raise ParamVersionError(
                    f"Invalid param {key} because current request version is "
                    f"{version[0]}.{version[1]}. {key} is only supported from version "
                    f"{low[0]}.{low[1]}")
    return loaded


class SchemaError(Exception):
    pass


class ParamVersionError(SchemaError):
    """A valid parameter sent below its microversion (Zun's InvalidParamInVersion)."""


def _message(messages: dict[str, Any], data: dict[str, Any], where: str) -> str:
    unknown = sorted(k for k, v in messages.items() if v == ["Unknown field."])
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        return f"Additional properties are not allowed ({names} {verb} unexpected)"
    for key, errs in messages.items():
        if errs == ["Missing data for required field."]:
            return f"'{key}' is a required property"
    if "_schema" in messages:
        return _first(messages["_schema"])
    key = sorted(messages)[0]
    detail = _first(messages[key])
    value = data.get(key)
    if where == "query":
        return f"Invalid input for query parameters '{key}'. Value: '{value}'. {detail}"
    return f"Invalid input for field '{key}'.Value: '{_short(value)}'. {detail}"


def _first(errs: Any) -> str:
    if isinstance(errs, list):
        return str(errs[0]) if errs else ""
    if isinstance(errs, dict):
        k = sorted(errs, key=str)[0]
        inner = _first(errs[k])
        return inner if k == "_schema" or re.match(r"^\d+$", str(k)) else f"{k}: {inner}"
    return str(errs)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _repr(value: Any) -> str:
    return repr(value)
