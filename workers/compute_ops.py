"""Handlers of the commands that change a container after its creation (api/mutations.py).

update (PATCH), resize_container and rename record no Zun action; rebuild, commit,
network_attach and network_detach record Zun's action and event names. Requests that
Zun answers synchronously (PATCH, rename, commit, network attach/detach) wait for the
`Answered` event each of these handlers records in the same transaction as its effects.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from commands.envelope import utcnow
from commands.states import REBUILDING, RUNNING, allowed, conflict_message

from . import docker_ops as ops
from .compute import Handled, Rejected, Step, handles
from .docker_driver import DriverError
from .docker_ops import Refusal


class Refused(Rejected):
    """Docker refused the request: the action event is an Error, the container keeps its
    status (Zun fails the container only when a create or rebuild breaks it)."""

    def __init__(self, refusal: Refusal):
        super().__init__(refusal.message)
        self.reason = refusal.reason


@contextmanager
def refused() -> Iterator[None]:
    try:
        yield
    except Refusal as e:
        raise Refused(e) from e


def answer(step: Step, result: str = "Success", reason: str | None = None,
           message: str | None = None, data: dict[str, Any] | None = None) -> None:
    if step.agg is not None:
        step.agg.answered(request_id=step.cmd.request_id, command=step.cmd.type, result=result,
                          reason=reason, message=message, data=data or {})


def answer_failure(step: Step, exc: BaseException | None) -> None:
    reason = getattr(exc, "reason", None) or "failed"
    answer(step, "Error", reason, str(exc) if exc is not None else "failed")


def refusal_of_state(step: Step, key: str | None) -> tuple[str, str] | None:
    """(reason, message) when the aggregate refuses `key` (None: only existence)."""
    agg = step.agg
    if agg is None or agg.removed:
        return "container-not-found", f"Container {step.uuid} could not be found."
    if key and not allowed(key, agg.status):
        return "state", conflict_message(key, step.uuid, agg.status)
    return None


def pull_fell_back(step: Step, action: str, note: str) -> None:
    """A pull that failed while the image was on the host: the create (or rebuild) goes
    on from the local image, and the action's events say that the pull failed."""
    assert step.agg is not None
    step.agg.action_event_started(request_id=step.cmd.request_id, action=action,
                                  event="compute__pull_image", start_time=utcnow(),
                                  user_id=step.cmd.user_id, project_id=step.cmd.project_id)
    step.agg.action_event_finished(request_id=step.cmd.request_id, action=action,
                                   event="compute__pull_image", finish_time=utcnow(),
                                   result="Error", traceback=note, finish_action=False)


# --- update, resize_container, rename: the record and Docker's limits ---------------------

def apply_changes(step: Step, state_key: str | None) -> None:
    refusal = refusal_of_state(step, state_key)
    if refusal:
        answer(step, "Error", *refusal)
        return
    agg = step.agg
    assert agg is not None
    changes = {k: v for k, v in (step.cmd.params.get("changes") or {}).items()
               if agg.doc.get(k) != v}
    resources = {k: changes[k] for k in ("cpu", "memory") if k in changes}
    if resources:
        try:
            ops.update_resources(step.driver, step.uuid, **resources)
        except Refusal as e:
            answer(step, "Error", e.reason, e.message)
            return
    if changes:
        agg.update(changes)
    answer(step)


@handles("update")
def update(step: Step) -> None:
    apply_changes(step, "update")


@handles("resize_container")
def resize_container(step: Step) -> None:
    apply_changes(step, "resize_container")


@handles("rename")
def rename(step: Step) -> None:
    apply_changes(step, None)


# --- rebuild -------------------------------------------------------------------------------

@handles("rebuild", "rebuild", "compute__do_container_rebuild")
def rebuild(step: Step) -> None:
    """Zun's rebuild: the image obtained first, then the Docker container replaced under
    the same uuid, then started again if it was running. A rebuild that cannot get its
    image leaves the container in Error with no Docker container behind it (docs/api.md)."""
    try:
        agg = step.require("rebuild")
    except Rejected:
        if step.agg is not None and not step.agg.removed:
            step.restate()  # the projected "Rebuilding" gives way to the real status
        raise
    run = agg.status == RUNNING
    params = step.cmd.params
    changes: dict[str, Any] = {"status": REBUILDING}
    changes.update({k: params[k] for k in ("image", "image_driver") if params.get(k)})
    note = ""
    with step.event("rebuild", "compute__do_container_rebuild", finish_action=not run):
        agg.update(changes)
        try:
            note = step.driver.ensure_image(agg.doc["image"], agg.doc.get("image_pull_policy"))
        except DriverError:
            step.driver.delete(step.uuid, force=True)
            raise
        if note:
            pull_fell_back(step, "rebuild", note)
        step.observed(ops.recreate(step.driver, agg.doc), task_state=None,
                      status_reason=note or None)
    if run:
        with step.event("rebuild", "compute__do_container_start"):
            step.observed(step.driver.start(step.uuid), task_state=None,
                          status_reason=note or None)


# --- commit --------------------------------------------------------------------------------

@handles("commit", "commit", "compute__do_container_commit")
def commit(step: Step) -> None:
    """A running container is paused for the commit and unpaused after, as Zun does."""
    refusal = refusal_of_state(step, "commit")
    if refusal:
        answer(step, "Error", *refusal)
        raise Rejected(refusal[1])
    agg = step.agg
    assert agg is not None
    params = step.cmd.params
    pause = agg.status == RUNNING
    image_id = None
    try:
        with step.event("commit", "compute__do_container_commit"):
            with refused():
                if pause:
                    step.observed(step.driver.pause(step.uuid), task_state=None)
                try:
                    image_id = ops.commit(step.driver, step.uuid, params["repository"],
                                          params.get("tag") or "latest")
                finally:
                    if pause:
                        step.observed(step.driver.unpause(step.uuid), task_state=None)
    except Handled as h:
        answer_failure(step, h.__cause__)
        raise
    answer(step, data={"uuid": image_id})


# --- networks ------------------------------------------------------------------------------

def _network_op(step: Step, action: str, event: str, operation) -> None:
    refusal = refusal_of_state(step, None)
    if refusal:
        answer(step, "Error", *refusal)
        raise Rejected(refusal[1])
    try:
        with step.event(action, event):
            with refused():
                step.observed(operation())
    except Handled as h:
        answer_failure(step, h.__cause__)
        raise
    answer(step)


@handles("network_attach", "network_attach", "compute__do_network_attach")
def network_attach(step: Step) -> None:
    p = step.cmd.params
    _network_op(step, "network_attach", "compute__do_network_attach",
                lambda: ops.connect(step.driver, step.uuid, p.get("network"), p.get("fixed_ip")))


@handles("network_detach", "network_detach", "compute__do_network_detach")
def network_detach(step: Step) -> None:
    p = step.cmd.params
    _network_op(step, "network_detach", "compute__do_network_detach",
                lambda: ops.disconnect(step.driver, step.uuid, p.get("network"), p.get("port")))
