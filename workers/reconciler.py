"""Docker is the runtime truth: follow the engine's event stream for managed containers
and compare the engine with the read model on a period. A difference becomes a `sync`
command on the log, so the change reaches the aggregate in order with every other
command of that container and is audited like them."""
from __future__ import annotations

import logging
import threading
import time
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from typing import Any

from commands.envelope import Command
from commands.states import CREATING, DELETED, DELETING, ERROR, RUNNING

from .docker_driver import LABEL_HOST, LABEL_MANAGED, LABEL_UUID, MANAGED_BY, DockerDriver, Observed

log = logging.getLogger(__name__)

WATCHED = ("start", "die", "stop", "kill", "pause", "unpause", "destroy", "oom",
           "health_status", "restart")
RECONCILER_USER = "zun-reconciler"

#: a task_state older than this, with its command long handled, was left by an outcome
#: that never cleared it: a `restate` sync clears it (it is ordered after that command)
STALE_TASK_STATE = timedelta(seconds=120)


class Reconciler:
    def __init__(self, boot, driver: DockerDriver):
        self.boot = boot
        self.driver = driver
        self.interval = boot.settings.reconcile_interval
        self.dirty: set[str] = set()
        self.lock = threading.Lock()
        self.kick = threading.Event()
        self.sent: dict[str, tuple[Any, float]] = {}

    def run(self, stopping: threading.Event) -> None:
        threading.Thread(target=self._follow_events, args=(stopping,), name="docker-events",
                         daemon=True).start()
        full_due = 0.0
        clock = threading.Event()
        elapsed = 0.0
        while not stopping.is_set():
            self.kick.wait(0.25)
            self.kick.clear()
            elapsed += 0.25
            with self.lock:
                dirty, self.dirty = self.dirty, set()
            try:
                if elapsed >= full_due:
                    self.reconcile(None)
                    full_due = elapsed + self.interval
                elif dirty:
                    self.reconcile(dirty)
            except Exception as e:
                log.warning("reconciliation failed: %s", e)
                with self.lock:
                    self.dirty |= dirty
                clock.wait(1.0)

    def _follow_events(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                stream = self.driver.client.events(
                    decode=True, filters={"type": "container",
                                          "label": [f"{LABEL_MANAGED}={MANAGED_BY}",
                                                    f"{LABEL_HOST}={self.driver.host}"]})
                for ev in stream:
                    action = (ev.get("Action") or "").split(":")[0]
                    uid = ((ev.get("Actor") or {}).get("Attributes") or {}).get(LABEL_UUID)
                    if uid and action in WATCHED:
                        with self.lock:
                            self.dirty.add(uid)
                        self.kick.set()
                    if stopping.is_set():
                        stream.close()
                        return
            except Exception as e:
                log.info("docker event stream interrupted (%s); reconnecting", e)
            stopping.wait(1.0)

    def reconcile(self, only: set[str] | None) -> None:
        rows = self.boot.read_model.live_on_host(self.boot.settings.host)
        engine = self.driver.managed()
        uuids = set(rows) | set(engine) if only is None else only
        for uid in uuids:
            row = rows.get(uid)
            obs = engine.get(uid, Observed(False))
            restate = _stale(row)
            if (restate or _differs(row, obs)) and self._not_just_sent(uid, row, obs):
                self.send_sync(uid, (row or {}).get("project_id") or "", restate)

    def _not_just_sent(self, uid: str, row: dict[str, Any] | None, obs: Observed) -> bool:
        """One sync per observed difference until the read model catches up or 30 s pass."""
        row = row or {}
        key = (row.get("status"), row.get("task_state"), obs.exists, obs.status,
               obs.status_detail, obs.health)
        now = time.monotonic()
        last = self.sent.get(uid)
        if last is not None and last[0] == key and now - last[1] < 30:
            return False
        self.sent[uid] = (key, now)
        return True

    def send_sync(self, uid: str, project_id: str = "", restate: bool = False) -> None:
        cmd = Command(type="sync", container_uuid=uid, request_id=f"req-{uuidlib.uuid4()}",
                      project_id=project_id, user_id=RECONCILER_USER,
                      host=self.boot.settings.host, params={"restate": True} if restate else {})
        self.boot.log.append(self.boot.topic("commands"), uid, cmd.to_wire(),
                             timeout=self.boot.settings.write_timeout)


def _differs(row: dict[str, Any] | None, obs: Observed) -> bool:
    if row is None:
        return obs.exists  # in the engine but gone from the read model: maybe an orphan
    if row.get("status") in (CREATING, DELETING) or row.get("task_state"):
        return False  # an operation is in flight; its outcome will say
    if not obs.exists:
        return row.get("status") not in (ERROR, DELETED) or (
            bool(row.get("auto_heal")) and bool(row.get("container_id"))
            and row.get("status") == ERROR)
    if row.get("auto_heal") and obs.status == RUNNING and obs.health == "unhealthy":
        return True
    return (row.get("status"), row.get("status_detail")) != (obs.status, obs.status_detail)


def _stale(row: dict[str, Any] | None) -> bool:
    if not row or not row.get("task_state") or not row.get("updated_at"):
        return False
    try:
        changed = datetime.fromisoformat(str(row["updated_at"])[:26])
    except ValueError:
        return False
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return now - changed.replace(tzinfo=None) > STALE_TASK_STATE
