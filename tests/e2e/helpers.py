"""Helpers of the e2e tests that change containers: a microversion header, Zun's error
body, and the endpoints the test policy refuses to a `reader`."""
from __future__ import annotations


def v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"container {version}"}


def assert_error(r, status: int, code: str, detail: str | None = None,
                 startswith: str | None = None) -> None:
    """Zun's body: {"errors": [{"request_id": "", "code", "status", "title", "detail",
    "links": []}]}, as JSON."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    err = r.json()["errors"][0]
    assert err["code"] == code and err["status"] == status, err
    assert err["title"] == err["detail"] and err["request_id"] == "" and err["links"] == []
    if detail is not None:
        assert err["detail"] == detail
    if startswith is not None:
        assert err["detail"].startswith(startswith), err["detail"]


#: every endpoint that changes a container, refused to the `reader` role by the policy
#: of the `policy_deployment` fixture
READER_DENIED = ("update", "rename", "resize_container", "rebuild", "commit",
                 "network_attach", "network_detach", "add_security_group",
                 "remove_security_group")
