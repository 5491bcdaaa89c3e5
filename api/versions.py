"""Microversion negotiation (zun/api/controllers/versions.py): missing header means the
minimum, `latest` the maximum, anything malformed or out of range a 406 with Zun's text."""
from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering

from .errors import NotAcceptable

SERVICE = "container"
HEADER = "OpenStack-API-Version"
MIN_HEADER = "OpenStack-API-Minimum-Version"
MAX_HEADER = "OpenStack-API-Maximum-Version"


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> "Version":
        major, minor = text.split(".")
        return cls(int(major), int(minor))

    def __lt__(self, other: "Version") -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = Version(1, 1)
MAX_VERSION = Version(1, 40)
RANGE = f"[{SERVICE} {MIN_VERSION}, {SERVICE} {MAX_VERSION}]"


def negotiate(header: str | None) -> Version:
    if header is None or not header.strip():
        return MIN_VERSION
    tokens = header.split()
    if len(tokens) != 2:
        raise NotAcceptable("Invalid service type for OpenStack-API-Version header")
    service, value = tokens
    if value.lower() == "latest":
        return MAX_VERSION
    if service.lower() != SERVICE:
        raise NotAcceptable("Invalid service type for OpenStack-API-Version header")
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise NotAcceptable("Invalid value for OpenStack-API-Version header")
    version = Version(int(parts[0]), int(parts[1]))
    if version.major != MAX_VERSION.major:
        raise NotAcceptable(
            f"Mutually exclusive versions requested. Version {version} requested but not "
            f"supported by this service. The supported version range is: {RANGE}.")
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable(
            f"Version {version} was requested but the minor version is not supported by this "
            f"service. The supported version range is: {RANGE}.")
    return version


def response_headers(version: Version) -> dict[str, str]:
    return {MIN_HEADER: f"{SERVICE} {MIN_VERSION}", MAX_HEADER: f"{SERVICE} {MAX_VERSION}",
            HEADER: f"{SERVICE} {version}", "Vary": HEADER}
