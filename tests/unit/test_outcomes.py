"""Every command the worker takes has an outcome, and Docker's word wins: the worker's
rules for failures, refusals, orphans, stale task states and auto_heal, with a fake
Docker engine (the real one is exercised by tests/integration and tests/e2e)."""
from __future__ import annotations

import uuid as uuidlib

import pytest
import requests

from commands.envelope import Command
from commands.store import ContainerStore, Tracking, store_env
from workers.compute import ComputeWorker
from workers.docker_driver import DriverError, Observed, StateConflict

UUID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
STATUS = {"created": "Created", "running": "Running", "exited": "Stopped", "paused": "Paused"}


class FakeEngine:
    """The DockerDriver's contract: idempotent operations on containers named by uuid."""

    def __init__(self):
        self.state: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.health: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}

    def _maybe_fail(self, op):
        self.calls.append(op)
        if op in self.fail:
            raise self.fail[op]

    def inspect(self, uuid):
        s = self.state.get(uuid)
        if s is None:
            return Observed(False)
        return Observed(True, STATUS[s], s, None, self.ids[uuid], None, self.health.get(uuid))

    def ensure_image(self, image, policy):
        return ""

    def create(self, doc):
        self._maybe_fail("create")
        if doc["uuid"] not in self.state:
            self.state[doc["uuid"]] = "created"
            self.ids[doc["uuid"]] = uuidlib.uuid4().hex
        return self.inspect(doc["uuid"])

    def start(self, uuid):
        self._maybe_fail("start")
        self.state[uuid] = "running"
        return self.inspect(uuid)

    def stop(self, uuid, timeout=None):
        self._maybe_fail("stop")
        self.state[uuid] = "exited"
        return self.inspect(uuid)

    def reboot(self, uuid, timeout=None):
        self._maybe_fail("reboot")
        self.state[uuid] = "running"
        self.health.pop(uuid, None)
        return self.inspect(uuid)

    def pause(self, uuid):
        self._maybe_fail("pause")
        if self.state[uuid] != "running":
            raise StateConflict("is not running", self.inspect(uuid))
        self.state[uuid] = "paused"
        return self.inspect(uuid)

    def delete(self, uuid, force=False):
        self._maybe_fail("delete")
        self.state.pop(uuid, None)


@pytest.fixture
def worker(tmp_path):
    return ComputeWorker(ContainerStore(env=store_env("", str(tmp_path))), FakeEngine(), "h1")


class Log:
    """Offsets of one partition, so that each command gets the next one."""

    def __init__(self, worker):
        self.worker, self.offset = worker, 0

    def send(self, ctype, rid=None, uuid=UUID, **params):
        if ctype == "create":
            params.setdefault("container", {"uuid": uuid, "name": "c", "image": "busybox",
                                            "status": "Creating", "project_id": "p"})
        cmd = Command(type=ctype, container_uuid=uuid, request_id=rid or f"req-{self.offset}",
                      project_id="p", user_id="u", params=params)
        applied = self.worker.handle(cmd, Tracking("c:0", self.offset))
        self.offset += 1
        return applied


@pytest.fixture
def log(worker):
    return Log(worker)


def events(worker, uuid=UUID):
    return list(worker.store.events.get(uuidlib.UUID(uuid)))


def finishes(worker, rid):
    return [e for e in events(worker) if type(e).__name__ == "ActionEventFinished"
            and e.request_id == rid and e.finish_action]


def test_a_failed_delete_is_an_error_event_and_the_container_stays(worker, log):
    log.send("create", run=False)
    worker.driver.fail["delete"] = DriverError("device busy")
    log.send("delete", "req-del")
    agg = worker.store.get(UUID)
    assert not agg.removed
    assert (agg.status, agg.doc["status_reason"]) == ("Error", "device busy")
    (f,) = finishes(worker, "req-del")
    assert (f.action, f.event, f.result, f.message) == (
        "delete", "compute__do_container_delete", "Error", "Error")


def test_a_refused_delete_restates_the_status(worker, log):
    log.send("create", run=True)
    log.send("delete", "req-del")  # Running: a plain delete is refused
    updates = [e for e in events(worker) if type(e).__name__ == "Updated"]
    assert updates[-1].changes == {"status": "Running", "task_state": None}
    (f,) = finishes(worker, "req-del")
    assert f.result == "Error" and "Cannot delete container" in f.traceback


def test_a_command_on_a_removed_container_still_gets_an_outcome(worker, log):
    log.send("create", run=False)
    log.send("delete", "req-del")
    log.send("start", "req-late")  # accepted by the API just before the delete ran
    (f,) = finishes(worker, "req-late")
    assert f.result == "Error" and "could not be found" in f.traceback
    assert "start" not in worker.driver.calls


def test_a_command_without_a_handler_finishes_its_action(worker, log):
    from workers import compute
    log.send("create", run=False)
    handler = compute.HANDLERS.pop("rebuild", None)
    try:
        log.send("rebuild", "req-rb")
    finally:
        if handler is not None:
            compute.HANDLERS["rebuild"] = handler
    (f,) = finishes(worker, "req-rb")
    assert f.action == "rebuild" and f.result == "Error"


def test_a_bug_in_a_handler_fails_the_command_instead_of_blocking_the_partition(worker, log):
    log.send("create", run=True)
    worker.driver.fail["stop"] = KeyError("State")
    assert log.send("stop", "req-stop")
    agg = worker.store.get(UUID)
    assert agg.status == "Error" and "State" in agg.doc["status_reason"]
    assert finishes(worker, "req-stop")[0].result == "Error"


def test_docker_unreachable_inside_an_operation_waits(worker, log):
    from workers.docker_driver import EngineUnavailable
    log.send("create", run=True)
    worker.driver.fail["stop"] = requests.exceptions.ConnectionError("socket gone")
    with pytest.raises(EngineUnavailable):
        log.send("stop", "req-stop")
    assert not finishes(worker, "req-stop")  # nothing recorded: the same offset again
    assert worker.store.recorder.max_tracking_id("c:0") == 0


def test_dockers_state_wins_over_a_stale_aggregate(worker, log):
    log.send("create", run=True)
    worker.driver.state[UUID] = "exited"  # died before the reconciler said so
    log.send("pause", "req-pause")
    agg = worker.store.get(UUID)
    assert agg.status == "Stopped"  # Docker's state recorded, not Error
    assert finishes(worker, "req-pause")[0].result == "Error"


def test_sync_removes_an_orphan_without_an_aggregate(worker, log):
    other = "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"
    worker.driver.create({"uuid": other})
    log.send("sync", uuid=other)
    assert other not in worker.driver.state and not events(worker, other)


def test_sync_restate_clears_a_stale_task_state(worker, log):
    log.send("create", run=True)
    log.send("sync", restate=True)
    update = [e for e in events(worker) if type(e).__name__ == "Updated"][-1]
    assert update.changes == {"status": "Running", "task_state": None}


def test_auto_heal_rebuilds_a_container_that_disappeared(tmp_path, log, worker):
    log.send("create", run=True, container={"uuid": UUID, "name": "c", "image": "busybox",
                                            "status": "Creating", "auto_heal": True})
    old = worker.driver.ids[UUID]
    worker.driver.delete(UUID)
    log.send("sync", "req-sync")
    agg = worker.store.get(UUID)
    assert agg.status == "Running" and agg.doc["container_id"] != old
    started = [(e.action, e.event) for e in events(worker)
               if type(e).__name__ == "ActionEventStarted" and e.request_id == "req-sync"]
    assert started == [("rebuild", "compute__do_container_rebuild"),
                       ("rebuild", "compute__do_container_start")]
    assert finishes(worker, "req-sync")[0].result == "Success"


def test_without_auto_heal_a_missing_container_is_an_error(worker, log):
    log.send("create", run=True)
    cid = worker.driver.ids[UUID]
    worker.driver.delete(UUID)
    log.send("sync")
    agg = worker.store.get(UUID)
    assert agg.status == "Error"
    assert agg.doc["status_reason"] == f"No such container: {cid} in docker"


def test_auto_heal_restarts_an_unhealthy_container(worker, log):
    log.send("create", run=True, container={"uuid": UUID, "name": "c", "image": "busybox",
                                            "status": "Creating", "auto_heal": True})
    worker.driver.health[UUID] = "unhealthy"
    log.send("sync", "req-sync")
    (f,) = finishes(worker, "req-sync")
    assert (f.action, f.event, f.result) == ("reboot", "compute__do_container_reboot", "Success")
    assert worker.driver.calls.count("reboot") == 1


def test_a_container_that_never_ran_is_not_healed(worker, log):
    worker.driver.fail["create"] = DriverError("no such image")
    log.send("create", run=True, container={"uuid": UUID, "name": "c", "image": "busybox",
                                            "status": "Creating", "auto_heal": True})
    worker.driver.fail.clear()
    log.send("sync")
    assert worker.store.get(UUID).status == "Error"
    assert "create" not in worker.driver.calls[1:]
