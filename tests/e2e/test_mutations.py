"""Changing containers end to end (API → log → worker → Docker → events → projector →
view): PATCH, resize_container, rename, rebuild, commit, network_attach/detach, the
security-group calls and images without a registry, each success checked against
Docker's own view and each documented error with Zun's body."""
from __future__ import annotations

import random
import time
import uuid as uuidlib

import pytest

from tests.e2e.helpers import READER_DENIED, assert_error, v
from tests.support import docker_client, docker_container, wait_for

MISSING_IMAGE = "zun-missing/img:1"


def new(api, made: list[str], run: bool = False, **body) -> str:
    uid = api.create(run=run, **body)["uuid"]
    made.append(uid)
    return uid


def host_config(uid: str) -> dict:
    return docker_container(uid).attrs["HostConfig"]


def events(api, uid: str, request_id: str) -> list[tuple[str, str]]:
    action = api.wait_action_finished(uid, request_id)
    return [(e["event"], e["result"]) for e in action["events"]]


def actions(api, uid: str) -> list[str]:
    r = api.get(f"/v1/containers/{uid}/container_actions")
    return [a["action"] for a in r.json()["containerActions"]]


# --- PATCH, resize_container, rename ---------------------------------------------------------

def test_patch_changes_docker_limits_and_the_record(client, made):
    uid = new(client, made, run=True, cpu=0.5, memory=64)
    client.wait_status(uid, "Running")
    hc = host_config(uid)
    assert (hc["CpuQuota"], hc["CpuPeriod"], hc["CpuShares"]) == (50000, 100000, 512)
    assert hc["Memory"] == 64 * 2 ** 20

    r = client.patch(f"/v1/containers/{uid}",
                     json={"cpu": "1.5", "memory": "128", "name": "patched", "auto_heal": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["cpu"], body["memory"], body["name"], body["auto_heal"]) == \
        (1.5, "128", "patched", True)
    assert body["links"][0]["href"].endswith(f"/v1/containers/{uid}")
    hc = host_config(uid)
    assert (hc["CpuQuota"], hc["CpuShares"], hc["Memory"]) == (150000, 1536, 128 * 2 ** 20)
    shown = client.show("patched")
    assert (shown["uuid"], shown["cpu"], shown["memory"]) == (uid, 1.5, "128")
    assert actions(client, uid) == ["create"]  # Zun records no action for an update

    # Docker's own refusal comes back synchronously; nothing changes
    r = client.patch(f"/v1/containers/{uid}", json={"memory": 5})
    assert_error(r, 400, "container.invalid-value", "Minimum memory limit allowed is 6MB")
    assert client.show(uid)["memory"] == "128" and host_config(uid)["Memory"] == 128 * 2 ** 20

    assert_error(client.patch(f"/v1/containers/{uid}", json={"image": "x"}), 400,
                 "container.schema-validation-error",
                 "Additional properties are not allowed ('image' was unexpected)")
    assert_error(client.patch(f"/v1/containers/{uid}", json={"memory": "3"}), 400,
                 "container.schema-validation-error",
                 "Invalid input for field 'memory'.Value: '3'. '3' is less than the minimum of 4")

    r = client.post(f"/v1/containers/{uid}/pause")
    assert r.status_code == 202
    client.wait_status(uid, "Paused")
    r = client.patch(f"/v1/containers/{uid}", json={"name": "paused-renamed"})
    assert r.status_code == 200 and r.json()["name"] == "paused-renamed"


def test_resize_container(client, made):
    uid = new(client, made, cpu=1, memory=64)
    client.wait_status(uid, "Created")
    r = client.post(f"/v1/containers/{uid}/resize_container", json={"cpu": 0.25, "memory": 96},
                    headers=v("1.18"))
    assert_error(r, 406, "container.", "Version 1.18 was requested but the requested API is "
                 "not supported for this version.")
    r = client.post(f"/v1/containers/{uid}/resize_container", json={"cpu": 0.25, "memory": 96},
                    headers=v("1.19"))
    assert r.status_code == 202, r.text
    assert (r.json()["cpu"], r.json()["memory"]) == (1.0, "64")  # the view before the change
    wait_for(lambda: client.show(uid)["memory"] == "96", 15, "the resize to be applied")
    assert client.show(uid)["cpu"] == 0.25
    hc = host_config(uid)
    assert (hc["CpuQuota"], hc["Memory"]) == (25000, 96 * 2 ** 20)
    assert actions(client, uid) == ["create"]
    assert_error(client.post(f"/v1/containers/{uid}/resize_container", json={"cpu": 99}), 400,
                 "container.schema-validation-error",
                 "Invalid input for field 'cpu'.Value: '99'. 99 is greater than the maximum of 16")


def test_rename_until_1_13(client, made):
    uid = new(client, made, name="before")
    old = v("1.13")
    r = client.post(f"/v1/containers/{uid}/rename?name=after", headers=old)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "after" and r.json()["uuid"] == uid
    assert client.show(uid)["name"] == "after"
    assert_error(client.post(f"/v1/containers/after/rename?name=after", headers=old), 409,
                 "container.conflict",
                 "The new name for the container is the same as the old name.")
    assert_error(client.post(f"/v1/containers/{uid}/rename", headers=old), 400,
                 "container.schema-validation-error", "'name' is a required property")
    assert_error(client.post(f"/v1/containers/{uid}/rename?name=a%20b", headers=old), 400,
                 "container.schema-validation-error",
                 startswith="Invalid input for query parameters 'name'. Value: 'a b'.")
    assert_error(client.post(f"/v1/containers/{uid}/rename?name=x1", headers=v("1.14")), 406,
                 "container.", "Version 1.14 was requested but the requested API is not "
                 "supported for this version.")


# --- rebuild ---------------------------------------------------------------------------------

def test_rebuild_running_container_on_a_new_image(client, made):
    uid = new(client, made, run=True)
    client.wait_status(uid, "Running")
    old_id = docker_container(uid).id
    r = client.post(f"/v1/containers/{uid}/rebuild", json={"image": "local/busybox:latest"})
    assert r.status_code == 202, r.text
    rid = r.headers["X-Openstack-Request-Id"]
    shown = client.show(uid)
    assert shown["image"] == "local/busybox:latest"
    assert shown["status"] in ("Rebuilding", "Running")
    assert events(client, uid, rid) == [("compute__do_container_rebuild", "Success"),
                                        ("compute__do_container_start", "Success")]
    client.wait_status(uid, "Running")
    c = docker_container(uid)
    assert c.id != old_id and c.attrs["State"]["Running"]
    assert c.attrs["Config"]["Image"] == "local/busybox:latest"
    assert c.labels["zun.uuid"] == uid
    assert actions(client, uid)[-1] == "rebuild"


def test_rebuild_stopped_container_and_its_errors(client, made):
    uid = new(client, made, run=True)
    client.wait_status(uid, "Running")
    assert client.post(f"/v1/containers/{uid}/pause").status_code == 202
    client.wait_status(uid, "Paused")
    assert_error(client.post(f"/v1/containers/{uid}/rebuild"), 409,
                 "container.invalid-state-exception",
                 f"Cannot rebuild container {uid} in Paused state")
    assert client.post(f"/v1/containers/{uid}/unpause").status_code == 202
    client.wait_status(uid, "Running")
    assert client.post(f"/v1/containers/{uid}/stop?timeout=1").status_code == 202
    client.wait_status(uid, "Stopped")
    assert_error(client.post(f"/v1/containers/{uid}/rebuild", json={"image_driver": "foo"}),
                 400, "container.invalid-value",
                 "Invalid input for image_driver, it should be within the image drivers list")
    old_id = docker_container(uid).id
    r = client.post(f"/v1/containers/{uid}/rebuild")
    assert r.status_code == 202
    assert events(client, uid, r.headers["X-Openstack-Request-Id"]) == [
        ("compute__do_container_rebuild", "Success")]
    assert client.wait_status(uid, "Created")["status_reason"] is None
    c = docker_container(uid)
    assert c.id != old_id and c.attrs["State"]["Status"] == "created"


# --- commit ----------------------------------------------------------------------------------

def test_commit_running_container_pauses_it_and_makes_an_image(client, made):
    uid = new(client, made, run=True)
    client.wait_status(uid, "Running")
    cid = docker_container(uid).id
    repo = f"zun-commit-{uuidlib.uuid4().hex[:8]}"
    since = int(time.time()) - 1
    r = client.post(f"/v1/containers/{uid}/commit?repository={repo}&tag=t1")
    assert r.status_code == 202, r.text
    image_id = r.json()["uuid"]
    dc = docker_client()
    try:
        image = dc.images.get(f"{repo}:t1")
        assert image.id == image_id
        until = int(time.time()) + 1
        seen = [e["Action"] for e in dc.events(since=since, until=until, decode=True,
                                                filters={"container": cid,
                                                         "event": ["pause", "unpause"]})]
        assert seen == ["pause", "unpause"]
        assert client.show(uid)["status"] == "Running"
        assert docker_container(uid).attrs["State"]["Running"]
        assert events(client, uid, r.headers["X-Openstack-Request-Id"]) == [
            ("compute__do_container_commit", "Success")]
        # Docker's refusal of the repository name comes back as a 400
        assert_error(client.post(f"/v1/containers/{uid}/commit?repository=Upper"), 400,
                     "container.invalid-value", startswith="invalid reference format")
        # repository in a JSON body is not read (Zun validates the query string only)
        assert_error(client.post(f"/v1/containers/{uid}/commit", json={"repository": repo}),
                     400, "container.schema-validation-error",
                     "'repository' is a required property")
        assert_error(client.post(f"/v1/containers/{uid}/commit?repository={repo}&x=1"), 400,
                     "container.schema-validation-error",
                     "Additional properties are not allowed ('x' was unexpected)")
    finally:
        dc.images.remove(f"{repo}:t1", force=True)


def test_commit_needs_a_started_container(client, made):
    uid = new(client, made)
    client.wait_status(uid, "Created")
    assert_error(client.post(f"/v1/containers/{uid}/commit?repository=zun-never"), 409,
                 "container.invalid-state-exception",
                 f"Cannot commit container {uid} in Created state")


# --- networks --------------------------------------------------------------------------------

@pytest.fixture
def network():
    from docker.types import IPAMConfig, IPAMPool
    subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
    net = docker_client().networks.create(
        f"zun-test-{uuidlib.uuid4().hex[:8]}",
        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=f"{subnet}.0/24")]))
    net.subnet = subnet
    yield net
    net.reload()
    for c in net.containers:
        net.disconnect(c, force=True)
    net.remove()


def docker_networks(uid: str) -> dict:
    return docker_container(uid).attrs["NetworkSettings"]["Networks"]


def test_nets_on_create_then_attach_and_detach(client, made, network):
    fixed = f"{network.subnet}.10"
    uid = new(client, made, run=True, nets=[{"network": network.name, "v4-fixed-ip": fixed}])
    shown = client.wait_status(uid, "Running")
    nets = docker_networks(uid)
    assert list(nets) == [network.name]  # not the default bridge
    assert nets[network.name]["IPAddress"] == fixed
    assert [e["addr"] for e in shown["addresses"][network.id]] == [fixed]

    url = f"/v1/containers/{uid}"
    assert_error(client.post(f"{url}/network_attach?network=bridge", headers=v("1.7")), 406,
                 "container.", "Version 1.7 was requested but the requested API is not "
                 "supported for this version.")
    r = client.post(f"{url}/network_attach?network=bridge", headers=v("1.8"))
    assert r.status_code == 200, r.text
    assert set(docker_networks(uid)) == {network.name, "bridge"}
    addresses = client.show(uid)["addresses"]
    bridge_id = docker_networks(uid)["bridge"]["NetworkID"]
    assert set(addresses) == {network.id, bridge_id}
    assert events(client, uid, r.headers["X-Openstack-Request-Id"]) == [
        ("compute__do_network_attach", "Success")]

    r = client.post(f"{url}/network_attach?network=bridge")
    assert_error(r, 400, "container.invalid-value",
                 f"Network 'bridge' is already connected to container '{uid}'.")
    failed = client.wait_action_finished(uid, r.headers["X-Openstack-Request-Id"])
    assert failed["message"] == "Error"
    assert [(e["event"], e["result"]) for e in failed["events"]] == [
        ("compute__do_network_attach", "Error")]

    port = addresses[bridge_id][0]["port"]
    r = client.post(f"{url}/network_detach?port={port}")
    assert r.status_code == 202, r.text
    assert list(docker_networks(uid)) == [network.name]
    assert set(client.show(uid)["addresses"]) == {network.id}
    assert_error(client.post(f"{url}/network_detach?network=bridge"), 400,
                 "container.invalid-value",
                 f"Network 'bridge' is not attached to container '{uid}'.")
    assert_error(client.post(f"{url}/network_detach?port=nope"), 400, "container.invalid-value",
                 f"Port 'nope' is not attached to container '{uid}'.")

    assert client.post(f"{url}/network_detach?network={network.name}").status_code == 202
    assert docker_networks(uid) == {} and client.show(uid)["addresses"] == {}
    r = client.post(f"{url}/network_attach",
                    json={"network": network.id, "fixed_ip": f"{network.subnet}.20"})
    assert r.status_code == 200, r.text
    assert docker_networks(uid)[network.name]["IPAddress"] == f"{network.subnet}.20"
    assert actions(client, uid) == ["create", "network_attach", "network_attach",
                                    "network_detach", "network_detach", "network_detach",
                                    "network_detach", "network_attach"]


def test_network_errors(client, made):
    uid = new(client, made)
    url = f"/v1/containers/{uid}"
    assert_error(client.post(f"{url}/network_attach?network=zun-no-such-net"), 404,
                 "container.network-not-found", "Network zun-no-such-net could not be found.")
    assert_error(client.post(f"{url}/network_attach?port=abc"), 400, "container.invalid",
                 startswith="Ports are not supported")
    assert_error(client.post(f"{url}/network_attach?network=a&port=b"), 400,
                 "container.schema-validation-error",
                 "{'required': ['port', 'network']} is not allowed for "
                 "{'network': 'a', 'port': 'b'}")
    assert_error(client.post(f"{url}/network_attach?fixed_ip=1.2.3"), 400,
                 "container.schema-validation-error",
                 "Invalid input for query parameters 'fixed_ip'. Value: '1.2.3'. "
                 "'1.2.3' is not valid under any of the given schemas")
    assert_error(client.post(f"{url}/network_detach"), 400, "container.schema-validation-error",
                 "{} is not valid under any of the given schemas")
    assert_error(client.post(f"{url}/network_detach", json={"network": "bridge"}), 400,
                 "container.schema-validation-error",
                 "{} is not valid under any of the given schemas")
    assert_error(client.post(f"{url}/network_detach?network=bridge", headers=v("1.5")), 406,
                 "container.", "Version 1.5 was requested but the requested API is not "
                 "supported for this version.")
    r = client.post("/v1/containers", json={"image": "busybox:latest", "nets": [{"port": "p1"}]})
    assert_error(r, 400, "container.invalid", startswith="Ports are not supported")


# --- security groups -------------------------------------------------------------------------

def test_security_groups_are_refused_after_zuns_checks(client, made):
    uid = new(client, made)
    client.wait_status(uid, "Created")
    for action in ("add_security_group", "remove_security_group"):
        url = f"/v1/containers/{uid}/{action}"
        assert_error(client.post(url, json={"name": "default"}, headers=v("1.14")), 400,
                     "container.invalid",
                     "Security groups are not supported: containers are attached to Docker "
                     "networks, which have no security groups.")
        assert_error(client.post(url, json={"name": "default"}, headers=v("1.15")), 406,
                     "container.", "Version 1.15 was requested but the requested API is not "
                     "supported for this version.")
        assert_error(client.post(url, json={"name": ""}, headers=v("1.14")), 400,
                     "container.schema-validation-error",
                     startswith="Invalid input for field 'name'.")
        assert_error(client.post(f"/v1/containers/nope/{action}", json={"name": "default"},
                                 headers=v("1.14")), 404, "container.container-not-found",
                     "Container nope could not be found.")


# --- images without a registry ---------------------------------------------------------------

def test_missing_image_fails_the_create_and_every_change_refuses_its_state(client, made):
    uid = new(client, made, image=MISSING_IMAGE, run=True)
    failed = client.wait_status(uid, "Error")
    assert failed["status_reason"].startswith(
        f"Image {MISSING_IMAGE} could not be found: pull failed (")
    assert failed["status_reason"].endswith("and the image is not present on the host.")
    assert docker_container(uid) is None
    url = f"/v1/containers/{uid}"
    assert_error(client.patch(url, json={"cpu": 2}), 409, "container.invalid-state-exception",
                 f"Cannot update container {uid} in Error state")
    assert_error(client.post(f"{url}/resize_container", json={"cpu": 2}), 409,
                 "container.invalid-state-exception",
                 f"Cannot resize_container container {uid} in Error state")
    assert_error(client.post(f"{url}/commit?repository=zun-x"), 409,
                 "container.invalid-state-exception",
                 f"Cannot commit container {uid} in Error state")
    assert_error(client.post(f"{url}/add_security_group", json={"name": "x"},
                             headers=v("1.14")), 409, "container.invalid-state-exception",
                 f"Cannot add_security_group container {uid} in Error state")
    # rebuild is allowed from Error: with an image that exists, the container comes back
    r = client.post(f"{url}/rebuild", json={"image": "busybox:latest"})
    assert r.status_code == 202
    assert client.wait_status(uid, "Created")["image"] == "busybox:latest"
    assert docker_container(uid).attrs["Config"]["Image"] == "busybox:latest"


def test_pull_failure_falls_back_to_the_local_image(deployment, admin, made):
    uid = new(admin, made, run=True, image_pull_policy="always")
    assert admin.wait_status(uid, "Running")["image_pull_policy"] == "always"
    create = admin.get(f"/v1/containers/{uid}/container_actions").json()["containerActions"][0]
    detail = admin.wait_action_finished(uid, create["request_id"])
    assert detail["message"] is None
    assert [(e["event"], e["result"]) for e in detail["events"]] == [
        ("compute__do_container_create", "Success"), ("compute__pull_image", "Error"),
        ("compute__do_container_start", "Success")]
    note = detail["events"][1]["traceback"]  # shown to admins (container:action:events)
    assert note.startswith("Pulling busybox:latest failed (")
    assert note.endswith("used the image present on the host.")
    member_view = deployment.client().get(
        f"/v1/containers/{uid}/container_actions/{create['request_id']}").json()
    assert [e["traceback"] for e in member_view["events"]] == [None, None, None]

    r = admin.post(f"/v1/containers/{uid}/rebuild")
    assert r.status_code == 202
    assert events(admin, uid, r.headers["X-Openstack-Request-Id"]) == [
        ("compute__do_container_rebuild", "Success"), ("compute__pull_image", "Error"),
        ("compute__do_container_start", "Success")]
    assert docker_container(uid).attrs["State"]["Running"]


def test_never_policy_and_rebuild_onto_a_missing_image(admin, made):
    uid = new(admin, made, image_pull_policy="never")
    assert admin.wait_status(uid, "Created")["status_reason"] is None
    missing = new(admin, made, image=MISSING_IMAGE, image_pull_policy="never")
    assert admin.wait_status(missing, "Error")["status_reason"] == \
        f"Image {MISSING_IMAGE} could not be found."

    r = admin.post(f"/v1/containers/{uid}/rebuild", json={"image": MISSING_IMAGE})
    assert r.status_code == 202
    action = admin.wait_action_finished(uid, r.headers["X-Openstack-Request-Id"])
    assert action["message"] == "Error"
    assert [(e["event"], e["result"]) for e in action["events"]] == [
        ("compute__do_container_rebuild", "Error")]
    failed = admin.wait_status(uid, "Error")
    assert failed["status_reason"] == f"Image {MISSING_IMAGE} could not be found."
    assert failed["image"] == MISSING_IMAGE
    assert docker_container(uid) is None  # no old container left behind an Error record


# --- scoping and policy ----------------------------------------------------------------------

#: (policy rule, method, path after the container, request kwargs, microversion)
ENDPOINTS = [
    ("update", "PATCH", "", {"json": {"cpu": 1}}, "latest"),
    ("resize_container", "POST", "/resize_container", {"json": {"cpu": 1}}, "latest"),
    ("rename", "POST", "/rename?name=other-name", {}, "1.13"),
    ("rebuild", "POST", "/rebuild", {}, "latest"),
    ("commit", "POST", "/commit?repository=zun-x", {}, "latest"),
    ("network_attach", "POST", "/network_attach?network=bridge", {}, "latest"),
    ("network_detach", "POST", "/network_detach?network=bridge", {}, "latest"),
    ("add_security_group", "POST", "/add_security_group", {"json": {"name": "d"}}, "1.14"),
    ("remove_security_group", "POST", "/remove_security_group", {"json": {"name": "d"}},
     "1.14"),
]


def test_other_projects_containers_are_not_found(deployment, client, made):
    uid = new(client, made)
    stranger = deployment.client(**{"X-Project-Id": "another-project"})
    for _, method, suffix, kw, version in ENDPOINTS:
        r = stranger.request(method, f"/v1/containers/{uid}{suffix}", headers=v(version), **kw)
        assert_error(r, 404, "container.container-not-found",
                     f"Container {uid} could not be found.")
        r = client.request(method, f"/v1/containers/zun-no-such{suffix}", headers=v(version),
                           **kw)
        assert_error(r, 404, "container.container-not-found",
                     "Container zun-no-such could not be found.")


def test_policy_refuses_each_endpoint(policy_deployment):
    owner = policy_deployment.client()
    uid = owner.create()["uuid"]
    reader = policy_deployment.client(**{"X-Roles": "member,reader"})
    assert sorted(e[0] for e in ENDPOINTS) == sorted(READER_DENIED)
    for rule, method, suffix, kw, version in ENDPOINTS:
        r = reader.request(method, f"/v1/containers/{uid}{suffix}", headers=v(version), **kw)
        assert_error(r, 403, "container.policy-not-authorized",
                     f"Policy doesn't allow container:{rule} to be performed.")
    owner.wait_status(uid, "Created")  # PATCH needs a settled state, as in Zun
    r = owner.patch(f"/v1/containers/{uid}", json={"name": "owner-may"})
    assert r.status_code == 200 and r.json()["name"] == "owner-may"
