"""Create's fields end to end: microversion gating (schema variants and Zun's
version_check), policies, normalisation, and the settings the Docker container really
gets (docker inspect)."""
from __future__ import annotations

import base64
import io
import random
import re
import tarfile
import uuid as uuidlib

import pytest

from tests.e2e.helpers import assert_error, v
from tests.support import docker_client, docker_container

LOOP = "trap 'exit 0' TERM; while :; do sleep 1; done"


def create(api, made: list[str], version: str = "latest", run: bool = False, **body):
    body.setdefault("image", "busybox:latest")
    r = api.post("/v1/containers" + ("?run=true" if run else ""), json=body,
                 headers=v(version))
    if r.status_code == 202:
        made.append(r.json()["uuid"])
    return r


def test_every_field_reaches_docker(deployment, admin, made):
    r = create(admin, made, name="all-fields", command=[LOOP], entrypoint=["sh", "-c"],
               cpu=0.5, memory=32, workdir="/tmp", environment={"A": "1"},
               labels={"team": "blue", "zun.uuid": "spoofed"}, interactive=True, tty=True,
               restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
               hostname="fields-host", runtime="runc", auto_heal=True,
               healthcheck={"cmd": "true", "interval": 5, "retries": 2, "timeout": 3},
               exposed_ports={"80/tcp": {}, "53/udp": {}, "22": {}},
               mounts=[{"source": "data1", "destination": "/data"},
                       {"size": 1, "destination": "/scratch"}],
               host=deployment.host, image_pull_policy="ifnotpresent")
    assert r.status_code == 202, r.text
    body = r.json()
    uid = body["uuid"]
    assert r.headers["Location"].endswith(f"/v1/containers/{uid}")
    assert body["status"] == "Creating"
    assert body["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": "3"}
    assert body["healthcheck"] == {"test": "true", "interval": 5, "retries": 2, "timeout": 3}
    assert (body["ports"], body["cpu"], body["memory"]) == ([22, 53, 80], 0.5, "32")
    assert (body["runtime"], body["hostname"], body["entrypoint"]) == \
        ("runc", "fields-host", ["sh", "-c"])
    assert admin.wait_status(uid, "Created")["host"] == deployment.host

    attrs = docker_container(uid).attrs
    cfg, hc = attrs["Config"], attrs["HostConfig"]
    assert (cfg["Hostname"], cfg["WorkingDir"], cfg["Tty"], cfg["OpenStdin"]) == \
        ("fields-host", "/tmp", True, True)
    assert (cfg["Entrypoint"], cfg["Cmd"]) == (["sh", "-c"], [LOOP])
    assert "A=1" in cfg["Env"]
    assert cfg["Labels"]["team"] == "blue" and cfg["Labels"]["zun.uuid"] == uid
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp", "22/tcp"}
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5 * 10 ** 9,
                                  "Timeout": 3 * 10 ** 9, "Retries": 2}
    assert hc["Runtime"] == "runc" and hc["Privileged"] is False
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert (hc["CpuQuota"], hc["CpuShares"], hc["Memory"]) == (50000, 512, 32 * 2 ** 20)
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    assert mounts["/data"]["Type"] == "volume"
    assert re.fullmatch(r"zun-[0-9a-f]{12}-data1", mounts["/data"]["Name"])
    assert mounts["/scratch"]["Type"] == "volume"  # anonymous, removed with the container
    admin.delete(f"/v1/containers/{uid}?force=true")
    admin.wait_gone(uid)
    docker_client().volumes.get(mounts["/data"]["Name"]).remove()


def test_named_volumes_are_per_project(deployment, made):
    names = []
    for project in ("project-a", "project-b"):
        api = deployment.client(**{"X-Project-Id": project})
        r = create(api, made, mounts=[{"source": "shared", "destination": "/d"}])
        assert r.status_code == 202, r.text
        api.wait_status(r.json()["uuid"], "Created")
        names.append(docker_container(r.json()["uuid"]).attrs["Mounts"][0]["Name"])
    assert names[0] != names[1] and all(n.endswith("-shared") for n in names)
    admin = deployment.client(**{"X-Roles": "admin"})
    for u in made:
        admin.delete(f"/v1/containers/{u}?force=true")
        admin.wait_gone(u)
    for n in names:
        docker_client().volumes.get(n).remove()


def test_defaults_and_generated_name(admin, made):
    r = create(admin, made)
    assert r.status_code == 202, r.text
    body = r.json()
    assert re.fullmatch(r"[a-z]+-\d{1,2}-container", body["name"])
    assert (body["memory"], body["cpu"], body["environment"], body["restart_policy"]) == \
        ("512", 1.0, {}, {})
    assert (body["runtime"], body["hostname"], body["command"]) == (None, None, [])
    admin.wait_status(body["uuid"], "Created")
    hc = docker_container(body["uuid"]).attrs["HostConfig"]
    assert (hc["Memory"], hc["CpuQuota"], hc["CpuShares"]) == (512 * 2 ** 20, 100000, 1024)


def test_legacy_string_command_before_1_20(client, made):
    r = create(client, made, "1.19", command=f'sh -c "{LOOP}"')
    assert r.status_code == 202, r.text
    assert r.json()["command"] == ["sh", "-c", LOOP]
    client.wait_status(r.json()["uuid"], "Created")
    assert docker_container(r.json()["uuid"]).attrs["Config"]["Cmd"] == ["sh", "-c", LOOP]
    assert_error(create(client, made, "1.20", command="ls"), 400,
                 "container.schema-validation-error",
                 "Invalid input for field 'command'.Value: 'ls'. 'ls' is not of type 'array', "
                 "'null'")
    assert_error(create(client, made, "1.19", command=["ls"]), 400,
                 "container.schema-validation-error",
                 "Invalid input for field 'command'.Value: '['ls']'. ['ls'] is not of type "
                 "'string', 'null'")


@pytest.mark.parametrize("param,value,below,first", [
    ("auto_remove", True, "1.2", "1.3"),
    ("runtime", "runc", "1.4", "1.5"),
    ("hostname", "h1", "1.8", "1.9"),
    ("mounts", [{"source": "v", "destination": "/d"}], "1.10", "1.11"),
    ("privileged", False, "1.20", "1.21"),
    ("healthcheck", {"cmd": "true"}, "1.21", "1.22"),
    ("exposed_ports", {"80": {}}, "1.23", "1.24"),
    ("registry", "reg1", "1.30", "1.31"),
])
def test_parameters_below_their_microversion(admin, made, param, value, below, first):
    r = create(admin, made, below, **{param: value})
    assert_error(r, 400, "container.invalid-param-in-version",
                 f"Invalid param {param} because current request version is {below}. "
                 f"{param} is only supported from version {first}")


@pytest.mark.parametrize("param,value,below", [("host", "h", "1.38"),
                                               ("entrypoint", ["sh"], "1.39")])
def test_schema_variants_below_their_microversion(admin, made, param, value, below):
    assert_error(create(admin, made, below, **{param: value}), 400,
                 "container.schema-validation-error",
                 f"Additional properties are not allowed ('{param}' was unexpected)")


def test_admin_only_and_denied_parameters(deployment, client, admin, made):
    for body, rule in (({"runtime": "runc"}, "create:runtime"),
                       ({"privileged": False}, "create:privileged"),
                       ({"host": deployment.host}, "create:requested_destination"),
                       ({"image_pull_policy": "never"}, "create:image_pull_policy")):
        assert_error(create(client, made, **body), 403, "container.policy-not-authorized",
                     f"Policy doesn't allow container:{rule} to be performed.")
    assert_error(create(admin, made, privileged=True), 403, "container.policy-not-authorized",
                 "Policy doesn't allow container:create:privileged to be performed.")
    assert_error(create(admin, made, host="no-such-host"), 404,
                 "container.requested-host-not-found",
                 "Requested host no-such-host could not be found.")
    assert_error(create(client, made, registry="reg1"), 404, "container.registry-not-found",
                 "Registry reg1 could not be found.")
    assert_error(create(client, made, security_groups=["default"]), 400, "container.invalid",
                 "Security groups are not supported: containers are attached to Docker "
                 "networks, which have no security groups.")


def test_restart_policy_and_port_normalisation(client, made):
    r = create(client, made, restart_policy={"Name": "no", "MaximumRetryCount": "6"})
    assert r.json()["restart_policy"] == {"Name": "no", "MaximumRetryCount": "0"}
    r = create(client, made, restart_policy={"Name": "unless-stopped"})
    assert r.json()["restart_policy"] == {"Name": "unless-stopped", "MaximumRetryCount": "0"}
    client.wait_status(r.json()["uuid"], "Created")
    assert docker_container(r.json()["uuid"]).attrs["HostConfig"]["RestartPolicy"]["Name"] == \
        "unless-stopped"
    assert_error(create(client, made, restart_policy={"Name": "always",
                                                      "MaximumRetryCount": "1"}),
                 400, "container.invalid-value",
                 "maximum retry count not valid with restart policy of always")
    assert_error(create(client, made, exposed_ports={"foo": {}}), 400, "container.invalid-value",
                 "value foo is invalid as publish port.")
    assert_error(create(client, made, exposed_ports={"80/foo": {}}), 400,
                 "container.invalid-value", "value foo is an invalid protocol")


def test_auto_remove_and_several_networks(deployment, client, made):
    from docker.types import IPAMConfig, IPAMPool
    dc = docker_client()
    subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
    first = dc.networks.create(f"zun-test-{uuidlib.uuid4().hex[:8]}")
    second = dc.networks.create(f"zun-test-{uuidlib.uuid4().hex[:8]}",
                                ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=f"{subnet}.0/24")]))
    try:
        r = create(client, made, "1.3", run=True, auto_remove=True, command=f'sh -c "{LOOP}"',
                   nets=[{"network": first.name},
                         {"network": second.id, "v4-fixed-ip": f"{subnet}.7"}])
        assert r.status_code == 202, r.text
        uid = r.json()["uuid"]
        shown = client.wait_status(uid, "Running")
        attrs = docker_container(uid).attrs
        assert attrs["HostConfig"]["AutoRemove"] is True
        nets = attrs["NetworkSettings"]["Networks"]
        assert set(nets) == {first.name, second.name}
        assert nets[second.name]["IPAddress"] == f"{subnet}.7"
        assert set(shown["addresses"]) == {first.id, second.id}

        r = create(client, made, nets=[{"network": "zun-no-such-net"}])
        failed = client.wait_status(r.json()["uuid"], "Error")
        assert failed["status_reason"] == "Network zun-no-such-net could not be found."
        assert docker_container(failed["uuid"]) is None
        assert_error(create(client, made, nets=[{"network": "x", "v4-fixed-ip": "1.2.3"}]), 400,
                     "container.schema-validation-error",
                     startswith="Invalid input for field 'nets'.")
    finally:
        admin = deployment.client(**{"X-Roles": "admin"})
        for u in made:
            admin.delete(f"/v1/containers/{u}?force=true")
            admin.wait_gone(u)
        first.remove()
        second.remove()


def test_privileged_and_injected_files_under_a_permissive_policy(policy_deployment):
    admin = policy_deployment.client(**{"X-Roles": "admin"})
    content = b"hello from zun\n"
    r = admin.post("/v1/containers", json={
        "image": "busybox:latest", "command": ["sh", "-c", LOOP], "privileged": True,
        "mounts": [{"type": "bind", "source": base64.b64encode(content).decode(),
                    "destination": "/etc/zun/greeting"}]})
    assert r.status_code == 202, r.text
    uid = r.json()["uuid"]
    assert r.json()["privileged"] is True
    admin.wait_status(uid, "Created")
    c = docker_container(uid)
    assert c.attrs["HostConfig"]["Privileged"] is True
    assert c.attrs["Mounts"] == []  # a file written into the container, not a host path
    stream, _ = c.get_archive("/etc/zun/greeting")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        assert tar.extractfile("greeting").read() == content
    assert_error(admin.post("/v1/containers", json={
        "image": "busybox:latest",
        "mounts": [{"type": "bind", "source": "%%%", "destination": "/x"}]}),
        400, "container.base64-exception", "Invalid Base 64 file data")
    member = policy_deployment.client()
    assert_error(member.post("/v1/containers", json={
        "image": "busybox:latest",
        "mounts": [{"type": "bind", "source": "aGk=", "destination": "/x"}]}),
        403, "container.policy-not-authorized",
        "Policy doesn't allow container:create:mounts_bind to be performed.")
    admin.delete(f"/v1/containers/{uid}?force=true")
