"""Docker is the runtime truth: a managed container changed behind the service's back
(docker kill, stop, pause, rm -f, an OOM kill) shows up in GET within 5 seconds, as a
`sync` command and an `Updated` event in the logs; auto_heal repairs a container that
disappeared or turned unhealthy, each repair an action with events; restart_policy
reaches Docker. Each latency is measured from the Docker-side change to the first GET
that shows it, and printed."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.support import KAFKA, docker_container, wait_for

DEADLINE = 5.0
LATENCIES: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if LATENCIES:
        print("\nreconciliation latency (Docker change -> GET shows it):")
        for what, seconds in LATENCIES.items():
            print(f"  {what:<22} {seconds:5.2f} s")


@pytest.fixture
def api(deployment):
    return deployment.client()


def measure(api, uuid: str, done, since: float, what: str, deadline: float = DEADLINE) -> dict:
    """Poll GET until `done(doc)`; records and returns the latency since `since`."""
    end = since + deadline
    while True:
        doc = api.show(uuid)
        now = time.time()
        if done(doc):
            LATENCIES[what] = now - since
            print(f"reconcile latency {what}: {now - since:.2f}s")
            return doc
        assert now < end, f"{what}: GET still shows {doc['status']} / " \
                          f"{doc['status_detail']} / {doc['status_reason']} after {deadline}s"
        time.sleep(0.05)


def log_records(deployment, kind: str, uuid: str) -> list[dict]:
    """Every record of one container on one of the deployment's topics."""
    from commands.kafka_log import KafkaLog
    log = KafkaLog(KAFKA)
    topic = f"{deployment.name}.{kind}"
    reader = log.reader()
    try:
        reader.assign({(topic, p): 0 for p in log.partitions(topic)})
        ends = reader.end_offsets()
        seen = {tp: 0 for tp in ends}
        out = []
        deadline = time.monotonic() + 20
        while any(seen[tp] < ends[tp] for tp in ends) and time.monotonic() < deadline:
            for r in reader.poll(0.5):
                seen[(r.topic, r.partition)] = r.offset + 1
                if r.key == uuid:
                    out.append(r.value)
        return out
    finally:
        reader.close()
        log.close()


def assert_in_log(deployment, uuid: str, status: str) -> None:
    syncs = [c for c in log_records(deployment, "commands", uuid)
             if c["type"] == "sync" and c["user_id"] == "zun-reconciler"]
    assert syncs, "no sync command from the reconciler in the commands topic"
    updates = [e for e in log_records(deployment, "events", uuid)
               if e["type"] == "Updated" and e["data"]["changes"].get("status") == status]
    assert updates, f"no Updated event to {status} in the events topic"


def running(api, **body) -> tuple[str, object]:
    uuid = api.create(run=True, **body)["uuid"]
    api.wait_status(uuid, "Running")
    return uuid, docker_container(uuid)


def docker_time(text: str) -> float:
    return datetime.fromisoformat(text[:26].rstrip("Z")).replace(tzinfo=timezone.utc).timestamp()


OUT_OF_BAND = {
    "docker kill": (lambda c: c.kill(),
                    lambda d: d["status"] == "Stopped" and d["status_detail"] == "Exited(137)",
                    "Stopped"),
    "docker stop": (lambda c: c.stop(timeout=5),
                    lambda d: d["status"] == "Stopped" and d["status_detail"] == "Exited(0)",
                    "Stopped"),
    "docker pause": (lambda c: c.pause(),
                     lambda d: d["status"] == "Paused" and d["status_detail"] == "Up (paused)",
                     "Paused"),
    "docker rm -f": (lambda c: c.remove(force=True),
                     lambda d: d["status"] == "Error"
                     and d["status_reason"].startswith("No such container: ")
                     and d["status_reason"].endswith(" in docker"),
                     "Error"),
}


@pytest.mark.parametrize("what", list(OUT_OF_BAND))
def test_out_of_band_change_shows_up(deployment, api, what):
    act, done, status = OUT_OF_BAND[what]
    uuid, container = running(api)
    since = time.time()
    act(container)
    doc = measure(api, uuid, done, since, what)
    assert doc["task_state"] is None
    assert_in_log(deployment, uuid, status)
    c = docker_container(uuid)
    if c is not None and c.attrs["State"]["Paused"]:
        c.unpause()


def test_oom_kill_shows_up(deployment, api):
    uuid = api.create(run=True, memory=16, command=[
        "sh", "-c", "sleep 2; exec dd if=/dev/zero of=/dev/null bs=64M count=1"])["uuid"]
    c = wait_for(lambda: (lambda x: x if x and x.attrs["State"]["Status"] == "exited" else None)(
        docker_container(uuid)), 30, "the OOM kill")
    assert c.attrs["State"]["OOMKilled"] is True
    since = docker_time(c.attrs["State"]["FinishedAt"])
    doc = measure(api, uuid, lambda d: d["status"] == "Stopped"
                  and d["status_reason"] == "OOMKilled", since, "OOM kill")
    assert doc["status_detail"] == "Exited(137)"
    assert_in_log(deployment, uuid, "Stopped")


def actions_by_reconciler(api, uuid: str, action: str) -> list[dict]:
    actions = api.get(f"/v1/containers/{uuid}/container_actions").json()["containerActions"]
    return [a for a in actions if a["action"] == action and a["user_id"] == "zun-reconciler"
            and a["finish_time"]]


def test_auto_heal_recreates_a_removed_container(api):
    uuid, container = running(api, auto_heal=True)
    old_id = container.id
    since = time.time()
    container.remove(force=True)
    doc = measure(api, uuid, lambda d: bool(actions_by_reconciler(api, uuid, "rebuild"))
                  and d["status"] == "Running" and not d["task_state"], since,
                  "auto_heal rebuild", deadline=15)
    new = docker_container(uuid)
    assert new is not None and new.id != old_id and new.attrs["State"]["Running"]
    assert doc["status_reason"] is None
    (rebuild,) = actions_by_reconciler(api, uuid, "rebuild")
    detail = api.get(f"/v1/containers/{uuid}/container_actions/{rebuild['request_id']}").json()
    assert [(e["event"], e["result"]) for e in detail["events"]] == [
        ("compute__do_container_rebuild", "Success"), ("compute__do_container_start", "Success")]


def test_auto_heal_restarts_an_unhealthy_container(api):
    uuid, container = running(api, auto_heal=True, healthcheck={
        "test": "test -f /tmp/ok", "interval": 1, "retries": 1, "timeout": 1},
        command=["sh", "-c", "touch /tmp/ok; sleep 3; rm /tmp/ok; "
                             "trap 'exit 0' TERM; while :; do sleep 1; done"])
    started = container.attrs["State"]["StartedAt"]
    wait_for(lambda: actions_by_reconciler(api, uuid, "reboot"), 30, "the healing reboot")
    (reboot, *_) = actions_by_reconciler(api, uuid, "reboot")
    detail = api.get(f"/v1/containers/{uuid}/container_actions/{reboot['request_id']}").json()
    assert [(e["event"], e["result"]) for e in detail["events"]] == [
        ("compute__do_container_reboot", "Success")]
    assert docker_container(uuid).attrs["State"]["StartedAt"] != started


def test_without_auto_heal_a_removed_container_stays_in_error(api):
    uuid, container = running(api)
    container.remove(force=True)
    doc = api.wait_status(uuid, "Error", timeout=10)
    assert docker_container(uuid) is None
    assert not actions_by_reconciler(api, uuid, "rebuild")
    assert doc["status_reason"] == f"No such container: {container.id} in docker"


@pytest.mark.parametrize("policy", [{"Name": "always", "MaximumRetryCount": "0"},
                                    {"Name": "on-failure", "MaximumRetryCount": "3"}])
def test_restart_policy_reaches_docker(api, policy):
    uuid = api.create(run=True, restart_policy=policy)["uuid"]
    api.wait_status(uuid, "Running")
    rp = docker_container(uuid).attrs["HostConfig"]["RestartPolicy"]
    assert (rp["Name"], rp["MaximumRetryCount"]) == (policy["Name"],
                                                     int(policy["MaximumRetryCount"]))
    assert api.show(uuid)["restart_policy"] == policy
