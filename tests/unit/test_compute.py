"""The compute worker's decisions with a fake Docker driver (pure logic; the real engine
is exercised by tests/e2e)."""
from __future__ import annotations

import pytest

from commands.envelope import Command
from commands.store import ContainerStore, Tracking, store_env
from workers.compute import ComputeWorker
from workers.docker_driver import DriverError, EngineUnavailable, Observed

UUID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


class FakeDriver:
    def __init__(self):
        self.state: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail_start = False
        self.down = False

    def _obs(self, uuid):
        s = self.state.get(uuid)
        if s is None:
            return Observed(False)
        return Observed(True, {"created": "Created", "running": "Running",
                               "exited": "Stopped"}[s], s, None, "cid")

    def ensure_image(self, image, policy):
        return ""

    def create(self, doc):
        self.calls.append("create")
        self.state.setdefault(doc["uuid"], "created")
        return self._obs(doc["uuid"])

    def start(self, uuid):
        if self.down:
            raise EngineUnavailable("engine down")
        self.calls.append("start")
        if self.fail_start:
            raise DriverError("cannot start: no such file")
        self.state[uuid] = "running"
        return self._obs(uuid)

    def stop(self, uuid, timeout=None):
        self.calls.append("stop")
        self.state[uuid] = "exited"
        return self._obs(uuid)

    def delete(self, uuid, force=False):
        self.calls.append("delete")
        self.state.pop(uuid, None)

    def inspect(self, uuid):
        return self._obs(uuid)


@pytest.fixture
def worker(tmp_path):
    store = ContainerStore(env=store_env("", str(tmp_path)))
    return ComputeWorker(store, FakeDriver(), host="h1")


def command(ctype, rid, **params):
    if ctype == "create":
        params.setdefault("container", {"uuid": UUID, "name": "c", "image": "busybox",
                                        "status": "Creating"})
    return Command(type=ctype, container_uuid=UUID, request_id=rid, project_id="p",
                   user_id="u", params=params)


def events(worker):
    return [type(e).__name__ for e in worker.store.events.get(
        __import__("uuid").UUID(UUID))]


def test_create_and_run(worker):
    assert worker.handle(command("create", "r1", run=True), Tracking("c:0", 0))
    c = worker.store.get(UUID)
    assert c.status == "Running" and c.doc["host"] == "h1"
    assert worker.driver.calls == ["create", "start"]


def test_redelivered_command_is_applied_once(worker):
    worker.handle(command("create", "r1", run=True), Tracking("c:0", 0))
    n = len(events(worker))
    assert worker.handle(command("create", "r1", run=True), Tracking("c:0", 0)) is False
    assert len(events(worker)) == n


def test_wrong_state_is_an_error_event_not_a_change(worker):
    worker.handle(command("create", "r1", run=True), Tracking("c:0", 0))
    worker.handle(command("start", "r2"), Tracking("c:0", 1))
    c = worker.store.get(UUID)
    assert c.status == "Running"
    assert events(worker)[-2:] == ["ActionEventStarted", "ActionEventFinished"]
    assert worker.driver.calls == ["create", "start"]


def test_driver_failure_sets_error_with_reason(worker):
    worker.driver.fail_start = True
    worker.handle(command("create", "r1", run=True), Tracking("c:0", 0))
    c = worker.store.get(UUID)
    assert c.status == "Error" and "no such file" in c.doc["status_reason"]


def test_engine_down_records_nothing_so_the_command_is_retried(worker):
    worker.handle(command("create", "r1"), Tracking("c:0", 0))
    worker.driver.down = True
    with pytest.raises(EngineUnavailable):
        worker.handle(command("start", "r2"), Tracking("c:0", 1))
    assert worker.store.recorder.max_tracking_id("c:0") == 0
    worker.driver.down = False
    assert worker.handle(command("start", "r2"), Tracking("c:0", 1))
    assert worker.store.get(UUID).status == "Running"


def test_delete_removes(worker):
    worker.handle(command("create", "r1"), Tracking("c:0", 0))
    worker.handle(command("delete", "r2"), Tracking("c:0", 1))
    assert worker.store.get(UUID).removed
    assert UUID not in worker.driver.state
