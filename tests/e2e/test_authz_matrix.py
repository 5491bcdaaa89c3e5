"""Every endpoint as the owner, a member of another project, an admin, a caller without
a token and one with a token Keystone never issued, under ZUN_AUTH_STRATEGY=keystone:
2xx / 404 / 2xx / 401 / 401 for what acts on a container, with Zun's exceptions (list
and create are per project; quota writes are admin-only; version discovery is public).
The table must name every operation the running service documents (which is every
route, tests/unit/test_openapi.py), so a new endpoint cannot miss it. Then the same
endpoints under an operator's policy file that makes every container rule admin-only:
each refuses the owner with its own rule's name."""
from __future__ import annotations

import base64
import io
import tarfile
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import websocket

from tests.e2e.keystone_stack import WHO, SecureStack, secure_stack
from tests.support import IMAGE, docker_client

OK = "2xx"
CONTAINER = (OK, 404, OK, 401, 401)
RUNNING = ("Running",)
COMMIT_REPOSITORY = "zunmatrix"


def tar_of(name: str, data: bytes) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


@dataclass
class Row:
    """One operation: how to call it on a container (`{id}`), what each caller gets, the
    state the container settles in afterwards, and the policy rule that guards it."""
    operation: str
    method: str
    path: str
    expect: tuple = CONTAINER
    body: dict | None = None
    version: str = "latest"
    settle: tuple[str, ...] = ()
    rule: str | None = None
    prepare: Callable[[Any, str], dict] | None = None
    codes: dict[str, int] = field(default_factory=dict)


def _running_exec(client, ident: str) -> dict:
    """An exec runs once its websocket is open; only then has it a tty to resize."""
    r = client.post(f"/v1/containers/{ident}/execute", params={"command": "sh",
                                                               "run": "false",
                                                               "interactive": "true"})
    assert r.status_code == 200, r.text
    ws = websocket.create_connection(r.json()["proxy_url"], timeout=10,
                                     subprotocols=["binary", "base64"])
    return {"exec_id": r.json()["exec_id"], "_open": ws}


C = "/v1/containers/{id}"
# in the order the owner's container goes through them (it starts Running)
ROWS = [
    Row("containers.show_get", "GET", C, rule="container:get_one"),
    Row("containers.actions_get", "GET", C + "/container_actions", rule="container:actions"),
    Row("containers.action_get", "GET", C + "/container_actions/{request_id}",
        rule="container:actions"),
    Row("live.logs_get", "GET", C + "/logs", rule="container:logs"),
    Row("live.top_get", "GET", C + "/top", rule="container:top"),
    Row("live.stats_get", "GET", C + "/stats", rule="container:stats"),
    Row("live.network_list_get", "GET", C + "/network_list"),  # Zun checks no policy
    Row("live.execute_post", "POST", C + "/execute?command=true", rule="container:execute"),
    Row("live.execute_resize_post", "POST", C + "/execute_resize?h=24&w=80&exec_id={exec_id}",
        rule="container:execute_resize", prepare=_running_exec),
    Row("live.resize_post", "POST", C + "/resize?h=24&w=80", rule="container:resize"),
    Row("live.attach_get", "GET", C + "/attach", rule="container:attach"),
    Row("live.get_archive_get", "GET", C + "/get_archive?path=/etc/hostname",
        rule="container:get_archive"),
    Row("live.put_archive_post", "POST", C + "/put_archive",
        body={"path": "/tmp", "data": tar_of("matrix.txt", b"matrix\n")},
        rule="container:put_archive"),
    Row("mutations.update_patch", "PATCH", C, body={"cpu": 0.5}, rule="container:update"),
    Row("mutations.rename_post", "POST", C + "/rename?name=renamed-{n}", version="1.13",
        rule="container:rename"),
    Row("mutations.resize_container_post", "POST", C + "/resize_container",
        body={"memory": 256}, rule="container:resize_container"),
    Row("mutations.commit_post", "POST", C + f"/commit?repository={COMMIT_REPOSITORY}",
        settle=RUNNING, rule="container:commit"),
    Row("mutations.network_detach_post", "POST", C + "/network_detach?network=bridge",
        rule="container:network_detach"),
    Row("mutations.network_attach_post", "POST", C + "/network_attach?network=bridge",
        rule="container:network_attach"),
    # Docker networks have no security groups: an authorised caller learns it with a 400
    Row("mutations.add_security_group_post", "POST", C + "/add_security_group",
        body={"name": "default"}, version="1.14", expect=(400, 404, 400, 401, 401),
        rule="container:add_security_group"),
    Row("mutations.remove_security_group_post", "POST", C + "/remove_security_group",
        body={"name": "default"}, version="1.14", expect=(400, 404, 400, 401, 401),
        rule="container:remove_security_group"),
    Row("containers.pause_post", "POST", C + "/pause", settle=("Paused",),
        rule="container:pause"),
    Row("containers.unpause_post", "POST", C + "/unpause", settle=RUNNING,
        rule="container:unpause"),
    Row("containers.reboot_post", "POST", C + "/reboot?timeout=1", settle=RUNNING,
        rule="container:reboot"),
    Row("containers.kill_post", "POST", C + "/kill", body={"signal": "SIGKILL"},
        settle=("Stopped",), rule="container:kill"),
    Row("containers.start_post", "POST", C + "/start", settle=RUNNING, rule="container:start"),
    Row("containers.stop_post", "POST", C + "/stop?timeout=1", settle=("Stopped",),
        rule="container:stop"),
    Row("mutations.rebuild_post", "POST", C + "/rebuild", body={},
        settle=("Created", "Stopped"), rule="container:rebuild"),
    Row("containers.delete_delete", "DELETE", C, rule="container:delete"),
]
GLOBAL_ROWS = [
    Row("root.root_get", "GET", "/", expect=(OK, OK, OK, OK, OK)),
    Row("root.v1_get", "GET", "/v1", expect=(OK, OK, OK, OK, OK)),
    Row("openapi.spec_get", "GET", "/v1/openapi.json", expect=(OK, OK, OK, 401, 401)),
    Row("containers.create_post", "POST", "/v1/containers", body={"image": IMAGE},
        expect=(OK, OK, OK, 401, 401), rule="container:create"),
    Row("containers.list_containers_get", "GET", "/v1/containers",
        expect=(OK, OK, OK, 401, 401), rule="container:get_all"),
    Row("quotas.get_quotas_get", "GET", "/v1/quotas/project-a?usages=true",
        expect=(OK, 403, OK, 401, 401)),
    Row("quotas.quota_defaults_get", "GET", "/v1/quotas/project-a/defaults",
        expect=(OK, 403, OK, 401, 401)),
    Row("quotas.update_quotas_put", "PUT", "/v1/quotas/project-a", body={"disk": 100},
        expect=(403, 403, OK, 401, 401)),
    Row("quotas.delete_quotas_delete", "DELETE", "/v1/quotas/project-a",
        expect=(403, 403, OK, 401, 401)),
    Row("quotas.get_quota_class_get", "GET", "/v1/quota_classes/matrix",
        expect=(OK, OK, OK, 401, 401)),
    Row("quotas.update_quota_class_put", "PUT", "/v1/quota_classes/matrix",
        body={"containers": 40}, expect=(403, 403, OK, 401, 401)),
    # the websocket of attach/exec takes a single-use token, not a Keystone token (a real
    # handshake needs no X-Auth-Token: tests/e2e/test_live.py); a plain HTTP request is
    # no handshake, so it is not routed to the proxy and needs a token like any other
    Row("wsproxy.proxy_get", "GET", "/v1/containers/{id}/ws?token=nope",
        expect=(400, 400, 400, 401, 401)),
]


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    return secure_stack(request, tmp_path_factory)


def call(stack: SecureStack, who: str, row: Row, ctx: dict[str, str]):
    client = stack.client(who, **{"OpenStack-API-Version": f"container {row.version}"})
    path = row.path.format(**ctx)
    return client.request(row.method, path, json=row.body)


def matches(expected: Any, status: int) -> bool:
    return 200 <= status < 300 if expected == OK else status == expected


def run_container(client, name: str) -> dict:
    doc = client.create(run=True, name=name, interactive=True, tty=True)
    client.wait_status(doc["uuid"], "Running")
    return doc


def render(rows: list[Row]) -> str:
    width = max(len(r.operation) for r in rows)
    lines = [f"{'operation'.ljust(width)}  " + "  ".join(w.ljust(8) for w in WHO)]
    for r in rows:
        cells = []
        for who, want in zip(WHO, r.expect):
            got = r.codes.get(who)
            mark = "" if got is not None and matches(want, got) else "!"
            cells.append(f"{got}{mark}".ljust(8))
        lines.append(f"{r.operation.ljust(width)}  " + "  ".join(cells))
    return "\n".join(lines)


def test_every_operation_is_in_the_matrix(stack):
    doc = stack.client("admin").get("/v1/openapi.json").json()
    served = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert served == {r.operation for r in ROWS + GLOBAL_ROWS}


def test_authorization_matrix(stack, capsys):
    owner, admin = stack.client("member_a"), stack.client("admin")
    mine = run_container(owner, "matrix-owner")
    for_admin = run_container(owner, "matrix-admin")
    n = 0
    try:
        for row in ROWS:
            ctxs = {}
            for target in (mine, for_admin):
                who = owner if target is mine else admin
                ctxs[target["uuid"]] = {"id": target["uuid"], "n": str(n := n + 1),
                                        "request_id": _create_request(owner, target),
                                        **(row.prepare(who, target["uuid"])
                                           if row.prepare else {})}
            for who in ("member_b", "none", "bad", "member_a"):
                row.codes[who] = call(stack, who, row, ctxs[mine["uuid"]]).status_code
            row.codes["admin"] = call(stack, "admin", row, ctxs[for_admin["uuid"]]).status_code
            for ctx in ctxs.values():
                if "_open" in ctx:
                    ctx["_open"].close()
            for target, client in ((mine, owner), (for_admin, admin)):
                if row.settle:
                    client.wait_status(target["uuid"], *row.settle)
        for row in GLOBAL_ROWS:
            ctx = {"id": mine["uuid"]}
            for who in WHO:
                row.codes[who] = call(stack, who, row, ctx).status_code
    finally:
        table = render(ROWS + GLOBAL_ROWS)
        with capsys.disabled():
            print("\n" + table)
        _clean(stack)
    wrong = [(r.operation, who, r.codes.get(who), want) for r in ROWS + GLOBAL_ROWS
             for who, want in zip(WHO, r.expect) if not matches(want, r.codes.get(who) or 0)]
    assert not wrong, "\n" + table


def _create_request(owner, doc: dict) -> str:
    actions = owner.get(f"/v1/containers/{doc['uuid']}/container_actions").json()
    return actions["containerActions"][0]["request_id"]


def _clean(stack: SecureStack) -> None:
    admin = stack.client("admin")
    for doc in admin.get("/v1/containers?all_projects=1").json()["containers"]:
        admin.delete(f"/v1/containers/{doc['uuid']}?force=true")
    try:
        docker_client().images.remove(f"{COMMIT_REPOSITORY}:latest", force=True)
    except Exception:
        pass


def test_each_endpoint_enforces_its_own_rule(stack):
    """An operator's file that makes every container rule admin-only: the owner is
    refused by each endpoint with the name of that endpoint's rule; the admin is not."""
    owner, admin = stack.client("member_a"), stack.client("admin")
    mine = run_container(owner, "rules-owner")
    ctx = {"id": mine["uuid"], "n": "0", "request_id": _create_request(owner, mine),
           "exec_id": "0" * 64}
    rules = {r.rule for r in ROWS + GLOBAL_ROWS if r.rule}
    refused = {}
    try:
        with stack.policy({rule: "role:admin" for rule in rules}):
            for row in ROWS + GLOBAL_ROWS:
                if row.rule is None:
                    continue
                r = call(stack, "member_a", row, ctx)
                refused[row.operation] = (r.status_code,
                                          r.json()["errors"][0]["detail"] if r.content else "")
            assert admin.get(f"/v1/containers/{mine['uuid']}").status_code == 200
    finally:
        admin.delete(f"/v1/containers/{mine['uuid']}?force=true")
    for row in ROWS + GLOBAL_ROWS:
        if row.rule:
            assert refused[row.operation] == (
                403, f"Policy doesn't allow {row.rule} to be performed."), row.operation


def test_an_override_opens_an_admin_only_key(stack):
    owner = stack.client("member_a")
    doc = owner.create(name="override")
    try:
        assert "host" not in owner.show(doc["uuid"])
        with stack.policy({"container:get_one:host": "@"}):
            shown = owner.show(doc["uuid"])
            assert "host" in shown
            listed = owner.get("/v1/containers").json()["containers"]
            assert all("host" in c for c in listed)
            assert "runtime" not in shown
        assert "host" not in owner.show(doc["uuid"])
    finally:
        stack.client("admin").delete(f"/v1/containers/{doc['uuid']}?force=true")


def test_a_broken_policy_file_keeps_the_rules_in_force(stack):
    clients = [stack.client("member_a") for _ in range(4)]  # connections to both workers
    try:
        stack.write_policy('"container:get_all": "!"\n')
        assert all(c.get("/v1/containers").status_code == 403 for c in clients)
        stack.write_policy("container:get_all: [not, a, rule\n")
        assert all(c.get("/v1/containers").status_code == 403 for c in clients)
    finally:
        stack.write_policy("{}\n")
    assert all(c.get("/v1/containers").status_code == 200 for c in clients)


def test_all_projects_as_zun(stack):
    """Admins address any container by uuid or name, list their own project unless they
    ask for all_projects; a member asking for all_projects is refused."""
    owner, other, admin = (stack.client(w) for w in ("member_a", "member_b", "admin"))
    doc = owner.create(name="everywhere")
    uuid = doc["uuid"]
    try:
        assert admin.show("everywhere")["uuid"] == uuid
        assert uuid not in [c["uuid"] for c in admin.get("/v1/containers").json()["containers"]]
        listed = admin.get("/v1/containers?all_projects=True").json()["containers"]
        assert uuid in [c["uuid"] for c in listed]
        assert admin.get(f"/v1/containers/{uuid}?all_projects=1").status_code == 200
        for client in (owner, other):
            for method, path, rule in (
                    ("GET", "/v1/containers?all_projects=1", "get_all_all_projects"),
                    ("GET", f"/v1/containers/{uuid}?all_projects=1", "get_one_all_projects"),
                    ("DELETE", f"/v1/containers/{uuid}?all_projects=1", "delete_all_projects")):
                r = client.request(method, path)
                assert r.status_code == 403, (method, path, r.text)
                assert r.json()["errors"][0]["detail"] == (
                    f"Policy doesn't allow container:{rule} to be performed.")
        assert other.get("/v1/containers?project_id=project-a").json()["containers"] == []
        assert other.get("/v1/containers/everywhere").status_code == 404
        assert owner.get("/v1/containers?all_projects=0").status_code == 200
    finally:
        admin.delete(f"/v1/containers/{uuid}?force=true")
