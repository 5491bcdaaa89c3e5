"""One deployment under ZUN_AUTH_STRATEGY=keystone (Kafka + PostgreSQL, separate
processes), with the fake Keystone of tests/fake_keystone.py and a policy file the tests
may rewrite, shared by the security test modules of a session.

    @pytest.fixture(scope="module")
    def stack(request, tmp_path_factory):
        return secure_stack(request, tmp_path_factory)
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.fake_keystone import FakeKeystone
from tests.support import Client, Deployment

#: who may call: token labels of the fake Keystone, no token, a token Keystone never issued
WHO = ("member_a", "member_b", "admin", "none", "bad")
POLICY_RELOAD = 0.1  # the API looks at the policy file at every request


@dataclass
class SecureStack:
    keystone: FakeKeystone
    deployment: Deployment
    policy_path: Path

    def client(self, who: str, **headers: str) -> Client:
        if who == "none":
            return self.deployment.client(**headers)
        token = self.keystone.tokens.get(who) or ("gAAAAA-not-a-token-" + who)
        return self.deployment.client(**{"X-Auth-Token": token, **headers})

    def logs(self) -> str:
        return "\n".join(p.log_path.read_text(errors="replace")
                         for p in self.deployment.processes.values() if p.log_path.exists())

    def write_policy(self, text: str) -> None:
        """As an operator should: a new file renamed over the old one."""
        new = self.policy_path.with_suffix(".new")
        new.write_text(text)
        os.replace(new, self.policy_path)
        time.sleep(POLICY_RELOAD)

    @contextmanager
    def policy(self, rules: dict[str, str]) -> Iterator[None]:
        """Rules of the operator's policy file for the duration of the block."""
        self.write_policy(json.dumps(rules, indent=1) + "\n")  # JSON is YAML
        try:
            yield
        finally:
            self.write_policy("{}\n")


_stack: SecureStack | None = None


def secure_stack(request, tmp_path_factory) -> SecureStack:
    global _stack
    if _stack is None:
        tmp = tmp_path_factory.mktemp("keystone")
        policy = tmp / "policy.yaml"
        policy.write_text("{}\n")
        keystone = FakeKeystone().start()
        deployment = Deployment(tmp, mode="kafka", extra_env={
            "ZUN_AUTH_STRATEGY": "keystone", "ZUN_KEYSTONE_URL": keystone.url,
            "ZUN_POLICY_FILE": str(policy)})
        try:
            deployment.start()
        except Exception:
            deployment.stop()
            keystone.stop()
            raise
        _stack = SecureStack(keystone, deployment, policy)
        request.config.add_cleanup(_teardown)
    return _stack


def _teardown() -> None:
    global _stack
    if _stack is not None:
        _stack.deployment.stop()
        _stack.keystone.stop()
        _stack = None
