"""Authentication: Keystone tokens (against tests/fake_keystone.py) on a deployment with
ZUN_AUTH_STRATEGY=keystone, noauth's defaults, and no secret in any process's log."""
from __future__ import annotations

import secrets
import socket
import time

import pytest

from api.auth import KeystoneValidator
from api.context import RequestContext
from api.errors import NotAuthenticated, ServiceUnavailable
from tests.e2e.keystone_stack import secure_stack
from tests.support import IMAGE


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    return secure_stack(request, tmp_path_factory)


def assert_401(r):
    assert r.status_code == 401, (r.status_code, r.text)
    err = r.json()["errors"][0]
    assert err["status"] == 401
    assert err["detail"] == "The request you have made requires authentication."
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert r.headers["Content-Type"] == "application/json"


def test_only_version_discovery_is_public(stack):
    anonymous = stack.client("none")
    assert anonymous.get("/").status_code == 200
    assert anonymous.get("/v1").status_code == 200
    assert anonymous.get("/v1/").status_code == 200
    assert anonymous.request("HEAD", "/").status_code == 200
    for method, path in (("GET", "/v1/containers"), ("POST", "/v1/containers"),
                         ("GET", "/v1/openapi.json"), ("GET", "/v1/quotas/project-a"),
                         ("GET", "/v1/no-such-thing"), ("GET", "/static/x"),
                         ("OPTIONS", "/v1/containers"), ("POST", "/"),
                         ("DELETE", "/v1/containers/x")):
        assert_401(anonymous.request(method, path, json={} if method == "POST" else None))


def test_missing_invalid_and_expired_tokens_get_401(stack):
    assert_401(stack.client("none").get("/v1/containers"))
    assert_401(stack.client("bad").get("/v1/containers"))
    assert_401(stack.client("expired").get("/v1/containers"))
    assert_401(stack.client("none", **{"X-Auth-Token": ""}).get("/v1/containers"))


def test_authentication_comes_before_version_negotiation(stack):
    r = stack.client("none", **{"OpenStack-API-Version": "container 9.9"}).get("/v1/containers")
    assert_401(r)
    r = stack.client("member_a", **{"OpenStack-API-Version": "container 9.9"}).get(
        "/v1/containers")
    assert r.status_code == 406


def test_identity_comes_from_the_token_not_from_headers(stack):
    member = stack.client("member_a", **{"X-Project-Id": "project-b", "X-Roles": "admin",
                                         "X-User-Id": "someone"})
    created = member.create(name="whoami")
    assert created["project_id"] == "project-a"
    assert created["user_id"] == "user-a"
    assert "host" not in created  # not an admin, whatever X-Roles says
    assert member.delete(f"/v1/containers/{created['uuid']}").status_code in (204, 409)


def test_valid_tokens_are_cached_and_bad_ones_briefly_too(stack):
    ks = stack.keystone
    token = ks.issue("cache", "project-a", "user-a", ("member",))
    client = stack.deployment.client(**{"X-Auth-Token": token})
    before = ks.validations
    for _ in range(12):
        assert client.get("/v1/containers?limit=1").status_code == 200
    assert ks.validations - before <= 2  # once per API worker process at most
    bad = stack.deployment.client(**{"X-Auth-Token": "gAAAAA-" + secrets.token_hex(16)})
    before = ks.validations
    for _ in range(12):
        assert bad.get("/v1/containers").status_code == 401
    assert ks.validations - before <= 2


def test_a_token_stops_working_when_it_expires(stack):
    token = stack.keystone.issue("short", "project-a", "user-a", ("member",), ttl=3)
    client = stack.deployment.client(**{"X-Auth-Token": token})
    assert client.get("/v1/containers").status_code == 200
    time.sleep(3.5)
    assert_401(client.get("/v1/containers"))


def test_keystone_failing_gives_503_not_401(stack):
    token = stack.keystone.issue("while-down", "project-a", "user-a", ("member",))
    client = stack.deployment.client(**{"X-Auth-Token": token})
    stack.keystone.failing = True
    try:
        r = client.get("/v1/containers")
    finally:
        stack.keystone.failing = False
    assert r.status_code == 503
    assert r.json()["errors"][0]["detail"] == "The identity service is unavailable."
    assert client.get("/v1/containers").status_code == 200  # a failure is not cached


def test_keystone_unreachable_gives_503():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens
    validator = KeystoneValidator(f"http://127.0.0.1:{port}/v3", timeout=2)
    with pytest.raises(ServiceUnavailable):
        validator.authenticate(RequestContext(), {"X-Auth-Token": "gAAAAA-anything"})
    with pytest.raises(NotAuthenticated):
        validator.authenticate(RequestContext(), {})


def test_noauth_defaults_to_a_member_of_a_fixed_project(deployment):
    plain = deployment.client()
    created = plain.create(name="noauth-default")
    assert created["project_id"] == "default-project"
    assert created["user_id"] == "default-user"
    assert "host" not in created
    admin = deployment.client(**{"X-Roles": "reader, admin"})
    assert "host" in admin.show(created["uuid"])
    assert plain.delete(f"/v1/containers/{created['uuid']}?force=true").status_code == 403


def test_no_token_password_or_environment_value_in_the_logs(stack):
    secret = "s3cr3t-" + secrets.token_hex(8)
    member = stack.client("member_a")
    created = member.create(run=True, name="hygiene", environment={"API_KEY": secret},
                            labels={"note": "hygiene"})
    uuid = created["uuid"]
    member.wait_status(uuid, "Running")
    assert member.get(f"/v1/containers/{uuid}/container_actions").status_code == 200
    stack.client("bad").get("/v1/containers")
    stack.client("expired").get(f"/v1/containers/{uuid}")
    member.post("/v1/containers", json={"image": IMAGE, "environment": {"K": secret},
                                        "cpu": "nope"})
    assert member.delete(f"/v1/containers/{uuid}?stop=true").status_code == 204
    member.wait_gone(uuid)
    logs = stack.logs()
    assert logs, "the deployment wrote no log at all"
    for label, token in stack.keystone.tokens.items():
        assert token not in logs, f"the {label} token is in a log"
    assert secret not in logs
    assert "zun:zun@" not in logs  # the database URL's password
    assert "gAAAAA" not in logs
