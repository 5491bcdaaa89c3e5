"""python-zunclient, unchanged, is a supported client: its Python API and the
`openstack appcontainer` CLI drive a full container life against the Kafka + PostgreSQL
deployment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import docker_container, wait_for

OPENSTACK = str(Path(sys.executable).parent / "openstack")


@pytest.fixture(scope="module")
def osc(deployment):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", f"{deployment.url}/v1",
               "--os-container-api-version", "1.40", "appcontainer", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if check:
            assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done
    run.api = deployment.client()
    return run


def show(osc, name: str) -> dict:
    return json.loads(osc("show", name, "-f", "json").stdout)


def wait_status(osc, name: str, status: str) -> dict:
    """Polls over plain HTTP (each CLI start costs seconds), then shows through the CLI."""
    osc.api.wait_status(name, status)
    return show(osc, name)


def test_cli_full_life(osc, tmp_path):
    osc("run", "--name", "zc-life", "busybox", "sh", "-c",
        "echo hello-from-zun; trap 'exit 0' TERM; while :; do sleep 1; done")
    doc = wait_status(osc, "zc-life", "Running")
    uuid = doc["uuid"]
    assert docker_container(uuid).attrs["State"]["Running"]

    listed = json.loads(osc("list", "-f", "json").stdout)
    assert "zc-life" in [c["name"] for c in listed]

    assert "hello-from-zun" in osc("logs", "zc-life").stdout
    out = osc("exec", "zc-life", "echo", "exec-ok").stdout
    assert "exec-ok" in out
    top = osc("--debug", "top", "zc-life", check=False)  # zunclient's top printer is broken
    assert "Processes" in top.stderr and "sleep" in top.stderr
    stats = osc("stats", "zc-life").stdout
    assert "CPU %" in stats and "MEM USAGE(MiB)" in stats

    src = tmp_path / "note.txt"
    src.write_text("copied in\n")
    osc("cp", str(src), "zc-life:/tmp/")
    dst = tmp_path / "back"
    dst.mkdir()
    osc("cp", "zc-life:/tmp/note.txt", str(dst))
    assert (dst / "note.txt").read_text() == "copied in\n"

    osc("pause", "zc-life")
    wait_status(osc, "zc-life", "Paused")
    osc("unpause", "zc-life")
    wait_status(osc, "zc-life", "Running")
    osc("restart", "zc-life", "--timeout", "1")
    wait_status(osc, "zc-life", "Running")
    osc("stop", "zc-life", "--timeout", "1")
    wait_status(osc, "zc-life", "Stopped")
    osc("start", "zc-life")
    wait_status(osc, "zc-life", "Running")
    osc("kill", "zc-life", "--signal", "SIGKILL")
    wait_status(osc, "zc-life", "Stopped")

    osc("set", "zc-life", "--name", "zc-renamed")
    assert show(osc, "zc-renamed")["uuid"] == uuid
    osc("set", "zc-renamed", "--cpu", "0.5", "--memory", "256")
    doc = show(osc, "zc-renamed")
    assert (doc["cpu"], doc["memory"]) == (0.5, "256")

    osc("start", "zc-renamed")
    wait_status(osc, "zc-renamed", "Running")
    osc("commit", "zc-renamed", "zc-committed:v1")
    from tests.support import docker_client
    wait_for(lambda: docker_client().images.list(name="zc-committed"), 30, "the image")

    actions = json.loads(osc("action", "list", "zc-renamed", "-f", "json").stdout)
    names = [a["action"] for a in actions]
    for expected in ("create", "pause", "unpause", "reboot", "stop", "start", "kill", "commit"):
        assert expected in names, names
    stop = next(a for a in actions if a["action"] == "stop")
    detail = json.loads(osc("action", "show", "zc-renamed", stop["request_id"], "-f",
                            "json").stdout)
    assert detail["action"] == "stop"

    osc("delete", "zc-renamed", "--stop")
    osc.api.wait_gone("zc-renamed")
    wait_for(lambda: docker_container(uuid) is None, 30, "the Docker container to go")
    docker_client().images.remove("zc-committed:v1", force=True)


def test_cli_create_then_start_and_errors(osc):
    osc("create", "--name", "zc-created", "busybox", "sleep", "60")
    wait_status(osc, "zc-created", "Created")
    bad = osc("stop", "zc-created", check=False)
    # zunclient reports per-container failures on stdout and exits 0
    assert "Cannot stop container" in bad.stdout and "in Created state (HTTP 409)" in bad.stdout
    missing = osc("show", "no-such-container", check=False)
    assert missing.returncode != 0 and "could not be found" in missing.stderr
    osc("delete", "zc-created")
    osc.api.wait_gone("zc-created")


def test_python_api(deployment):
    from zunclient import client
    zun = client.Client("1.40", endpoint_override=f"{deployment.url}/v1", auth_token="none")
    c = zun.containers.run(name="zc-py", image="busybox",
                           command=["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"])
    wait_for(lambda: zun.containers.get(c.uuid).status == "Running", 30, "Running")
    assert c.uuid in [x.uuid for x in zun.containers.list()]
    zun.containers.stop(c.uuid, timeout=1)
    wait_for(lambda: zun.containers.get(c.uuid).status == "Stopped", 30, "Stopped")
    actions = zun.actions.list(c.uuid)
    assert [a.action for a in actions] == ["create", "stop"]
    zun.containers.delete(c.uuid)
    wait_for(lambda: not [x for x in zun.containers.list() if x.uuid == c.uuid], 30, "gone")
