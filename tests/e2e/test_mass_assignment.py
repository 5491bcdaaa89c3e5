"""Mass assignment: a member cannot set what only an admin (or nobody) may set, cannot
write the fields the service owns, never sees the admin-only keys, and cannot override
the labels by which the service finds its Docker containers."""
from __future__ import annotations

import pytest

from tests.e2e.keystone_stack import secure_stack
from tests.support import IMAGE, docker_client, docker_container, wait_for

GUARDED = ("host", "image_pull_policy", "privileged", "runtime")


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    return secure_stack(request, tmp_path_factory)


def refused(r, rule: str) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["detail"] == f"Policy doesn't allow {rule} to be performed."


def names(client) -> set[str]:
    return {c["name"] for c in client.get("/v1/containers").json()["containers"]}


@pytest.mark.parametrize("field, value, rule", [
    ("privileged", True, "container:create:privileged"),
    ("privileged", False, "container:create:privileged"),  # Zun: the key alone is enough
    ("host", "some-host", "container:create:requested_destination"),
    ("runtime", "runc", "container:create:runtime"),
    ("image_pull_policy", "always", "container:create:image_pull_policy"),
    ("image_pull_policy", "ifnotpresent", "container:create:image_pull_policy"),
])
def test_a_member_cannot_set_admin_fields(stack, field, value, rule):
    member = stack.client("member_a")
    name = f"mass-{field.replace('_', '-')}"
    before = docker_count(stack)
    r = member.post("/v1/containers", json={"image": IMAGE, "name": name, field: value})
    refused(r, rule)
    assert name not in names(member)
    assert docker_count(stack) <= before  # none made (an earlier one may still be going)


def docker_count(stack) -> int:
    host = stack.deployment.host
    return len(docker_client().api.containers(all=True, filters={"label": f"zun.host={host}"}))


def test_privileged_is_denied_to_admins_too(stack):
    refused(stack.client("admin").post("/v1/containers", json={"image": IMAGE,
                                                               "privileged": True}),
            "container:create:privileged")


@pytest.mark.parametrize("field", ["project_id", "user_id", "uuid", "status", "task_state",
                                   "container_id", "created_at", "requested_host", "removed"])
def test_fields_the_service_owns_are_not_accepted(stack, field):
    member = stack.client("member_a")
    r = member.post("/v1/containers", json={"image": IMAGE, field: "project-b"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["detail"] == (
        f"Additional properties are not allowed ('{field}' was unexpected)")


def test_an_update_cannot_reach_other_fields(stack):
    member = stack.client("member_a")
    doc = member.create(name="mass-patch")
    try:
        for field, value in (("project_id", "project-b"), ("privileged", True),
                             ("host", "elsewhere"), ("runtime", "runc"), ("status", "Running")):
            r = member.patch(f"/v1/containers/{doc['uuid']}", json={field: value})
            assert r.status_code == 400, (field, r.text)
        shown = member.show(doc["uuid"])
        assert shown["project_id"] == "project-a" and shown["status"] != "Running"
    finally:
        stack.client("admin").delete(f"/v1/containers/{doc['uuid']}?force=true")


def test_a_member_never_sees_admin_only_keys(stack):
    member, admin = stack.client("member_a"), stack.client("admin")
    created = member.create(name="mass-view")
    uuid = created["uuid"]
    try:
        member.wait_status(uuid, "Created")
        views = [created, member.show(uuid), member.show("mass-view"),
                 *member.get("/v1/containers").json()["containers"],
                 member.patch(f"/v1/containers/{uuid}", json={"name": "mass-view2"}).json(),
                 member.post(f"/v1/containers/{uuid}/resize_container",
                             json={"cpu": 0.5}).json()]
        for view in views:
            assert not set(GUARDED) & set(view), view
        as_admin = admin.show(uuid)
        assert set(GUARDED) <= set(as_admin)
        assert as_admin["host"] == stack.deployment.host
        listed = admin.get("/v1/containers?all_projects=true").json()["containers"]
        assert all(set(GUARDED) <= set(c) for c in listed)
    finally:
        admin.delete(f"/v1/containers/{uuid}?force=true")


def test_service_labels_cannot_be_overridden(stack):
    member = stack.client("member_a")
    forged = {"zun.uuid": "00000000-0000-0000-0000-000000000000", "zun.project_id": "project-b",
              "zun.host": "elsewhere", "zun.managed-by": "someone", "team": "blue"}
    doc = member.create(name="mass-labels", labels=forged)
    uuid = doc["uuid"]
    try:
        member.wait_status(uuid, "Created")
        labels = wait_for(lambda: docker_container(uuid), 15, "the Docker container").labels
        assert labels["zun.uuid"] == uuid
        assert labels["zun.project_id"] == "project-a"
        assert labels["zun.host"] == stack.deployment.host
        assert labels["zun.managed-by"] == "zun-cqrs"
        assert labels["team"] == "blue"
        # the service still manages it: it is found by its own labels, and goes away
        assert member.delete(f"/v1/containers/{uuid}").status_code == 204
        member.wait_gone(uuid)
        wait_for(lambda: docker_container(uuid) is None, 15, "the Docker container to go")
    finally:
        stack.client("admin").delete(f"/v1/containers/{uuid}?force=true")


def test_tracebacks_are_for_admins(stack):
    member, admin = stack.client("member_a"), stack.client("admin")
    doc = member.create(run=True, name="mass-traceback", command=["/no/such/binary"])
    uuid = doc["uuid"]
    try:
        request_id = member.get(f"/v1/containers/{uuid}/container_actions").json()[
            "containerActions"][0]["request_id"]
        action = member.wait_action_finished(uuid, request_id)
        failed = [e for e in action["events"] if e["result"] == "Error"]
        assert failed and all(e["traceback"] is None for e in action["events"])
        as_admin = admin.get(f"/v1/containers/{uuid}/container_actions/{request_id}").json()
        assert any(e["traceback"] for e in as_admin["events"] if e["result"] == "Error")
    finally:
        admin.delete(f"/v1/containers/{uuid}?force=true")
