"""Outages, one at a time, on a private Kafka + PostgreSQL: while Kafka or PostgreSQL is
down the API answers 503 with Zun's error body within a deadline (never a 500, never a
hang) and recovers by itself within seconds of the service's return; the worker and the
projector reconnect on their own; while Docker cannot be reached, accepted commands
wait and then complete. A worker killed in the middle of an operation leaves nothing in
a transitional state once it is back. Each recovery time is printed."""
from __future__ import annotations

import time

import pytest

from tests.support import Deployment, IMAGE, docker_container, wait_for

from .stack import UnixRelay

pytestmark = pytest.mark.fault

WRITE_TIMEOUT = 4
DEADLINE = WRITE_TIMEOUT + 3  # seconds a request may take while a service is down
RECOVERY = 20                 # seconds the API may take to serve again once it is back
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    r = UnixRelay(tmp_path_factory.mktemp("relay") / "docker.sock")
    r.up()
    yield r
    r.down()


@pytest.fixture(scope="module")
def dep(private_stack, relay, tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("outages"), mode="kafka",
                   kafka=private_stack.kafka, pg_admin_url=private_stack.pg_admin_url,
                   extra_env={"ZUN_DOCKER_HOST": relay.url,
                              "ZUN_WRITE_TIMEOUT": str(WRITE_TIMEOUT),
                              "ZUN_READ_YOUR_WRITES_TIMEOUT": "5"}).start()
    yield d
    if relay.listener is None:
        relay.up()
    d.stop()
    if TIMES:
        print("\noutage figures:")
        for what, seconds in TIMES.items():
            print(f"  {what:<44} {seconds:6.2f} s")


@pytest.fixture
def api(dep):
    return dep.client()


def timed(what: str, fn):
    started = time.monotonic()
    result = fn()
    TIMES[what] = time.monotonic() - started
    return result


def assert_unavailable(r, took: float) -> None:
    assert r.status_code == 503, r.text
    assert took < DEADLINE, f"503 after {took:.1f}s"
    (err,) = r.json()["errors"]
    assert set(err) == {"request_id", "code", "status", "title", "detail", "links"}
    assert err["status"] == 503 and err["title"] and "Traceback" not in r.text


def call(api, method: str, path: str, what: str, **kw):
    started = time.monotonic()
    r = api.request(method, path, timeout=DEADLINE + 30, **kw)
    took = time.monotonic() - started
    TIMES[what] = took
    return r, took


def running(api, **body) -> str:
    uuid = api.create(run=True, **body)["uuid"]
    api.wait_status(uuid, "Running")
    return uuid


def recovered(api, method: str, path: str, ok: int, what: str, **kw):
    """Poll a request until it answers `ok`; every answer meanwhile is a 503."""
    def attempt():
        try:
            r = api.request(method, path, timeout=DEADLINE + 30, **kw)
        except Exception:
            return None
        assert r.status_code in (ok, 503), r.text
        return r if r.status_code == ok else None
    return timed(what, lambda: wait_for(attempt, RECOVERY, what, interval=0.2))


def test_kafka_down(private_stack, dep, api):
    uuid = running(api)
    private_stack.stop("kafka")
    try:
        r, took = call(api, "POST", "/v1/containers", "kafka down: 503 to a create",
                       json={"image": IMAGE})
        assert_unavailable(r, took)
        r, took = call(api, "POST", f"/v1/containers/{uuid}/stop", "kafka down: 503 to a stop")
        assert_unavailable(r, took)
        assert api.show(uuid)["status"] == "Running"  # reads need no Kafka
    finally:
        private_stack.start("kafka")
    recovered(api, "POST", f"/v1/containers/{uuid}/stop", 202, "kafka back: API accepts again")
    # the worker and the projector found Kafka again on their own
    timed("kafka back: the stop is done", lambda: api.wait_status(uuid, "Stopped", timeout=60))
    fresh = timed("kafka back: a new container runs", lambda: running(api))
    assert docker_container(fresh).attrs["State"]["Running"]


def test_postgres_down(private_stack, dep, api):
    uuid = running(api)
    private_stack.stop("postgres")
    try:
        for method, path, what in (("GET", "/v1/containers", "list"),
                                   ("GET", f"/v1/containers/{uuid}", "show"),
                                   ("POST", f"/v1/containers/{uuid}/stop", "stop")):
            r, took = call(api, method, path, f"postgres down: 503 to a {what}")
            assert_unavailable(r, took)
        r, took = call(api, "POST", "/v1/containers", "postgres down: 503 to a create",
                       json={"image": IMAGE})
        assert_unavailable(r, took)
    finally:
        private_stack.start("postgres")
    recovered(api, "GET", f"/v1/containers/{uuid}", 200, "postgres back: API reads again")
    recovered(api, "POST", f"/v1/containers/{uuid}/stop", 202, "postgres back: API accepts")
    timed("postgres back: the stop is done", lambda: api.wait_status(uuid, "Stopped", timeout=60))
    timed("postgres back: a new container runs", lambda: running(api))


def test_docker_unreachable(relay, dep, api):
    uuid = running(api)
    relay.down()
    try:
        assert api.post(f"/v1/containers/{uuid}/stop").status_code == 202
        fresh = api.create(run=True)["uuid"]
        time.sleep(3)
        # accepted and waiting: nothing failed, nothing happened in Docker
        doc = api.show(uuid)
        assert (doc["status"], doc["task_state"]) == ("Running", "container_stopping")
        assert api.show(fresh)["status"] == "Creating"
        assert docker_container(uuid).attrs["State"]["Running"]
        assert docker_container(fresh) is None
    finally:
        relay.up()
    timed("docker back: the waiting stop is done",
          lambda: api.wait_status(uuid, "Stopped", timeout=30))
    timed("docker back: the waiting create runs",
          lambda: api.wait_status(fresh, "Running", timeout=30))
    actions = api.get(f"/v1/containers/{uuid}/container_actions").json()["containerActions"]
    assert [(a["action"], a["message"]) for a in actions] == [("create", None), ("stop", None)]


def test_worker_killed_mid_operation_leaves_nothing_transitional(dep, api):
    """The stop outlives the worker (the container ignores SIGTERM): the redelivered
    command finishes it, exactly one action with one event, task_state cleared."""
    uuid = running(api, command=["sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
    r = api.post(f"/v1/containers/{uuid}/stop?timeout=4")
    assert r.status_code == 202
    request_id = r.headers["X-Openstack-Request-Id"]
    time.sleep(1.5)
    assert api.show(uuid)["task_state"] == "container_stopping"
    dep.kill("worker")
    dep.processes["worker"].start()
    doc = timed("worker killed mid-stop: stop finished",
                lambda: api.wait_status(uuid, "Stopped", timeout=40))
    assert doc["task_state"] is None
    action = api.get(f"/v1/containers/{uuid}/container_actions/{request_id}").json()
    assert action["finish_time"] and action["message"] is None
    assert [(e["event"], e["result"]) for e in action["events"]] == [
        ("compute__do_container_stop", "Success")]
    assert not docker_container(uuid).attrs["State"]["Running"]


def test_projector_killed_catches_up(dep, api):
    uuid = running(api)
    dep.kill("projector")
    try:
        r = api.post(f"/v1/containers/{uuid}/pause")  # read-your-writes times out: still 202
        assert r.status_code == 202
    finally:
        dep.processes["projector"].start()
    timed("projector restarted: the pause shows",
          lambda: api.wait_status(uuid, "Paused", timeout=30))
