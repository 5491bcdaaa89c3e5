"""One container's life through the whole pipeline, checked against Docker's own view,
on Kafka + PostgreSQL (separate processes) and on the embedded `zun-cqrs up`."""
from __future__ import annotations

import pytest

from tests.support import docker_container, wait_for


@pytest.fixture(params=["kafka", "embedded"])
def api(request):
    d = request.getfixturevalue("deployment" if request.param == "kafka" else "embedded")
    return d.client()


def docker_state(uuid: str) -> dict | None:
    c = docker_container(uuid)
    return None if c is None else c.attrs["State"]


def test_run_stop_start_delete(api):
    created = api.create(run=True, name="life")
    uuid = created["uuid"]
    assert created["status"] == "Creating"
    # read-your-writes: the container is listed and shown right after the 202
    assert api.show(uuid)["name"] == "life"
    assert uuid in [c["uuid"] for c in api.get("/v1/containers").json()["containers"]]

    running = api.wait_status(uuid, "Running")
    assert docker_state(uuid)["Running"] is True
    assert running["status_detail"].startswith("Up")

    r = api.post(f"/v1/containers/{uuid}/stop")
    assert r.status_code == 202
    assert r.headers["X-Openstack-Request-Id"].startswith("req-")
    stop_request = r.headers["X-Openstack-Request-Id"]
    api.wait_status(uuid, "Stopped")
    assert docker_state(uuid)["Running"] is False

    r = api.post(f"/v1/containers/{uuid}/stop")
    assert r.status_code == 409
    assert r.json()["errors"][0]["detail"] == f"Cannot stop container {uuid} in Stopped state"

    assert api.post(f"/v1/containers/life/start").status_code == 202
    api.wait_status(uuid, "Running")
    assert docker_state(uuid)["Running"] is True

    r = api.delete(f"/v1/containers/{uuid}")
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "container.invalid-state-exception"

    actions = api.get(f"/v1/containers/{uuid}/container_actions").json()["containerActions"]
    assert [a["action"] for a in actions] == ["create", "stop", "start"]
    assert all(a["finish_time"] for a in actions)
    stop = api.get(f"/v1/containers/{uuid}/container_actions/{stop_request}").json()
    assert stop["action"] == "stop" and stop["request_id"] == stop_request
    assert [(e["event"], e["result"]) for e in stop["events"]] == [
        ("compute__do_container_stop", "Success")]
    create = api.get(f"/v1/containers/{uuid}/container_actions/"
                     f"{actions[0]['request_id']}").json()
    assert [(e["event"], e["result"]) for e in create["events"]] == [
        ("compute__do_container_create", "Success"), ("compute__do_container_start", "Success")]

    assert api.delete(f"/v1/containers/{uuid}?stop=true").status_code == 204
    api.wait_gone(uuid)
    wait_for(lambda: docker_state(uuid) is None, 15, "the Docker container to be removed")


def test_create_without_run_then_force_delete(api):
    uuid = api.create(name="idle")["uuid"]
    api.wait_status(uuid, "Created")
    assert docker_state(uuid)["Status"] == "created"
    assert api.delete(f"/v1/containers/{uuid}?force=true",
                      headers={"X-Roles": "admin"}).status_code == 204
    assert api.get(f"/v1/containers/{uuid}").status_code in (200, 404)
    api.wait_gone(uuid)
    wait_for(lambda: docker_state(uuid) is None, 15, "the Docker container to be removed")


def test_delete_created_container_plain(api):
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Created")
    assert api.delete(f"/v1/containers/{uuid}").status_code == 204
    after = api.get(f"/v1/containers/{uuid}")
    assert after.status_code == 404 or after.json()["status"] == "Deleting"
    api.wait_gone(uuid)
    assert docker_state(uuid) is None


def test_unknown_container_is_404_with_zun_body(api):
    r = api.get("/v1/containers/no-such-thing")
    assert r.status_code == 404
    assert r.json() == {"errors": [{
        "request_id": "", "code": "container.container-not-found", "status": 404,
        "title": "Container no-such-thing could not be found.",
        "detail": "Container no-such-thing could not be found.", "links": []}]}
    assert r.headers["Content-Type"] == "application/json"


def test_version_document_and_negotiation(api):
    root = api.get("/").json()
    assert root["versions"][0]["min_version"] == "1.1"
    assert root["versions"][0]["max_version"] == "1.40"
    r = api.get("/v1/containers", headers={"OpenStack-API-Version": "container 1.22"})
    assert r.headers["OpenStack-API-Version"] == "container 1.22"
    assert r.headers["OpenStack-API-Minimum-Version"] == "container 1.1"
    assert r.headers["OpenStack-API-Maximum-Version"] == "container 1.40"
    r = api.get("/v1/containers", headers={"OpenStack-API-Version": "container 1.41"})
    assert r.status_code == 406
    assert "minor version is not supported" in r.json()["errors"][0]["detail"]
