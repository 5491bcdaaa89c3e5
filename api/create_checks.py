"""Checks of a create request against what this deployment offers (docs/api.md lists
where they differ from Zun and why)."""
from __future__ import annotations

from typing import Any

from .errors import Invalid, ResourceNotFound


class RequestedHostNotFound(ResourceNotFound):
    code = "requested-host-not-found"


class RegistryNotFound(ResourceNotFound):
    code = "registry-not-found"


def run_checks(boot, ctx, doc: dict[str, Any], data: dict[str, Any]) -> None:
    host = data.get("host")
    if host and host != boot.settings.host:
        raise RequestedHostNotFound(f"Requested host {host} could not be found.")
    if data.get("registry"):
        raise RegistryNotFound(f"Registry {data['registry']} could not be found.")
    if data.get("security_groups"):
        raise Invalid("Security groups are not supported: containers are attached to Docker "
                      "networks, which have no security groups.")
