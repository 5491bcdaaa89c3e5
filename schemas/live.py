"""Query schemas of the live operations (Zun's query_param_logs, query_param_top,
query_param_execute_command, query_param_execute_resize, query_param_resize). Zun
validates these as query parameters, so errors read "Invalid input for query
parameters ..."; every schema refuses unknown parameters as Zun's does."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate

from . import parameter_types as pt
from .requests import ZunSchema

_EXTENDED_ENUM = [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
                  False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"]
SINCE_PATTERN = re.compile(r"^(?:[0-9]*|[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2},"
                           r"[0-9]{1,3})$")
PS_ARGS_PATTERN = re.compile(r"^[a-zA-Z- ,+]*$")
EXEC_ID_PATTERN = re.compile(r"^[a-f0-9]{64}$")
NO_MATCH = "{input!r} does not match '{regex}'"


class ExtendedBoolean(fields.Field):
    """Zun's `boolean_extended`: yes/no/on/off/1/0 in any of their usual spellings."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        try:
            return pt.parse_extended_bool(value, attr or "")
        except ValidationError:
            raise ValidationError(f"{value!r} is not one of {_EXTENDED_ENUM!r}") from None


class PositiveInteger(pt._Bounded):
    """Zun's `positive_integer`; Docker's terminal sizes are 16-bit."""
    minimum, maximum = 1, 65535

    def convert(self, value: Any) -> int:
        return int(float(value))


class Logs(ZunSchema):
    stdout = ExtendedBoolean()
    stderr = ExtendedBoolean()
    timestamps = ExtendedBoolean()
    tail = fields.String(allow_none=True)
    since = fields.String(allow_none=True, validate=validate.Regexp(
        SINCE_PATTERN, error=NO_MATCH))


class Top(ZunSchema):
    ps_args = fields.String(allow_none=True, validate=validate.Regexp(
        PS_ARGS_PATTERN, error=NO_MATCH))


class Execute(ZunSchema):
    command = fields.String(required=True, validate=validate.Length(
        min=1, error="{input!r} is too short"))
    run = pt.ZunBoolean()
    interactive = pt.ZunBoolean()


class ExecuteResize(ZunSchema):
    exec_id = fields.String(required=True, validate=validate.Regexp(
        EXEC_ID_PATTERN, error=NO_MATCH))
    h = PositiveInteger(required=True)
    w = PositiveInteger(required=True)


class Resize(ZunSchema):
    h = PositiveInteger(required=True)
    w = PositiveInteger(required=True)
