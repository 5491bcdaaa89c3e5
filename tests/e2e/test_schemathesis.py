"""Property-based run of schemathesis against the running service (Kafka + PostgreSQL +
Docker), driven by the service's own OpenAPI document: every operation, as a member and
as an admin, with positive and negative data; no response may be a server error or
stray from the documented status codes, content types and schemas.

ZUN_SCHEMATHESIS_EXAMPLES sets the examples per operation and role (default 6, about a
minute); e.g. 80 generates over 5,000 requests. Path identifiers are mostly replaced by
the names and uuids of a few real containers (running, stopped, paused, created) so
that the run gets past 404; images become the local busybox (no registry exists) and
commits go to one repository that is removed afterwards."""
from __future__ import annotations

import os
import re
import secrets
import zlib
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.openapi import OPERATIONS
from tests.support import IMAGE, Deployment, docker_client, wait_for

EXAMPLES = int(os.environ.get("ZUN_SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = [schemathesis.checks.not_a_server_error,
          schemathesis.checks.response_schema_conformance,
          schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance]
PROJECT = f"fuzz-{secrets.token_hex(4)}"
COMMIT_REPOSITORY = f"zunfuzz{secrets.token_hex(4)}"
IMAGE_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]")
ROLES = {"member": "member", "admin": "admin,member"}

STATS: Counter = Counter()
POOL: list[str] = []


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("fuzz"), mode="kafka",
                   extra_env={"ZUN_LIVE_TIMEOUT": "5", "ZUN_READ_YOUR_WRITES_TIMEOUT": "5",
                              "ZUN_QUOTA_DEFAULTS": "containers=25"}).start()
    member = d.client(**{"X-Project-Id": PROJECT})
    long_running = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    running = member.create(run=True, name="fuzz-running", interactive=True, tty=True)
    stopped = member.create(run=True, name="fuzz-stopped")
    paused = member.create(run=True, name="fuzz-paused", command=long_running)
    created = member.create(name="fuzz-created")
    for doc in (running, stopped, paused):
        member.wait_status(doc["uuid"], "Running")
    member.wait_status(created["uuid"], "Created")
    assert member.post(f"/v1/containers/{stopped['uuid']}/stop").status_code == 202
    assert member.post(f"/v1/containers/{paused['uuid']}/pause").status_code == 202
    member.wait_status(stopped["uuid"], "Stopped")
    member.wait_status(paused["uuid"], "Paused")
    for doc in (running, stopped, paused, created):
        POOL.extend([doc["uuid"], doc["name"]])
    yield d
    d.stop()
    try:
        docker_client().images.remove(f"{COMMIT_REPOSITORY}:latest", force=True)
    except Exception:
        pass
    print(f"\nschemathesis: {sum(STATS.values())} requests, by status: "
          f"{dict(sorted(STATS.items()))}")


@pytest.fixture(scope="module")
def api_schema(fuzz_target):
    return schemathesis.openapi.from_url(
        f"{fuzz_target.url}/v1/openapi.json", headers={"X-Project-Id": PROJECT})


def _pick(value: object) -> object:
    """Mostly one of the pool's identifiers, sometimes the generated value."""
    slot = zlib.crc32(repr(value).encode()) % (len(POOL) + 2)
    return POOL[slot] if slot < len(POOL) else value


def _tame(case) -> None:
    """Keep the run on this machine: no image pulls, commits to one repository."""
    if case.path_parameters and "ident" in case.path_parameters:
        case.path_parameters["ident"] = _pick(case.path_parameters["ident"])
    body = case.body if isinstance(case.body, dict) else None
    if body is not None:
        image = body.get("image")
        if (isinstance(image, str) and 2 <= len(image) <= 255 and IMAGE_PATTERN.search(image)
                and "\x00" not in image):
            body["image"] = IMAGE
        if isinstance(body.get("image_pull_policy"), str):
            body["image_pull_policy"] = "ifnotpresent"
    query = case.query if isinstance(case.query, dict) else None
    if query is not None and isinstance(query.get("repository"), str):
        query["repository"] = COMMIT_REPOSITORY


OPERATION_IDS = sorted(f"{endpoint}_{method.lower()}" for endpoint, method in OPERATIONS)


def test_every_served_operation_is_fuzzed(fuzz_target):
    doc = fuzz_target.client(**{"X-Project-Id": PROJECT}).get("/v1/openapi.json").json()
    served = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert served == set(OPERATION_IDS)


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_operation(operation_id, role, api_schema, fuzz_target):
    operation = api_schema.find_operation_by_id(operation_id)
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))
    headers = {"X-Project-Id": PROJECT, "X-Roles": ROLES[role],
               "OpenStack-API-Version": "container latest"}

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def fuzz(case):
        _tame(case)
        response = case.call(base_url=fuzz_target.url, headers=headers, timeout=60)
        STATS[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()


def test_the_pool_survived_enough_to_matter(fuzz_target):
    """The run reached real containers, not only 404s."""
    assert sum(STATS.values()) > 0
    assert STATS[404] < sum(STATS.values())
    wait_for(lambda: fuzz_target.client().get("/").status_code == 200, 10, "the API")
