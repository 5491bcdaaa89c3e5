"""Exactly-once effect against the real Docker engine: every driver operation can be
repeated (a redelivered command repeats it) without a second effect, and a worker that
dies between the Docker call and the record does it again without a duplicate."""
from __future__ import annotations

import uuid as uuidlib

import pytest

from commands.envelope import Command
from commands.store import ContainerStore, Tracking, store_env
from tests.support import DOCKER_HOST, IMAGE, docker_client, remove_host_containers, require_stack
from workers.compute import ComputeWorker
from workers.docker_driver import DockerDriver, StateConflict

LOOP = ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]


@pytest.fixture
def driver():
    require_stack(kafka=False, postgres=False)
    host = f"host-idem-{uuidlib.uuid4().hex[:8]}"
    yield DockerDriver(DOCKER_HOST, host)
    remove_host_containers(host)


def doc(**kw):
    return {"uuid": str(uuidlib.uuid4()), "image": IMAGE, "command": LOOP, "project_id": "p",
            **kw}


def containers_of(driver) -> list:
    return docker_client().containers.list(all=True,
                                           filters={"label": f"zun.host={driver.host}"})


def test_every_operation_can_be_repeated(driver):
    d = doc()
    first, again = driver.create(d), driver.create(d)
    assert first.container_id == again.container_id and len(containers_of(driver)) == 1
    assert driver.start(d["uuid"]).status == driver.start(d["uuid"]).status == "Running"
    assert driver.pause(d["uuid"]).status == driver.pause(d["uuid"]).status == "Paused"
    assert driver.unpause(d["uuid"]).status == driver.unpause(d["uuid"]).status == "Running"
    assert driver.stop(d["uuid"], 5).status == "Stopped"
    assert driver.stop(d["uuid"], 5).status_detail == "Exited(0)"
    assert driver.kill(d["uuid"]).status == "Stopped"  # nothing left to kill
    with pytest.raises(StateConflict) as e:
        driver.pause(d["uuid"])  # Docker's state forbids it: no error state, Docker's view
    assert e.value.observed.status == "Stopped"
    driver.delete(d["uuid"], force=True)
    driver.delete(d["uuid"], force=True)
    assert containers_of(driver) == []


class CrashAfterDocker(ContainerStore):
    """Dies once after the decision (Docker already called) and before the record."""
    crashes = 1

    def _record(self, processing_event):
        if self.crashes:
            self.crashes -= 1
            raise SystemExit("worker killed")
        return super()._record(processing_event)


def test_a_crash_between_the_docker_call_and_the_record(driver, tmp_path):
    store = CrashAfterDocker(env=store_env("", str(tmp_path)))
    worker = ComputeWorker(store, driver, driver.host)
    d = doc(name="c", status="Creating")
    create = Command(type="create", container_uuid=d["uuid"], request_id="r1", project_id="p",
                     user_id="u", params={"container": d, "run": True})
    with pytest.raises(SystemExit):
        worker.handle(create, Tracking("c:0", 0))
    assert store.get(d["uuid"]) is None  # nothing recorded ...
    assert len(containers_of(driver)) == 1  # ... but Docker did it
    assert worker.handle(create, Tracking("c:0", 0))  # the redelivery adopts
    assert len(containers_of(driver)) == 1
    assert store.get(d["uuid"]).status == "Running"
    assert worker.handle(create, Tracking("c:0", 0)) is False  # and a third is recognised

    store.crashes = 1
    stop = Command(type="stop", container_uuid=d["uuid"], request_id="r2", project_id="p",
                   user_id="u", params={"timeout": 5})
    with pytest.raises(SystemExit):
        worker.handle(stop, Tracking("c:0", 1))
    assert not containers_of(driver)[0].attrs["State"]["Running"]
    assert worker.handle(stop, Tracking("c:0", 1))
    events = [type(e).__name__ for e in store.events.get(uuidlib.UUID(d["uuid"]))]
    assert events.count("ActionEventStarted") == 3  # create, start, stop: once each
    assert store.get(d["uuid"]).status == "Stopped"
