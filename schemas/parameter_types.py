"""Zun's parameter types (zun/api/controllers/v1/schemas/parameter_types.py) as
marshmallow fields: numbers that may come as strings, Zun's boolean spellings."""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from marshmallow import ValidationError, fields

IMAGE_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9_.-]"
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

MIN_CPU, MAX_CPU = 0.1, 16.0
MIN_MEMORY, MAX_MEMORY = 4, 8192
MIN_DISK, MAX_DISK = 1, 160

#: `boolean` in Zun's schemas
BOOLEAN_TRUE = {True, "True", "true"}
BOOLEAN_FALSE = {False, "False", "false"}
#: `boolean_extended` (query parameters such as run, force, stop, all_projects)
EXTENDED_TRUE = {True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes"}
EXTENDED_FALSE = {False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"}


def parse_extended_bool(value: Any, names: str) -> bool:
    if isinstance(value, (bool, str)) and value in EXTENDED_TRUE:
        return True
    if isinstance(value, (bool, str)) and value in EXTENDED_FALSE:
        return False
    raise ValidationError(f"Valid {names} values are: {EXTENDED_VALUES}")


EXTENDED_VALUES = ", ".join(str(v) for v in (
    True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
    False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"))


class ZunBoolean(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, (bool, str)) and value in BOOLEAN_TRUE:
            return True
        if isinstance(value, (bool, str)) and value in BOOLEAN_FALSE:
            return False
        raise ValidationError(f"{value!r} is not of type 'boolean'")


class StringValue(fields.Field):
    """Any JSON scalar, kept as a string (Zun stores labels as strings)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, (dict, list)):
            raise ValidationError(f"{value!r} is not of type 'string'")
        return value if isinstance(value, str) else str(value)


class _Bounded(fields.Field):
    minimum: float = 0
    maximum: float = 0
    pattern = re.compile(r"^[0-9]+$")
    kind = "integer"

    def convert(self, value: Any) -> Any:
        raise NotImplementedError

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValidationError(f"{value!r} is not valid under any of the given schemas")
        if isinstance(value, str):
            if not value or not self.pattern.match(value):
                raise ValidationError(f"{value!r} does not match '{self.pattern.pattern}'")
        elif self.kind == "integer" and isinstance(value, float) and not value.is_integer():
            raise ValidationError(f"{value!r} is not of type 'integer'")
        number = float(value)
        if number < self.minimum:
            raise ValidationError(f"{value!r} is less than the minimum of {_num(self.minimum)}")
        if number > self.maximum:
            raise ValidationError(f"{value!r} is greater than the maximum of {_num(self.maximum)}")
        return self.convert(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class Cpu(_Bounded):
    minimum, maximum = MIN_CPU, MAX_CPU
    pattern = re.compile(r"^[0-9]*(\.([0-9]+))?$")
    kind = "number"

    def convert(self, value: Any) -> float:
        return float(value)


class Memory(_Bounded):
    minimum, maximum = MIN_MEMORY, MAX_MEMORY

    def convert(self, value: Any) -> str:
        return str(int(float(value)))


class Disk(_Bounded):
    minimum, maximum = MIN_DISK, MAX_DISK

    def convert(self, value: Any) -> int:
        return int(float(value))


class NonNegativeIntOrString(_Bounded):
    minimum, maximum = 0, 2 ** 31

    def convert(self, value: Any) -> str:
        return str(int(float(value)))


class Name(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) < 2:
            raise ValidationError(f"{text!r} is too short")
        if len(text) > 255:
            raise ValidationError(f"{text!r} is too long")
        if not NAME_PATTERN.match(text):
            raise ValidationError(f"{text!r} does not match '{NAME_PATTERN.pattern}'")
        return text


class Command(fields.List):
    def __init__(self, **kwargs: Any):
        super().__init__(fields.String(), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValidationError(f"{value!r} is not of type 'array', 'null'")
        return super()._deserialize(value, attr, data, **kwargs)


class LegacyCommand(fields.String):
    """Before 1.20 `command` is one string, split like a shell would."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f"{value!r} is not of type 'string', 'null'")
        return value


class IPAddress(fields.String):
    """`format: ipv4` / `ipv6` (version None: either), kept as the string given."""

    def __init__(self, version: int | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.version = version

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            ip = None
        if ip is None or (self.version and ip.version != self.version):
            if self.version is None:
                raise ValidationError(f"{text!r} is not valid under any of the given schemas")
            raise ValidationError(f"{text!r} is not a 'ipv{self.version}'")
        return text
