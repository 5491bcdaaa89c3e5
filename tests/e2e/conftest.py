"""Fixtures of the e2e tests that change containers: `made` (containers a test creates,
force-deleted afterwards) and a second, embedded deployment under an operator's policy
file, for what the default policy never lets through (privileged, bind mounts) or never
refuses an owner (the 403s of the container-changing endpoints, for a `reader` role)."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import READER_DENIED
from tests.support import Deployment

POLICY = "\n".join(
    ['"container:create:privileged": "role:admin"',
     '"container:create:mounts_bind": "role:admin"'] +
    [f'"container:{rule}": "rule:admin_or_owner and not role:reader"' for rule in READER_DENIED])


@pytest.fixture(scope="session")
def policy_deployment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("policy")
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY + "\n")
    d = Deployment(tmp, mode="embedded", extra_env={"ZUN_POLICY_FILE": str(policy)}).start()
    yield d
    d.stop()


@pytest.fixture
def made(deployment):
    uuids: list[str] = []
    yield uuids
    admin = deployment.client(**{"X-Roles": "admin"})
    for u in uuids:
        admin.delete(f"/v1/containers/{u}?force=true")
