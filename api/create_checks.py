"""Checks of a create request against what this deployment offers (docs/api.md lists
where they differ from Zun and why)."""
from __future__ import annotations

from typing import Any

from .errors import Base64Exception, Invalid, ResourceNotFound


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
        raise Invalid(SECURITY_GROUPS_UNSUPPORTED)
    if any(n.get("port") for n in data.get("nets") or []):
        raise Invalid(PORTS_UNSUPPORTED)
    for m in data.get("mounts") or []:
        if m.get("type") == "bind":
            check_file_data(m.get("source") or "")


#: also the answer of add_security_group / remove_security_group (api/mutations.py)
SECURITY_GROUPS_UNSUPPORTED = ("Security groups are not supported: containers are attached "
                               "to Docker networks, which have no security groups.")
#: also the answer of network_attach with a port (api/mutations.py)
PORTS_UNSUPPORTED = ("Ports are not supported: containers are attached to Docker networks, "
                     "which create a container's endpoint when it joins; name a network.")


def check_file_data(data: str) -> None:
    """A `bind` mount's source is the base64 content of the file it injects."""
    import base64
    import binascii
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Base64Exception("Invalid Base 64 file data") from None
