"""Authentication strategies (ZUN_AUTH_STRATEGY).

noauth: identity from X-Project-Id / X-User-Id / X-Roles, as OpenStack services do
without Keystone; defaults give a member of a fixed project. Anyone can claim any
project or role: for development and trusted networks only.

keystone: X-Auth-Token validated with Keystone v3 (GET {ZUN_KEYSTONE_URL}/auth/tokens, the
token as both X-Auth-Token and X-Subject-Token, as a user may validate its own token).
Results are cached in a bounded LRU keyed by a hash of the token (the token itself is
never kept, logged or put on the log): valid tokens until their expiry or 5 minutes,
rejected tokens for 10 seconds so that a flood of bad tokens does not become a flood on
Keystone. Keystone unreachable or failing: 503; missing, invalid or expired token: 401."""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Mapping

import requests

from .context import DEFAULT_PROJECT, DEFAULT_USER, RequestContext
from .errors import NotAuthenticated, ServiceUnavailable

STRATEGIES = ("noauth", "keystone")
CACHE_SIZE = 4096
CACHE_TTL = 300.0
NEGATIVE_TTL = 10.0
TIMEOUT = 5.0
MESSAGE = "The request you have made requires authentication."


class ConfigurationError(Exception):
    """The service cannot start with this authentication configuration."""


def check_settings(settings) -> None:
    if settings.auth_strategy not in STRATEGIES:
        raise ConfigurationError(f"ZUN_AUTH_STRATEGY must be one of {', '.join(STRATEGIES)}, "
                                 f"not {settings.auth_strategy!r}")
    if settings.auth_strategy == "keystone" and not settings.keystone_url:
        raise ConfigurationError("ZUN_AUTH_STRATEGY=keystone needs ZUN_KEYSTONE_URL")


def authenticate(boot, ctx: RequestContext, headers: Mapping[str, str]) -> None:
    if boot.settings.auth_strategy == "keystone":
        keystone(boot.settings.keystone_url).authenticate(ctx, headers)
    else:
        noauth(ctx, headers)


def public(view):
    """Marks a view that needs no token: it checks a credential of its own."""
    view.zun_public = True
    return view


def noauth(ctx: RequestContext, headers: Mapping[str, str]) -> None:
    ctx.project_id = headers.get("X-Project-Id") or DEFAULT_PROJECT
    ctx.user_id = headers.get("X-User-Id") or DEFAULT_USER
    ctx.roles = split_roles(headers.get("X-Roles")) or ("member",)
    ctx.authenticated = True


def split_roles(text: str | None) -> tuple[str, ...]:
    return tuple(r.strip() for r in (text or "").split(",") if r.strip())


_validators: dict[str, "KeystoneValidator"] = {}
_lock = threading.Lock()


def keystone(url: str) -> "KeystoneValidator":
    with _lock:
        if url not in _validators:
            _validators[url] = KeystoneValidator(url)
        return _validators[url]


def unauthenticated(keystone_url: str, message: str = MESSAGE) -> NotAuthenticated:
    """401 with the header keystoneauth clients use to find where to authenticate."""
    err = NotAuthenticated(message)
    base = keystone_url.rstrip("/")
    if base.endswith("/v3"):
        base = base[:-3]
    err.headers["WWW-Authenticate"] = f"Keystone uri='{base}'"
    return err


class KeystoneValidator:
    def __init__(self, url: str, timeout: float = TIMEOUT):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.cache: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()
        self.lock = threading.Lock()
        self.local = threading.local()

    def authenticate(self, ctx: RequestContext, headers: Mapping[str, str]) -> None:
        token = (headers.get("X-Auth-Token") or "").strip()
        if not token:
            raise unauthenticated(self.url)
        key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
        found, identity = self._cached(key)
        if not found:
            identity = self._validate(token, key)
        if identity is None:
            raise unauthenticated(self.url)
        ctx.project_id = identity["project_id"]
        ctx.user_id = identity["user_id"]
        ctx.roles = tuple(identity["roles"])
        ctx.authenticated = True

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session

    def _cached(self, key: str) -> tuple[bool, dict[str, Any] | None]:
        with self.lock:
            hit = self.cache.get(key)
            if hit is None:
                return False, None
            if hit[0] < time.time():
                del self.cache[key]
                return False, None
            self.cache.move_to_end(key)
            return True, hit[1]

    def _remember(self, key: str, until: float, identity: dict[str, Any] | None) -> None:
        with self.lock:
            self.cache[key] = (until, identity)
            self.cache.move_to_end(key)
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)

    def _validate(self, token: str, key: str) -> dict[str, Any] | None:
        try:
            resp = self._session().get(
                f"{self.url}/auth/tokens", timeout=self.timeout,
                headers={"X-Auth-Token": token, "X-Subject-Token": token,
                         "Accept": "application/json"})
        except requests.RequestException as e:
            raise ServiceUnavailable("The identity service is unavailable.") from e
        if resp.status_code in (401, 403, 404):
            self._remember(key, time.time() + NEGATIVE_TTL, None)
            return None
        if resp.status_code != 200:
            raise ServiceUnavailable("The identity service is unavailable.")
        identity, expires = parse_token(resp)
        now = time.time()
        if identity is None or expires <= now:
            self._remember(key, now + NEGATIVE_TTL, None)
            return None
        self._remember(key, min(expires, now + CACHE_TTL), identity)
        return identity


def parse_token(resp: requests.Response) -> tuple[dict[str, Any] | None, float]:
    """The identity of a project-scoped token, or None (unscoped, domain-scoped, garbled)."""
    try:
        body = resp.json()["token"]
        expires = parse_time(body["expires_at"])
        identity = {"project_id": str(body["project"]["id"]), "user_id": str(body["user"]["id"]),
                    "roles": [str(r["name"]) for r in body.get("roles") or []]}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, 0.0
    return identity, expires


def parse_time(text: str) -> float:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
