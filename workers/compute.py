"""The compute worker: one command in, Docker called, the outcome recorded as events of
the Container aggregate together with the command's log offset (exactly-once effect).

Handlers are plain functions registered by command type. Each gets a `Step` that holds
the aggregate, the command and the driver, and records Zun's action events."""
from __future__ import annotations

import logging
import traceback as tb
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from commands.aggregate import Container
from commands.envelope import Command, utcnow
from commands.states import CREATING, DELETED, ERROR, RUNNING, allowed, conflict_message
from commands.store import ContainerStore, IntegrityError, Tracking

from .docker_driver import (DockerDriver, DriverError, EngineUnavailable, Observed,
                            StateConflict, engine_down)

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The command cannot apply to the aggregate as it is now (e.g. wrong state)."""


@dataclass
class Step:
    agg: Container | None
    cmd: Command
    driver: DockerDriver
    stop_timeout_max: int
    host: str

    @property
    def uuid(self) -> str:
        return self.cmd.container_uuid

    def require(self, action: str) -> Container:
        if self.agg is None or self.agg.removed:
            raise Rejected(f"Container {self.uuid} could not be found.")
        if not allowed(action, self.agg.status):
            raise Rejected(conflict_message(action, self.uuid, self.agg.status))
        return self.agg

    def observed(self, obs: Observed, **extra: Any) -> None:
        """Record Docker's view of the container where it differs from the aggregate."""
        assert self.agg is not None
        changes = {k: v for k, v in {**obs.fields(), **extra}.items() if self.agg.doc.get(k) != v}
        if changes:
            self.agg.update(changes)

    @contextmanager
    def event(self, action: str, name: str, finish_action: bool = True) -> Iterator[None]:
        """Zun's wrap_container_event: a start record, then Success or Error with the
        traceback; a failure leaves the container in Error with the reason."""
        assert self.agg is not None
        agg = self.agg
        agg.action_event_started(request_id=self.cmd.request_id, action=action, event=name,
                                 start_time=utcnow(), user_id=self.cmd.user_id,
                                 project_id=self.cmd.project_id)
        try:
            yield
        except Handled:
            raise
        except Exception as e:
            if engine_down(e):
                raise e if isinstance(e, EngineUnavailable) else EngineUnavailable(str(e))
            if isinstance(e, StateConflict):
                self.observed(e.observed)
            elif not isinstance(e, Rejected):
                if not isinstance(e, DriverError):
                    log.exception("%s of %s failed unexpectedly", action, self.uuid)
                agg.update({"status": ERROR, "status_reason": str(e) or type(e).__name__,
                            "task_state": None})
            agg.action_event_finished(request_id=self.cmd.request_id, action=action, event=name,
                                      finish_time=utcnow(), result="Error",
                                      traceback=_traceback(e), finish_action=True,
                                      message="Error")
            raise Handled() from e
        agg.action_event_finished(request_id=self.cmd.request_id, action=action, event=name,
                                  finish_time=utcnow(), result="Success", traceback=None,
                                  finish_action=finish_action)

    def reject(self, action: str, event: str, message: str) -> None:
        """A command the aggregate refuses is still an action with an Error event, even
        on a removed container (a command accepted just before its delete ran): every
        accepted command has an outcome in the log."""
        if self.agg is None:
            return
        with self.event(action, event):
            raise Rejected(message)

    def restate(self) -> None:
        """Record the aggregate's status again, so that a status the command projection
        showed ahead of the worker ("Deleting") gives way to the real one."""
        assert self.agg is not None
        self.agg.update({"status": self.agg.status, "task_state": None})


class Handled(Exception):
    """A failure already recorded as an action event: record it, do not retry."""


def _traceback(e: BaseException) -> str:
    return "".join(tb.format_exception(type(e), e, e.__traceback__)).strip()


Handler = Callable[[Step], None]
HANDLERS: dict[str, Handler] = {}

#: command type -> (action recorded, event name); the action key of the state table
ACTIONS: dict[str, tuple[str, str]] = {}


def handles(command_type: str, action: str | None = None, event: str | None = None):
    def register(fn: Handler) -> Handler:
        HANDLERS[command_type] = fn
        if action:
            ACTIONS[command_type] = (action, event or f"compute__do_container_{action}")
        return fn
    return register


def _stop_timeout(step: Step) -> int | None:
    t = step.cmd.params.get("timeout")
    return None if t is None else min(int(t), step.stop_timeout_max)


@handles("create", "create", "compute__do_container_create")
def create(step: Step) -> None:
    if step.agg is not None:
        return  # a second create of one uuid cannot come from the API; ignore it
    doc = dict(step.cmd.params["container"], host=step.host)
    step.agg = agg = Container(doc)
    with step.event("create", "compute__do_container_create",
                    finish_action=not step.cmd.params.get("run")):
        note = step.driver.ensure_image(doc["image"], doc.get("image_pull_policy"))
        if note:
            compute_ops.pull_fell_back(step, "create", note)
        obs = step.driver.create(agg.doc)
        step.observed(obs, task_state=None, status_reason=note or None)
    if step.cmd.params.get("run"):
        with step.event("create", "compute__do_container_start"):
            step.observed(step.driver.start(step.uuid), task_state=None,
                          status_reason=note or None)


@handles("start", "start", "compute__do_container_start")
def start(step: Step) -> None:
    step.require("start")
    with step.event("start", "compute__do_container_start"):
        step.observed(step.driver.start(step.uuid), task_state=None)


@handles("stop", "stop", "compute__do_container_stop")
def stop(step: Step) -> None:
    step.require("stop")
    with step.event("stop", "compute__do_container_stop"):
        step.observed(step.driver.stop(step.uuid, _stop_timeout(step)), task_state=None)


@handles("reboot", "reboot", "compute__do_container_reboot")
def reboot(step: Step) -> None:
    step.require("reboot")
    with step.event("reboot", "compute__do_container_reboot"):
        step.observed(step.driver.reboot(step.uuid, _stop_timeout(step)), task_state=None)


@handles("pause", "pause", "compute__do_container_pause")
def pause(step: Step) -> None:
    step.require("pause")
    with step.event("pause", "compute__do_container_pause"):
        step.observed(step.driver.pause(step.uuid), task_state=None)


@handles("unpause", "unpause", "compute__do_container_unpause")
def unpause(step: Step) -> None:
    step.require("unpause")
    with step.event("unpause", "compute__do_container_unpause"):
        step.observed(step.driver.unpause(step.uuid), task_state=None)


@handles("kill", "kill", "compute__do_container_kill")
def kill(step: Step) -> None:
    step.require("kill")
    with step.event("kill", "compute__do_container_kill"):
        step.observed(step.driver.kill(step.uuid, step.cmd.params.get("signal")),
                      task_state=None)


@handles("delete", "delete")
def delete(step: Step) -> None:
    force = bool(step.cmd.params.get("force"))
    stop_first = bool(step.cmd.params.get("stop"))
    key = "delete_force" if force else ("delete_after_stop" if stop_first else "delete")
    try:
        agg = step.require(key)
    except Rejected:
        if step.agg is not None and not step.agg.removed:
            step.restate()  # undo the projected "Deleting"
        raise
    if stop_first and agg.status == RUNNING:
        with step.event("stop", "compute__do_container_stop"):
            step.observed(step.driver.stop(step.uuid, 1), task_state=None)
    # Zun records no event for a delete; a failed one is an Error event here, so that the
    # outcome of every command is visible in its action (and the projection can tell)
    try:
        step.driver.delete(step.uuid, force=force or stop_first)
    except EngineUnavailable:
        raise
    except DriverError:
        with step.event("delete", "compute__do_container_delete"):
            raise
    agg.remove(request_id=step.cmd.request_id)


@handles("sync")
def sync(step: Step) -> None:
    """Docker changed a container behind the service's back (reconciler, events).

    A sync is ordered after every earlier command of its container, so what it finds is
    the outcome of all of them: a Docker container without a live aggregate is an orphan
    (its create was never recorded, or its delete was), and a `restate` clears a
    task_state that no outcome cleared."""
    agg = step.agg
    if agg is None or agg.removed:
        if step.driver.inspect(step.uuid).exists:
            log.warning("removing orphan Docker container of %s", step.uuid)
            step.driver.delete(step.uuid, force=True)
        return
    if agg.status == CREATING:
        return
    if step.cmd.params.get("restate"):
        step.restate()
    obs = step.driver.inspect(step.uuid)
    from .healing import heal
    if heal(step, obs):
        return
    if obs.exists:
        step.observed(obs)
        return
    if agg.doc.get("auto_remove"):
        agg.remove(request_id=step.cmd.request_id)
    elif agg.status not in (ERROR, DELETED):
        agg.update({"status": ERROR, "task_state": None,
                    "status_reason": f"No such container: {agg.doc.get('container_id')} in docker"})


#: commands the API may send before a worker knows them: an action must still finish
ACTION_OF_UNHANDLED = ("rebuild", "commit", "network_attach", "network_detach",
                       "add_security_group", "remove_security_group")


class ComputeWorker:
    def __init__(self, store: ContainerStore, driver: DockerDriver, host: str,
                 stop_timeout_max: int = 60):
        self.store = store
        self.host = host
        self.driver = driver
        self.stop_timeout_max = stop_timeout_max

    def handle(self, cmd: Command, tracking: Tracking) -> bool:
        """Apply one command exactly once; False when it was already applied.

        EngineUnavailable propagates: nothing is recorded and the caller retries the same
        offset once Docker answers again."""
        def decide(processing_event) -> None:
            agg = self.store.get(cmd.container_uuid)
            step = Step(agg, cmd, self.driver, self.stop_timeout_max, self.host)
            handler = HANDLERS.get(cmd.type)
            try:
                if handler is None:
                    log.warning("no handler for command %s", cmd.type)
                    if cmd.type in ACTIONS or cmd.type in ACTION_OF_UNHANDLED:
                        raise Rejected(f"Command {cmd.type} is not supported by this worker.")
                else:
                    handler(step)
            except Handled:
                pass
            except Exception as e:
                if engine_down(e):
                    raise
                if not isinstance(e, Rejected):
                    # a bug must not block the partition forever: the command fails
                    log.exception("command %s of %s failed", cmd.type, cmd.container_uuid)
                action, event = ACTIONS.get(cmd.type, (cmd.type, f"compute__do_container_{cmd.type}"))
                try:
                    step.reject(action, event, str(e) or type(e).__name__)
                except Handled:
                    pass
            if step.agg is not None:
                processing_event.collect_events(step.agg)

        try:
            self.store.process(tracking, decide)
            return True
        except IntegrityError:
            log.info("command at %s:%s already applied", tracking.application_name,
                     tracking.notification_id)
            return False


from . import compute_ops  # noqa: E402  the handlers of api/mutations.py
