"""Quotas (Zun's /v1/quotas and /v1/quota_classes, checked on create and on PATCH) and the
request limits that keep one client from hurting the others."""
from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import IMAGE, LATEST

ZUN_DEFAULTS = {"containers": 40, "cpu": 20, "disk": 100, "memory": 51200}


def project() -> str:
    return f"quota-{secrets.token_hex(4)}"


def as_member(d, project_id: str):
    return d.client(**{"X-Project-Id": project_id})


def as_admin(d):
    return d.client(**{"X-Project-Id": "admin-project", "X-Roles": "admin"})


def over_quota(r, *resources: str) -> None:
    assert r.status_code == 403, r.text
    err = r.json()["errors"][0]
    assert err["code"] == "container.over-quota"
    assert err["detail"] == f"Quota exceeded for resources: {sorted(resources)!r}"


def test_defaults_are_zuns(deployment):
    p = project()
    member = as_member(deployment, p)
    assert member.get(f"/v1/quotas/{p}").json() == ZUN_DEFAULTS
    assert member.get(f"/v1/quotas/{p}/defaults").json() == ZUN_DEFAULTS
    usages = member.get(f"/v1/quotas/{p}?usages=true").json()
    assert usages == {k: {"limit": v, "in_use": 0} for k, v in ZUN_DEFAULTS.items()}


def test_only_admins_change_quotas_and_members_read_only_their_own(deployment):
    p, other = project(), project()
    member, admin = as_member(deployment, p), as_admin(deployment)
    r = member.put(f"/v1/quotas/{p}", json={"containers": 5})
    assert r.status_code == 403
    assert r.json()["errors"][0]["detail"] == "Policy doesn't allow quota:update to be performed."
    assert member.delete(f"/v1/quotas/{p}").status_code == 403
    assert member.get(f"/v1/quotas/{other}").status_code == 403
    r = admin.put(f"/v1/quotas/{p}", json={"containers": "5", "memory": 1024})
    assert r.status_code == 200
    assert r.json() == {**ZUN_DEFAULTS, "containers": 5, "memory": 1024}
    assert member.get(f"/v1/quotas/{p}").json()["containers"] == 5
    assert as_member(deployment, other).get(f"/v1/quotas/{other}").json() == ZUN_DEFAULTS
    assert admin.delete(f"/v1/quotas/{p}").status_code == 200
    assert member.get(f"/v1/quotas/{p}").json() == ZUN_DEFAULTS


@pytest.mark.parametrize("body, detail", [
    ({"containers": -2}, "Invalid input for field 'containers'.Value: '-2'. -2 is less than "
                         "the minimum of -1"),
    ({"cpu": "1.5"}, "Invalid input for field 'cpu'.Value: '1.5'. '1.5' does not match "
                     "'^-?[0-9]+$'"),
    ({"disk": 2 ** 31}, "Invalid input for field 'disk'.Value: '2147483648'. 2147483648 is "
                        "greater than the maximum of 2147483647"),
    ({"volumes": 3}, "Additional properties are not allowed ('volumes' was unexpected)"),
])
def test_bad_quota_values_are_400(deployment, body, detail):
    r = as_admin(deployment).put(f"/v1/quotas/{project()}", json=body)
    assert r.status_code == 400
    assert r.json()["errors"][0]["detail"] == detail


def test_create_over_quota_is_refused_and_a_delete_frees_room(deployment):
    p = project()
    member, admin = as_member(deployment, p), as_admin(deployment)
    admin.put(f"/v1/quotas/{p}", json={"containers": 1, "memory": 600})
    first = member.create(name="q1", memory=300)
    over_quota(member.post("/v1/containers", json={"image": IMAGE}), "containers")
    admin.put(f"/v1/quotas/{p}", json={"containers": 3})
    over_quota(member.post("/v1/containers", json={"image": IMAGE, "memory": 400}), "memory")
    admin.put(f"/v1/quotas/{p}", json={"containers": 1, "cpu": 1})
    over_quota(member.post("/v1/containers", json={"image": IMAGE, "cpu": 2, "memory": 400}),
               "containers", "cpu", "memory")
    usage = member.get(f"/v1/quotas/{p}?usages=true").json()
    assert usage["containers"] == {"limit": 1, "in_use": 1}
    assert usage["memory"] == {"limit": 600, "in_use": 300}
    assert member.delete(f"/v1/containers/{first['uuid']}?force=true").status_code == 403
    assert admin.delete(f"/v1/containers/{first['uuid']}?force=true").status_code == 204
    member.wait_gone(first["uuid"])
    member.create(name="q2")  # the freed slot is usable again
    admin.put(f"/v1/quotas/{p}", json={"containers": -1})
    member.create(name="q3")  # -1 is unlimited


def test_update_over_quota_is_refused(deployment):
    p = project()
    member, admin = as_member(deployment, p), as_admin(deployment)
    admin.put(f"/v1/quotas/{p}", json={"cpu": 2, "memory": 1000})
    doc = member.create(name="patched", cpu=1, memory=500)
    uuid = doc["uuid"]
    member.wait_status(uuid, "Created")
    over_quota(member.patch(f"/v1/containers/{uuid}", json={"cpu": 3}), "cpu")
    over_quota(member.patch(f"/v1/containers/{uuid}", json={"memory": "1001"}), "memory")
    r = member.patch(f"/v1/containers/{uuid}", json={"cpu": 2, "memory": 1000})
    assert r.status_code == 200, r.text
    assert r.json()["cpu"] == 2.0 and r.json()["memory"] == "1000"
    assert member.patch(f"/v1/containers/{uuid}", json={"memory": 600}).status_code == 200


def test_the_default_quota_class_sets_every_projects_defaults(deployment):
    p = project()
    member, admin = as_member(deployment, p), as_admin(deployment)
    assert member.get("/v1/quota_classes/default").json() == ZUN_DEFAULTS
    assert member.put("/v1/quota_classes/default", json={"containers": 1}).status_code == 403
    try:
        r = admin.put("/v1/quota_classes/default", json={"containers": 41})
        assert r.status_code == 200 and r.json()["containers"] == 41
        assert member.get(f"/v1/quotas/{p}").json()["containers"] == 41
        assert member.get(f"/v1/quotas/{p}/defaults").json()["containers"] == 41
        admin.put(f"/v1/quotas/{p}", json={"containers": 2})
        assert member.get(f"/v1/quotas/{p}").json()["containers"] == 2  # own limit first
    finally:
        admin.put("/v1/quota_classes/default", json={"containers": 40})
    gold = admin.put("/v1/quota_classes/gold", json={"cpu": 64}).json()
    assert gold == {**ZUN_DEFAULTS, "cpu": 64}
    q = project()
    assert as_member(deployment, q).get(f"/v1/quotas/{q}").json() == ZUN_DEFAULTS


@pytest.mark.parametrize("mode", ["kafka", "embedded"])
def test_parallel_creates_cannot_pass_the_quota(request, mode):
    """16 creates at once against a quota of 3 (two gunicorn workers on Kafka; threads of
    one process embedded): exactly 3 accepted, 13 refused."""
    d = request.getfixturevalue("deployment" if mode == "kafka" else "embedded")
    p = project()
    as_admin(d).put(f"/v1/quotas/{p}", json={"containers": 3})
    url = f"{d.url}/v1/containers"
    headers = {**LATEST, "X-Project-Id": p}

    def create(i: int) -> requests.Response:
        return requests.post(url, json={"image": IMAGE, "name": f"race-{i}"}, headers=headers,
                             timeout=60)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(create, range(16)))
    codes = sorted(r.status_code for r in results)
    assert codes == [202] * 3 + [403] * 13, [r.text for r in results if r.status_code != 403]
    for r in results:
        if r.status_code == 403:
            over_quota(r, "containers")
    listed = as_member(d, p).get("/v1/containers").json()["containers"]
    assert len(listed) == 3


# --- request limits ------------------------------------------------------------------------

def test_a_body_over_the_limit_is_413(deployment):
    big = {"image": IMAGE, "labels": {"pad": "x" * (1024 * 1024 + 1)}}
    r = deployment.client().post("/v1/containers", json=big)
    assert r.status_code == 413
    assert r.json()["errors"][0]["status"] == 413


def test_a_chunked_body_over_the_limit_is_413(deployment):
    def chunks():
        yield b'{"image": "busybox:latest", "labels": {"pad": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}}'
    r = requests.post(f"{deployment.url}/v1/containers", data=chunks(), timeout=60,
                      headers={**LATEST, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_list_limit_is_capped_and_checked(deployment):
    client = deployment.client(**{"X-Project-Id": project()})
    assert client.get("/v1/containers?limit=100000000").status_code == 200
    r = client.get("/v1/containers?limit=0")
    assert r.status_code == 400
    assert r.json()["errors"][0]["detail"] == "Limit must be positive integer"


def test_nul_characters_are_refused_before_they_reach_the_database(deployment):
    """PostgreSQL cannot store a NUL: one in an image would stop the projector."""
    client = deployment.client(**{"X-Project-Id": project()})
    r = client.post("/v1/containers", json={"image": "busybox\u0000latest"})
    assert r.status_code == 400
    assert "NUL" in r.json()["errors"][0]["detail"]
    for path in ("/v1/containers?name=a%00b", "/v1/containers/a%00b", "/v1/quotas/p%00"):
        r = client.get(path)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["errors"][0]["detail"] == (
            "A NUL character is not allowed in the path or the query string.")
    doc = client.create(name="after-nul")  # the pipeline still flows
    assert client.show(doc["uuid"])["name"] == "after-nul"
