"""Zun's container policy table (zun/common/policies/*.py) and the one enforcement point.

Rules are small expressions: `rule:<name>`, `role:<r>`, `is_admin:True`,
`project_id:%(project_id)s`, `user_id:%(user_id)s`, `@` (allow), `!` (deny), joined by
`or` / `and` and negated with `not`. An operator's YAML file (ZUN_POLICY_FILE) overrides
any rule by name."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import PolicyNotAuthorized

ADMIN_OR_OWNER = "is_admin:True or project_id:%(project_id)s"
ADMIN = "rule:context_is_admin"

DEFAULT_RULES: dict[str, str] = {
    "context_is_admin": "role:admin",
    "admin_or_owner": ADMIN_OR_OWNER,
    "admin_api": ADMIN,
    "deny_everybody": "!",
    **{f"container:{a}": "rule:admin_or_owner" for a in (
        "create", "delete", "get_one", "get_all", "update", "start", "stop", "reboot",
        "pause", "unpause", "logs", "execute", "execute_resize", "kill", "rename", "attach",
        "resize", "top", "get_archive", "put_archive", "stats", "commit",
        "add_security_group", "network_detach", "network_attach", "network_list",
        "remove_security_group", "rebuild", "resize_container", "actions")},
    **{f"container:{a}": ADMIN for a in (
        "create:runtime", "create:requested_destination", "create:image_pull_policy",
        "delete_all_projects", "delete_force", "get_one:host", "get_one:image_pull_policy",
        "get_one:privileged", "get_one:runtime", "get_one_all_projects",
        "get_all_all_projects", "action:events")},
    "container:create:privileged": "rule:deny_everybody",
    "network:attach_external_network": "role:admin",
    "quota:get": "rule:admin_or_owner",
    "quota:get_default": "rule:admin_or_owner",
    "quota:update": ADMIN,
    "quota:delete": ADMIN,
    "quota_class:get": ADMIN,
    "quota_class:update": ADMIN,
}


class Policy:
    def __init__(self, overrides: dict[str, str] | None = None):
        self.rules = {**DEFAULT_RULES, **(overrides or {})}

    @classmethod
    def from_file(cls, path: str) -> "Policy":
        if not path:
            return cls()
        import yaml
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls({str(k): str(v) for k, v in data.items()})

    def check(self, rule: str, creds: dict[str, Any], target: dict[str, Any]) -> bool:
        """False for a rule that is not declared (might_not_exist rules return True)."""
        expr = self.rules.get(rule)
        if expr is None:
            return False
        return self._eval(expr, creds, target, depth=0)

    def has_rule(self, rule: str) -> bool:
        return rule in self.rules

    def enforce(self, rule: str, creds: dict[str, Any], target: dict[str, Any]) -> None:
        if not self.check(rule, creds, target):
            raise PolicyNotAuthorized(f"Policy doesn't allow {rule} to be performed.")

    def _eval(self, expr: str, creds: dict[str, Any], target: dict[str, Any], depth: int) -> bool:
        if depth > 10:
            return False
        expr = expr.strip()
        if expr in ("", "@"):
            return True
        if expr == "!":
            return False
        for op in (" or ", " and "):
            parts = _split(expr, op)
            if len(parts) > 1:
                results = (self._eval(p, creds, target, depth) for p in parts)
                return any(results) if op == " or " else all(results)
        if expr.startswith("(") and expr.endswith(")"):
            return self._eval(expr[1:-1], creds, target, depth)
        if expr.startswith("not "):
            return not self._eval(expr[4:], creds, target, depth)
        kind, _, value = expr.partition(":")
        if kind == "rule":
            sub = self.rules.get(value)
            return sub is not None and self._eval(sub, creds, target, depth + 1)
        if kind == "role":
            return value.lower() in {r.lower() for r in creds.get("roles", ())}
        if value.startswith("%(") and value.endswith(")s"):
            wanted = target.get(value[2:-2])
        elif value in ("True", "False"):
            wanted = value == "True"
        else:
            wanted = value.strip("'\"")
        return creds.get(kind) == wanted and wanted is not None


def _split(expr: str, op: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(expr):
        ch = expr[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and expr.startswith(op, i):
            parts.append(expr[start:i])
            i += len(op)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    return [p for p in parts if p.strip()] if len(parts) > 1 else [expr]


