"""Authentication strategies (ZUN_AUTH_STRATEGY).

noauth: identity from X-Project-Id / X-User-Id / X-Roles, as OpenStack services do
without Keystone; defaults give a member of a fixed project.
keystone: X-Auth-Token validated with Keystone v3 (GET /v3/auth/tokens, the token as
both X-Auth-Token and X-Subject-Token), results cached (bounded, until expiry or 5 min)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Mapping

import requests

from .context import DEFAULT_PROJECT, DEFAULT_USER, RequestContext
from .errors import NotAuthenticated, ServiceUnavailable

CACHE_SIZE = 1024
CACHE_TTL = 300.0


def authenticate(boot, ctx: RequestContext, headers: Mapping[str, str]) -> None:
    strategy = boot.settings.auth_strategy
    if strategy == "keystone":
        _keystone(boot).authenticate(ctx, headers)
    else:
        ctx.project_id = headers.get("X-Project-Id") or DEFAULT_PROJECT
        ctx.user_id = headers.get("X-User-Id") or DEFAULT_USER
        roles = [r.strip() for r in (headers.get("X-Roles") or "").split(",") if r.strip()]
        ctx.roles = tuple(roles) or ("member",)
        ctx.authenticated = True


_validators: dict[str, "KeystoneValidator"] = {}
_lock = threading.Lock()


def _keystone(boot) -> "KeystoneValidator":
    url = boot.settings.keystone_url
    with _lock:
        if url not in _validators:
            _validators[url] = KeystoneValidator(url)
        return _validators[url]


class KeystoneValidator:
    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self.lock = threading.Lock()
        self.session = requests.Session()

    def authenticate(self, ctx: RequestContext, headers: Mapping[str, str]) -> None:
        token = headers.get("X-Auth-Token")
        if not token:
            raise NotAuthenticated("Authentication required")
        identity = self._cached(token)
        if identity is None:
            identity = self._validate(token)
        ctx.project_id = identity["project_id"]
        ctx.user_id = identity["user_id"]
        ctx.roles = tuple(identity["roles"])
        ctx.authenticated = True

    def _cached(self, token: str) -> dict[str, Any] | None:
        with self.lock:
            hit = self.cache.get(token)
            if hit is None:
                return None
            if hit[0] < time.time():
                del self.cache[token]
                return None
            self.cache.move_to_end(token)
            return hit[1]

    def _validate(self, token: str) -> dict[str, Any]:
        try:
            resp = self.session.get(f"{self.url}/auth/tokens", timeout=self.timeout,
                                    headers={"X-Auth-Token": token, "X-Subject-Token": token})
        except requests.RequestException as e:
            raise ServiceUnavailable("The identity service is unavailable.") from e
        if resp.status_code in (401, 403, 404):
            raise NotAuthenticated("Authentication required")
        if resp.status_code != 200:
            raise ServiceUnavailable("The identity service is unavailable.")
        try:
            body = resp.json()["token"]
            expires = _parse_time(body["expires_at"])
            identity = {"project_id": body["project"]["id"], "user_id": body["user"]["id"],
                        "roles": [r["name"] for r in body.get("roles", [])]}
        except (ValueError, KeyError, TypeError) as e:
            raise NotAuthenticated("Authentication required") from e
        if expires <= time.time():
            raise NotAuthenticated("Authentication required")
        with self.lock:
            self.cache[token] = (min(expires, time.time() + CACHE_TTL), identity)
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
        return identity


def _parse_time(text: str) -> float:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
