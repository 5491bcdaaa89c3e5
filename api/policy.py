"""Zun's policy table (zun/common/policies/*.py) and the rule language of oslo.policy.

Rules are expressions: `rule:<name>`, `role:<r>`, `@` (allow), `!` (deny), generic checks
`<credential>:<value>` where the value may be `%(<target key>)s` (e.g.
`project_id:%(project_id)s`, `is_admin:True`), joined by `and` / `or`, negated with `not`,
grouped with parentheses. An operator's YAML file (ZUN_POLICY_FILE) overrides any rule by
name; it is re-read when it changes, as oslo.policy does, and a file that does not parse
leaves the rules in force as they were (and fails the start of the service)."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from .errors import PolicyNotAuthorized

log = logging.getLogger(__name__)

ADMIN_OR_OWNER = "is_admin:True or project_id:%(project_id)s"
ADMIN = "rule:context_is_admin"

#: container rules every member may use on the containers of its project
OWNER_ACTIONS = (
    "create", "delete", "get_one", "get_all", "update", "start", "stop", "reboot", "pause",
    "unpause", "logs", "execute", "execute_resize", "kill", "rename", "attach", "resize", "top",
    "get_archive", "put_archive", "stats", "commit", "add_security_group", "network_detach",
    "network_attach", "network_list", "remove_security_group", "rebuild", "resize_container",
    "actions")
#: admin-only container rules: parameters, hidden view keys, other projects, tracebacks
ADMIN_ACTIONS = (
    "create:runtime", "create:requested_destination", "create:image_pull_policy",
    "delete_all_projects", "delete_force", "get_one:host", "get_one:image_pull_policy",
    "get_one:privileged", "get_one:runtime", "get_one_all_projects", "get_all_all_projects",
    "action:events")

DEFAULT_RULES: dict[str, str] = {
    "context_is_admin": "role:admin",
    "admin_or_owner": ADMIN_OR_OWNER,
    "admin_api": ADMIN,
    "deny_everybody": "!",
    **{f"container:{a}": "rule:admin_or_owner" for a in OWNER_ACTIONS},
    **{f"container:{a}": ADMIN for a in ADMIN_ACTIONS},
    "container:create:privileged": "rule:deny_everybody",
    # not in Zun: `bind` mounts (Zun's file injection) under a rule an operator may narrow
    "container:create:mounts_bind": "rule:admin_or_owner",
    "network:attach_external_network": "role:admin",
    "quota:get": "rule:admin_or_owner",
    "quota:get_default": "rule:admin_or_owner",
    "quota:update": "rule:admin_api",
    "quota:delete": "rule:admin_api",
    "quota_class:get": "rule:admin_or_owner",
    "quota_class:update": "rule:admin_api",
}

Check = Callable[[dict[str, Any], dict[str, Any], "Policy", int], bool]


class PolicyError(ValueError):
    """A rule that does not parse."""


class Policy:
    def __init__(self, overrides: dict[str, str] | None = None):
        rules = {**DEFAULT_RULES, **(overrides or {})}
        self.rules = rules
        self.compiled = {name: compile_rule(expr) for name, expr in rules.items()}

    def check(self, rule: str, creds: dict[str, Any], target: dict[str, Any]) -> bool:
        """False for a rule that is not declared."""
        check = self.compiled.get(rule)
        return check is not None and check(creds, target, self, 0)

    def has_rule(self, rule: str) -> bool:
        return rule in self.rules

    def enforce(self, rule: str, creds: dict[str, Any], target: dict[str, Any]) -> None:
        if not self.check(rule, creds, target):
            raise PolicyNotAuthorized(f"Policy doesn't allow {rule} to be performed.")


def load_overrides(path: str) -> dict[str, str]:
    import yaml
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"policy file {path}: {e}") from e
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path}: a mapping of rule name to rule is expected")
    out = {}
    for name, expr in data.items():
        if not isinstance(expr, str):
            raise PolicyError(f"policy file {path}: rule {name!r} must be a string")
        compile_rule(expr)
        out[str(name)] = expr
    return out


class PolicyFile:
    """The policy in force: defaults plus the operator's file, re-read when its
    modification time or size changes (one stat per request, api/containers.policy)."""

    def __init__(self, path: str = ""):
        self.path = path
        self.lock = threading.Lock()
        self.stamp = self._stamp()
        self.policy = Policy(load_overrides(path) if path else None)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> Policy:
        if not self.path:
            return self.policy
        stamp = self._stamp()
        if stamp is None or stamp == self.stamp:
            return self.policy
        with self.lock:
            if stamp != self.stamp:
                self.stamp = stamp  # taken before the read: a write in between is seen next
                try:
                    self.policy = Policy(load_overrides(self.path))
                    log.info("policy file %s reloaded", self.path)
                except PolicyError as e:
                    log.error("policy file not reloaded, the previous rules stay: %s", e)
            return self.policy

    # the Policy interface, on the rules in force
    def check(self, rule: str, creds: dict[str, Any], target: dict[str, Any]) -> bool:
        return self.current().check(rule, creds, target)

    def has_rule(self, rule: str) -> bool:
        return self.current().has_rule(rule)

    def enforce(self, rule: str, creds: dict[str, Any], target: dict[str, Any]) -> None:
        self.current().enforce(rule, creds, target)

    @classmethod
    def from_file(cls, path: str) -> "PolicyFile":
        return cls(path)


# --- the rule language -----------------------------------------------------------------

def compile_rule(expr: str) -> Check:
    tokens = tokenize(expr)
    if not tokens:
        return lambda creds, target, policy, depth: True
    parser = _Parser(tokens, expr)
    check = parser.expr()
    if parser.pos != len(tokens):
        raise PolicyError(f"cannot parse rule {expr!r}")
    return check


def tokenize(expr: str) -> list[str]:
    out: list[str] = []
    for word in expr.split():
        lead = len(word) - len(word.lstrip("("))
        out += ["("] * lead
        word = word[lead:]
        trail = len(word) - len(word.rstrip(")"))
        core = word[:len(word) - trail] if trail else word
        if core:
            out.append(core.lower() if core.lower() in ("and", "or", "not") else core)
        out += [")"] * trail
    return out


class _Parser:
    def __init__(self, tokens: list[str], expr: str):
        self.tokens = tokens
        self.expr_text = expr
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        if self.pos >= len(self.tokens):
            raise PolicyError(f"cannot parse rule {self.expr_text!r}")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expr(self) -> Check:
        parts = [self.conjunction()]
        while self._peek() == "or":
            self._take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, p, d: any(x(c, t, p, d) for x in parts)

    def conjunction(self) -> Check:
        parts = [self.negation()]
        while self._peek() == "and":
            self._take()
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, p, d: all(x(c, t, p, d) for x in parts)

    def negation(self) -> Check:
        if self._peek() == "not":
            self._take()
            inner = self.negation()
            return lambda c, t, p, d: not inner(c, t, p, d)
        return self.atom()

    def atom(self) -> Check:
        tok = self._take()
        if tok == "(":
            inner = self.expr()
            if self._take() != ")":
                raise PolicyError(f"unbalanced parentheses in {self.expr_text!r}")
            return inner
        if tok in (")", "and", "or", "not"):
            raise PolicyError(f"cannot parse rule {self.expr_text!r}")
        return atom_check(tok)


def atom_check(tok: str) -> Check:
    if tok == "@":
        return lambda c, t, p, d: True
    if tok == "!":
        return lambda c, t, p, d: False
    kind, sep, value = tok.partition(":")
    if not sep:
        raise PolicyError(f"unknown check {tok!r}")
    if kind == "rule":
        def rule_check(creds, target, policy, depth):
            sub = policy.compiled.get(value)
            return depth < 20 and sub is not None and sub(creds, target, policy, depth + 1)
        return rule_check
    if kind == "role":
        def role_check(creds, target, policy, depth):
            wanted = _substitute(value, target)
            roles = {str(r).lower() for r in creds.get("roles", ())}
            return wanted is not None and wanted.lower() in roles
        return role_check
    if kind == "http":
        raise PolicyError("http: checks are not supported")

    def generic_check(creds, target, policy, depth):
        wanted = _substitute(value, target)
        if wanted is None:
            return False
        have = creds.get(kind)
        if have is None:
            return False
        if isinstance(have, (list, tuple, set)):
            return wanted in {str(x) for x in have}
        return str(have) == wanted
    return generic_check


def _substitute(value: str, target: dict[str, Any]) -> str | None:
    """`%(key)s` from the target (None when the target lacks it); quotes stripped."""
    if "%(" in value:
        try:
            return value % {k: v for k, v in target.items()}
        except (KeyError, TypeError, ValueError):
            return None
    return value.strip("'\"")
