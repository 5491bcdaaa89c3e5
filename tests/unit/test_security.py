"""The policy language and defaults, the quota commands as the projector applies them,
and the limits the API falls back to (no service needed)."""
from __future__ import annotations

import pytest

from api.policy import DEFAULT_RULES, Policy, PolicyError, PolicyFile, compile_rule
from commands.envelope import Command
from commands.log import Record
from commands.quotas import (CLASS, PROJECT, QUOTA, ZUN_DEFAULTS, params, parse_defaults,
                             target_key)
from projections.db import SqliteDatabase
from projections.projector import project_batch
from projections.quotas import QuotaModel
from projections.schema import create_schema

MEMBER = {"project_id": "p1", "user_id": "u1", "roles": ["member"], "is_admin": False}
ADMIN = {"project_id": "admin", "user_id": "a", "roles": ["admin"], "is_admin": True}


@pytest.mark.parametrize("rule, creds, target, allowed", [
    ("container:start", MEMBER, {"project_id": "p1"}, True),
    ("container:start", MEMBER, {"project_id": "p2"}, False),
    ("container:start", ADMIN, {"project_id": "p2"}, True),
    ("container:delete_force", MEMBER, {"project_id": "p1"}, False),
    ("container:get_one:host", ADMIN, {"project_id": "admin"}, True),
    ("container:create:privileged", ADMIN, {"project_id": "admin"}, False),
    ("quota:update", MEMBER, {"project_id": "p1"}, False),
    ("quota:get", MEMBER, {"project_id": "p1"}, True),
    ("quota_class:get", MEMBER, {"project_id": "p1"}, True),
    ("no:such:rule", ADMIN, {}, False),
])
def test_zuns_defaults(rule, creds, target, allowed):
    assert Policy().check(rule, creds, target) is allowed


@pytest.mark.parametrize("expr, allowed", [
    ("@", True), ("!", False), ("", True),
    ("role:MEMBER", True), ("role:admin", False),
    ("not role:admin", True), ("NOT role:member", False),
    ("role:admin or project_id:%(project_id)s", True),
    ("(role:admin or role:member) and user_id:%(user_id)s", True),
    ("role:member and not (user_id:u1 or role:reader)", False),
    ("project_id:%(missing)s", False),
    ("is_admin:False", True), ("is_admin:True", False),
    ("user_id:'u1'", True),
    ("roles:member", True),
    ("rule:admin_or_owner", True), ("rule:nothing", False),
])
def test_the_rule_language(expr, allowed):
    policy = Policy({"r": expr})
    assert policy.check("r", MEMBER, {"project_id": "p1", "user_id": "u1"}) is allowed


@pytest.mark.parametrize("expr", ["(role:a", "role:a)", "role:a or", "and role:a", "nope",
                                  "http://example.com"])
def test_bad_rules_do_not_compile(expr):
    with pytest.raises(PolicyError):
        compile_rule(expr)


def test_recursive_rules_end():
    policy = Policy({"a": "rule:b", "b": "rule:a"})
    assert policy.check("a", ADMIN, {}) is False


def test_the_policy_file_overrides_and_is_reread(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"container:start": "role:admin"\n')
    pf = PolicyFile(str(path))
    assert not pf.check("container:start", MEMBER, {"project_id": "p1"})
    path.write_text('"container:start": "@"\n"container:stop": "!"\n')
    assert pf.check("container:start", MEMBER, {"project_id": "p2"})
    assert not pf.check("container:stop", ADMIN, {"project_id": "admin"})
    path.write_text('"container:start": "(unbalanced"\n')
    assert pf.check("container:start", MEMBER, {"project_id": "p2"})  # previous rules stay
    assert pf.has_rule("container:get_one:host") and "container:get_one:host" in DEFAULT_RULES


def test_a_bad_policy_file_fails_the_start(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("- a list\n")
    with pytest.raises(PolicyError):
        PolicyFile(str(path))
    path.write_text('"container:start": ["not", "a", "string"]\n')
    with pytest.raises(PolicyError):
        PolicyFile(str(path))


# --- quotas ------------------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path):
    db = SqliteDatabase(tmp_path / "rm.sqlite")
    create_schema(db)
    return db


def quota_record(kind, name, limits, offset):
    c = Command(type=QUOTA, container_uuid=target_key(kind, name), request_id=f"req-{offset}",
                project_id="admin", user_id="a", params=params(kind, name, limits),
                is_admin=True)
    return Record("zun.commands", 0, offset, c.container_uuid, c.to_wire())


def test_quota_commands_are_projected(db):
    model = QuotaModel(db, dict(ZUN_DEFAULTS))
    project_batch(db, [quota_record(PROJECT, "p1", {"containers": 3, "cpu": -1}, 0),
                       quota_record(CLASS, "default", {"memory": 1024}, 1)])
    assert model.project_limits("p1") == {"containers": 3, "memory": 1024, "cpu": -1,
                                          "disk": 100}
    assert model.project_limits("p2") == {**ZUN_DEFAULTS, "memory": 1024}
    assert model.class_limits("default") == {**ZUN_DEFAULTS, "memory": 1024}
    assert model.class_limits("gold") == ZUN_DEFAULTS
    project_batch(db, [quota_record(PROJECT, "p1", {"containers": 4}, 2),
                       quota_record(PROJECT, "p1", {"containers": 4}, 2)])  # a repeat
    assert model.project_limits("p1")["containers"] == 4
    project_batch(db, [quota_record(PROJECT, "p1", None, 3)])
    assert model.project_limits("p1") == {**ZUN_DEFAULTS, "memory": 1024}
    assert db.query("SELECT COUNT(*) AS n FROM containers")[0]["n"] == 0


def test_quota_commands_of_one_target_share_a_key():
    assert target_key(PROJECT, "p1") == target_key(PROJECT, "p1")
    assert target_key(PROJECT, "p1") != target_key(CLASS, "p1")


def test_configured_defaults():
    assert parse_defaults("") == ZUN_DEFAULTS
    assert parse_defaults("containers=5, cpu=-1") == {**ZUN_DEFAULTS, "containers": 5,
                                                     "cpu": -1}
    for bad in ("gpus=1", "containers", "containers=-2", "containers=x"):
        with pytest.raises(ValueError):
            parse_defaults(bad)
