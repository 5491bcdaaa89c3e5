"""Live operations (logs, top, stats, execute, resize, attach, archives, network_list)
through the `live` and `replies` topics, each checked against Docker's own view, and the
websocket proxy driven by a real websocket client."""
from __future__ import annotations

import base64
import io
import os
import tarfile
import time

import pytest
import websocket

from commands.kafka_log import KafkaLog
from tests.support import KAFKA, Deployment, docker_container, wait_for

LOOP = "trap 'exit 0' TERM; while :; do sleep 1; done"
STATS_KEYS = {"CONTAINER", "CPU %", "MEM USAGE(MiB)", "MEM LIMIT(MiB)", "MEM %", "BLOCK I/O(B)",
              "NET I/O(B)"}


@pytest.fixture(scope="module")
def api(deployment):
    return deployment.client()


@pytest.fixture(scope="module")
def running(api):
    doc = api.create(run=True, name="live-talker", command=[
        "sh", "-c", f"echo hello-live; echo oops-live >&2; echo second-line; {LOOP}"])
    return api.wait_status(doc["uuid"], "Running")


@pytest.fixture(scope="module")
def created(api):
    doc = api.create(run=False, name="live-idle")
    return api.wait_status(doc["uuid"], "Created")


@pytest.fixture(scope="module")
def terminal(api):
    doc = api.create(run=True, name="live-tty", interactive=True, tty=True, command=["sh"])
    return api.wait_status(doc["uuid"], "Running")


def detail(resp) -> str:
    return resp.json()["errors"][0]["detail"]


def code(resp) -> str:
    return resp.json()["errors"][0]["code"]


def tar_of(name: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def untar(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.extractfile(name).read()


def read_until(ws, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        assert time.monotonic() < deadline, f"{needle!r} not seen in {buf!r}"
        data = ws.recv()
        buf += data.encode() if isinstance(data, str) else data
    return buf


def live_records(deployment, kind: str, request_id: str) -> list:
    """Records of one request on a deployment's topic (the audit trail)."""
    log = KafkaLog(KAFKA)
    topic = f"{deployment.name}.{kind}"
    reader = log.reader()
    try:
        reader.assign({(topic, p): 0 for p in log.partitions(topic)})
        ends = reader.end_offsets()
        seen, found = {}, []
        while any(seen.get(k, 0) < v for k, v in ends.items()):
            for r in reader.poll(1.0):
                seen[(r.topic, r.partition)] = r.offset + 1
                if r.value.get("request_id") == request_id:
                    found.append(r.value)
        return found
    finally:
        reader.close()
        log.close()


# --- logs, top, stats ----------------------------------------------------------------------

def test_logs_show_what_the_container_printed(api, running, deployment):
    uuid = running["uuid"]
    r = api.get(f"/v1/containers/{uuid}/logs")
    assert r.status_code == 200
    assert r.json() == docker_container(uuid).logs().decode()
    assert {"hello-live", "oops-live", "second-line"} <= set(r.json().split())

    assert "oops-live" not in api.get(f"/v1/containers/{uuid}/logs?stderr=false").json()
    assert api.get(f"/v1/containers/live-talker/logs?stdout=0").json().split() == ["oops-live"]
    # stdout and stderr interleave in the engine's own order: compare with Docker's tail
    tail = api.get(f"/v1/containers/{uuid}/logs?tail=1").json()
    assert tail == docker_container(uuid).logs(tail=1).decode()
    assert len(tail.splitlines()) == 1
    stamped = api.get(f"/v1/containers/{uuid}/logs?timestamps=True").json().splitlines()
    assert all(line[:4].isdigit() and line[10] == "T" for line in stamped)
    future = int(time.time()) + 3600
    assert api.get(f"/v1/containers/{uuid}/logs?since={future}").json() == ""

    # audited: the command on the live topic, the answer on the replies topic
    rid = r.headers["X-Openstack-Request-Id"]
    [cmd] = live_records(deployment, "live", rid)
    assert (cmd["kind"], cmd["type"], cmd["container_uuid"]) == ("command", "logs", uuid)
    [reply] = live_records(deployment, "replies", rid)
    assert (reply["kind"], reply["status"], reply["error"]) == ("reply", 200, None)


def test_logs_refuse_bad_query(api, running):
    uuid = running["uuid"]
    r = api.get(f"/v1/containers/{uuid}/logs?stdout=maybe")
    assert r.status_code == 400 and code(r) == "container.schema-validation-error"
    assert detail(r).startswith("Invalid input for query parameters 'stdout'. Value: 'maybe'.")
    r = api.get(f"/v1/containers/{uuid}/logs?since=yesterday")
    assert r.status_code == 400 and "'since'" in detail(r)
    r = api.get(f"/v1/containers/{uuid}/logs?color=1")
    assert r.status_code == 400
    assert detail(r) == "Additional properties are not allowed ('color' was unexpected)"


def test_top_lists_the_process(api, running):
    uuid = running["uuid"]
    pid = str(docker_container(uuid).attrs["State"]["Pid"])
    r = api.get(f"/v1/containers/{uuid}/top")
    assert r.status_code == 200
    top = r.json()
    assert top["Titles"][:2] == ["UID", "PID"]
    assert pid in [p[1] for p in top["Processes"]]
    assert any("hello-live" in p[-1] for p in top["Processes"])
    aux = api.get(f"/v1/containers/{uuid}/top?ps_args=aux").json()
    assert "USER" in aux["Titles"] and pid in [p[1] for p in aux["Processes"]]
    assert api.get(f"/v1/containers/{uuid}/top?ps_args=aux;id").status_code == 400


def test_stats_have_zuns_keys(api, running):
    uuid = running["uuid"]
    r = api.get(f"/v1/containers/{uuid}/stats")
    assert r.status_code == 200
    stats = r.json()
    assert set(stats) == STATS_KEYS
    assert stats["CONTAINER"] == "live-talker"
    limit = docker_container(uuid).attrs["HostConfig"]["Memory"]
    assert stats["MEM LIMIT(MiB)"] == limit / 1024 / 1024 == 512
    assert 0 < stats["MEM USAGE(MiB)"] < 512 and 0 <= stats["MEM %"] < 100
    for key in ("BLOCK I/O(B)", "NET I/O(B)"):
        read, _, write = stats[key].partition("/")
        assert read.isdigit() and write.isdigit()


# --- execute ---------------------------------------------------------------------------------

def test_execute_returns_output_and_exit_code(api, running):
    uuid = running["uuid"]
    r = api.post(f"/v1/containers/{uuid}/execute",
                 params={"command": "sh -c 'echo out; echo err >&2; exit 3'"})
    assert r.status_code == 200
    body = r.json()
    assert sorted(body["output"].splitlines()) == ["err", "out"]   # two streams, any order
    assert (body["exit_code"], body["exec_id"], body["proxy_url"]) == (3, None, None)
    r = api.post(f"/v1/containers/{uuid}/execute", json={"command": "touch /tmp/by-exec"})
    assert r.status_code == 200 and r.json()["exit_code"] == 0
    assert docker_container(uuid).exec_run("ls /tmp/by-exec").exit_code == 0


def test_execute_refuses_bad_input(api, running):
    uuid = running["uuid"]
    r = api.post(f"/v1/containers/{uuid}/execute")
    assert r.status_code == 400 and detail(r) == "'command' is a required property"
    r = api.post(f"/v1/containers/{uuid}/execute", params={"command": ""})
    assert r.status_code == 400 and "'command'" in detail(r)
    r = api.post(f"/v1/containers/{uuid}/execute", params={"command": "ls", "run": "maybe"})
    assert r.status_code == 400 and "'run'" in detail(r)
    r = api.post(f"/v1/containers/{uuid}/execute_resize",
                 params={"exec_id": "f" * 64, "h": 10, "w": 10})
    assert r.status_code == 400 and detail(r).startswith("no such exec instance")
    r = api.post(f"/v1/containers/{uuid}/execute_resize",
                 params={"exec_id": "nothex", "h": 10, "w": 10})
    assert r.status_code == 400 and "'exec_id'" in detail(r)
    r = api.post(f"/v1/containers/{uuid}/resize", params={"h": 0, "w": 10})
    assert r.status_code == 400 and "'h'" in detail(r)


# --- archives ---------------------------------------------------------------------------------

def test_archive_round_trip(api, running):
    uuid = running["uuid"]
    r = api.post(f"/v1/containers/{uuid}/put_archive", json={
        "path": "/tmp", "data": base64.b64encode(tar_of("hello.txt", b"round-trip\n")).decode()})
    assert r.status_code == 200 and r.json() is None
    bits, _ = docker_container(uuid).get_archive("/tmp/hello.txt")
    assert untar(b"".join(bits), "hello.txt") == b"round-trip\n"

    r = api.get(f"/v1/containers/{uuid}/get_archive", params={"path": "/tmp/hello.txt"})
    assert r.status_code == 200
    assert untar(base64.b64decode(r.json()["data"]), "hello.txt") == b"round-trip\n"
    assert (r.json()["stat"]["name"], r.json()["stat"]["size"]) == ("hello.txt", 11)

    old = {"OpenStack-API-Version": "container 1.24"}   # raw bytes before 1.25
    raw = tar_of("old.txt", b"\x00\xffraw\n").decode("latin-1")
    r = api.post(f"/v1/containers/{uuid}/put_archive", headers=old,
                 json={"path": "/tmp", "data": raw})
    assert r.status_code == 200
    r = api.get(f"/v1/containers/{uuid}/get_archive", headers=old, params={"path": "/tmp/old.txt"})
    assert untar(r.json()["data"].encode("latin-1"), "old.txt") == b"\x00\xffraw\n"


def test_large_archive_travels_in_parts(api, running):
    """~800 KiB of base64 each way: more than a Kafka record holds by default."""
    uuid = running["uuid"]
    blob = os.urandom(600 * 1024)
    r = api.post(f"/v1/containers/{uuid}/put_archive", json={
        "path": "/tmp", "data": base64.b64encode(tar_of("big.bin", blob)).decode()})
    assert r.status_code == 200, r.text
    r = api.get(f"/v1/containers/{uuid}/get_archive", params={"path": "/tmp/big.bin"})
    assert r.status_code == 200
    assert untar(base64.b64decode(r.json()["data"]), "big.bin") == blob


def test_archive_refuses_bad_input(api, running):
    uuid = running["uuid"]
    r = api.get(f"/v1/containers/{uuid}/get_archive")
    assert r.status_code == 400 and detail(r) == "'path' is a required property"
    r = api.get(f"/v1/containers/{uuid}/get_archive", params={"path": "/no/such/file"})
    assert r.status_code == 400 and "/no/such/file" in detail(r)
    r = api.post(f"/v1/containers/{uuid}/put_archive", json={"path": "/tmp", "data": "!!x"})
    assert r.status_code == 400 and code(r) == "container.base64-exception"
    assert detail(r) == "Invalid Base 64 file data"
    data = base64.b64encode(tar_of("x.txt", b"x")).decode()
    r = api.post(f"/v1/containers/{uuid}/put_archive", json={"path": "/no/dir", "data": data})
    assert r.status_code == 400 and "/no/dir" in detail(r)


# --- networks ------------------------------------------------------------------------------

def test_network_list_shows_the_bridge(api, running):
    uuid = running["uuid"]
    bridge = docker_container(uuid).attrs["NetworkSettings"]["Networks"]["bridge"]
    r = api.get(f"/v1/containers/{uuid}/network_list")
    assert r.status_code == 200
    assert r.json() == {"networks": [{
        "net_id": bridge["NetworkID"], "port_id": bridge["EndpointID"],
        "fixed_ips": [{"ip_address": bridge["IPAddress"], "version": 4, "subnet_id": None}]}]}
    legacy = api.get(f"/v1/containers/{uuid}/network_list",
                     headers={"OpenStack-API-Version": "container 1.17"}).json()
    assert legacy == {"networks": [{"net_id": bridge["NetworkID"], "port_id": bridge["EndpointID"],
                                    "ip_address": bridge["IPAddress"], "version": 4,
                                    "subnet_id": None}]}
    r = api.get(f"/v1/containers/{uuid}/network_list",
                headers={"OpenStack-API-Version": "container 1.12"})
    assert r.status_code == 406


# --- errors every live operation shares -------------------------------------------------------

def test_wrong_state_is_409(api, created):
    uuid = created["uuid"]
    for action, method, path, params in (
            ("top", "GET", "top", {}), ("stats", "GET", "stats", {}),
            ("execute", "POST", "execute", {"command": "ls"}), ("attach", "GET", "attach", {}),
            ("resize", "POST", "resize", {"h": 10, "w": 10}),
            ("execute_resize", "POST", "execute_resize", {"exec_id": "a" * 64, "h": 1, "w": 1})):
        r = api.request(method, f"/v1/containers/{uuid}/{path}", params=params)
        assert r.status_code == 409, (action, r.text)
        assert code(r) == "container.invalid-state-exception"
        assert detail(r) == f"Cannot {action} container {uuid} in Created state"
    assert api.get(f"/v1/containers/{uuid}/logs").json() == ""   # logs allow Created


def test_other_projects_container_is_404(deployment, running):
    other = deployment.client(**{"X-Project-Id": "another-project"})
    uuid = running["uuid"]
    data = base64.b64encode(tar_of("x", b"x")).decode()
    for method, path, params in (
            ("GET", "logs", {}), ("GET", "top", {}), ("GET", "stats", {}),
            ("POST", "execute", {"command": "ls"}), ("GET", "attach", {}),
            ("POST", "resize", {"h": 5, "w": 5}), ("GET", "network_list", {}),
            ("POST", "execute_resize", {"exec_id": "a" * 64, "h": 1, "w": 1}),
            ("GET", "get_archive", {"path": "/"}), ("POST", "put_archive", {"path": "/tmp"})):
        kw = {"json": {"data": data}} if path == "put_archive" else {}
        r = other.request(method, f"/v1/containers/{uuid}/{path}", params=params, **kw)
        assert r.status_code == 404, (path, r.text)
        assert detail(r) == f"Container {uuid} could not be found."


# --- websocket proxy --------------------------------------------------------------------------

def test_interactive_exec_over_the_websocket_proxy(api, running):
    uuid = running["uuid"]
    r = api.post(f"/v1/containers/{uuid}/execute",
                 params={"command": "sh", "run": "false", "interactive": "true"})
    assert r.status_code == 200
    body = r.json()
    assert body["output"] is None and body["exit_code"] is None
    assert len(body["exec_id"]) == 64
    exec_info = docker_container(uuid).client.api.exec_inspect(body["exec_id"])
    assert exec_info["ProcessConfig"]["tty"] and exec_info["OpenStdin"]

    ws = websocket.create_connection(body["proxy_url"], timeout=10,
                                     subprotocols=["binary", "base64"])
    try:
        ws.send("echo live-$((6*7))\n")
        assert b"live-42" in read_until(ws, b"live-42")
        r = api.post(f"/v1/containers/{uuid}/execute_resize",
                     params={"exec_id": body["exec_id"], "h": 40, "w": 100})
        assert r.status_code == 200 and r.json() is None
        ws.send("stty size\n")
        read_until(ws, b"40 100")
    finally:
        ws.close()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(body["proxy_url"], timeout=10)
    assert refused.value.status_code == 403
    wrong = body["proxy_url"].split("?")[0] + "?token=not-a-token"
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(wrong, timeout=10)


def test_attach_over_the_websocket_proxy(api, terminal, running):
    r = api.get(f"/v1/containers/{running['uuid']}/attach")
    assert r.status_code == 400 and code(r) == "container.no-interactive-flag"

    uuid = terminal["uuid"]
    r = api.get(f"/v1/containers/{uuid}/attach")
    assert r.status_code == 200
    url = r.json()
    assert url.startswith("ws://") and f"/v1/containers/{uuid}/ws?token=" in url
    ws = websocket.create_connection(url, timeout=10)
    try:
        r = api.post(f"/v1/containers/{uuid}/resize", params={"h": 50, "w": 132})
        assert r.status_code == 200 and r.json() is None
        ws.send("stty size; echo attached-$((1+1))\n")
        out = read_until(ws, b"attached-2")
        assert b"50 132" in out
    finally:
        ws.close()


# --- the embedded `up` ------------------------------------------------------------------------

def test_live_operations_on_embedded(embedded):
    api = embedded.client()
    doc = api.create(run=True, name="emb-live",
                     command=["sh", "-c", f"echo embedded-hello; {LOOP}"])
    uuid = api.wait_status(doc["uuid"], "Running")["uuid"]
    wait_for(lambda: "embedded-hello" in api.get(f"/v1/containers/{uuid}/logs").json(), 10,
             "the log line")
    r = api.post(f"/v1/containers/{uuid}/execute", params={"command": "echo via-up"})
    assert r.json()["output"] == "via-up\n" and r.json()["exit_code"] == 0
    body = api.post(f"/v1/containers/{uuid}/execute",
                    params={"command": "sh", "run": "false", "interactive": "true"}).json()
    ws = websocket.create_connection(body["proxy_url"], timeout=10)
    try:
        ws.send("echo up-$((2*21))\n")
        read_until(ws, b"up-42")
    finally:
        ws.close()


# --- no worker: 504, and what was asked meanwhile never runs late -----------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("live-small"), mode="kafka", extra_env={
        "ZUN_LIVE_TIMEOUT": "3", "ZUN_MAX_LOG_BYTES": "100", "ZUN_MAX_EXEC_OUTPUT_BYTES": "100",
        "ZUN_MAX_ARCHIVE_BYTES": "4096", "ZUN_WS_IDLE_TIMEOUT": "2"}).start()
    yield d
    d.stop()


def test_idle_websocket_is_closed(small):
    api = small.client()
    uuid = api.wait_status(api.create(run=True)["uuid"], "Running")["uuid"]
    body = api.post(f"/v1/containers/{uuid}/execute",
                    params={"command": "sh", "run": "false", "interactive": "true"}).json()
    ws = websocket.create_connection(body["proxy_url"], timeout=15)
    started = time.monotonic()
    try:
        while ws.recv():    # the shell's prompt, then the close frame after 2 s of silence
            pass
    except websocket.WebSocketConnectionClosedException:
        pass
    assert 2 <= time.monotonic() - started < 6
    ws.close()


def test_caps_and_no_worker(small):
    api = small.client()
    doc = api.create(run=True, command=["sh", "-c", f"seq 1 500; {LOOP}"])
    uuid = api.wait_status(doc["uuid"], "Running")["uuid"]

    text = wait_for(lambda: (lambda t: t if t.endswith("500\n") else None)(
        api.get(f"/v1/containers/{uuid}/logs").json()), 10, "the whole log")
    assert len(text.encode()) == 100 and "\n499\n500\n" in text        # the tail is kept
    out = api.post(f"/v1/containers/{uuid}/execute", params={"command": "seq 1 300"}).json()
    assert len(out["output"]) == 100 and out["output"].endswith("299\n300\n")
    r = api.get(f"/v1/containers/{uuid}/get_archive", params={"path": "/bin"})
    assert r.status_code == 400 and "larger than 4096 bytes" in detail(r)
    big = base64.b64encode(tar_of("big", b"x" * 8192)).decode()
    r = api.post(f"/v1/containers/{uuid}/put_archive", json={"path": "/tmp", "data": big})
    assert r.status_code == 400 and "larger than 4096 bytes" in detail(r)

    small.kill("worker")
    started = time.monotonic()
    r = api.get(f"/v1/containers/{uuid}/logs")
    assert r.status_code == 504
    assert 3 <= time.monotonic() - started < 6
    assert r.json()["errors"][0]["status"] == 504
    assert "No compute host answered the logs request" in detail(r)
    r = api.post(f"/v1/containers/{uuid}/execute", params={"command": "touch /tmp/too-late"})
    assert r.status_code == 504

    small.processes["worker"].start()
    wait_for(lambda: api.get(f"/v1/containers/{uuid}/logs?tail=1").status_code == 200, 30,
             "the restarted worker to answer")
    assert docker_container(uuid).exec_run("ls /tmp/too-late").exit_code != 0
