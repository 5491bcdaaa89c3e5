"""Zun's state table (zun/common/utils.py VALID_STATES): the one place that says which
status allows which action. The API checks it against the read model for a fast 409;
the worker checks it again against the aggregate, which is authoritative."""
from __future__ import annotations

CREATING, CREATED, RUNNING, STOPPED, PAUSED = "Creating", "Created", "Running", "Stopped", "Paused"
RESTARTING, REBUILDING, DELETING, DELETED = "Restarting", "Rebuilding", "Deleting", "Deleted"
DEAD, ERROR, UNKNOWN = "Dead", "Error", "Unknown"

STATUSES = (ERROR, RUNNING, STOPPED, PAUSED, UNKNOWN, CREATING, CREATED, DELETED, DELETING,
            REBUILDING, DEAD, RESTARTING)

_ANY_BUT_PAUSED = (CREATING, CREATED, RUNNING, STOPPED, RESTARTING, REBUILDING, DELETING,
                   DELETED, DEAD, ERROR, UNKNOWN)
_INSPECTABLE = (CREATED, RUNNING, STOPPED, PAUSED)

VALID_STATES: dict[str, tuple[str, ...]] = {
    "commit": (RUNNING, STOPPED, PAUSED),
    "delete": (CREATED, STOPPED, DELETED, DEAD, ERROR),
    "delete_force": _ANY_BUT_PAUSED,
    "delete_after_stop": (CREATED, RUNNING, STOPPED, DELETED, DEAD, ERROR),
    "start": (CREATED, STOPPED, ERROR),
    "stop": (RUNNING,),
    "reboot": (CREATED, RUNNING, STOPPED, ERROR),
    "rebuild": (CREATED, RUNNING, STOPPED, ERROR),
    "pause": (RUNNING,),
    "unpause": (PAUSED,),
    "kill": (RUNNING,),
    "execute": (RUNNING,),
    "execute_resize": (RUNNING,),
    "update": _INSPECTABLE,
    "attach": (RUNNING,),
    "resize": (RUNNING,),
    "top": (RUNNING,),
    "get_archive": _INSPECTABLE,
    "put_archive": _INSPECTABLE,
    "logs": (CREATED, RUNNING, STOPPED, PAUSED, ERROR, UNKNOWN),
    "stats": (RUNNING,),
    "add_security_group": _INSPECTABLE,
    "remove_security_group": _INSPECTABLE,
    "resize_container": _INSPECTABLE,
}


def allowed(action: str, status: str) -> bool:
    states = VALID_STATES.get(action)
    return states is None or status in states


def conflict_message(action: str, uuid: str, status: str) -> str:
    return f"Cannot {action} container {uuid} in {status} state"
