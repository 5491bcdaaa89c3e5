"""A tiny Keystone v3 for tests: `GET /v3/auth/tokens` validates the X-Subject-Token
against a few known tokens, the way Keystone answers (200 with the token body; 404 for
an unknown or expired token; 401 when X-Auth-Token is not valid itself).

    ks = FakeKeystone().start()
    ks.tokens["member_a"]  # a member of project A
    ks.url                 # http://127.0.0.1:<port>/v3
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Identity:
    project_id: str
    user_id: str
    roles: tuple[str, ...]
    expires_at: float


class FakeKeystone:
    def __init__(self) -> None:
        self.identities: dict[str, Identity] = {}
        self.tokens: dict[str, str] = {}
        self.validations = 0
        self.failing = False  # answer 500 to every validation
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.issue("member_a", "project-a", "user-a", ("member", "reader"))
        self.issue("member_b", "project-b", "user-b", ("member",))
        self.issue("admin", "admin-project", "admin-user", ("admin", "member"))
        self.issue("expired", "project-a", "user-a", ("member",), ttl=-60)

    def issue(self, label: str, project_id: str, user_id: str, roles: tuple[str, ...],
              ttl: float = 3600) -> str:
        token = "gAAAAA" + secrets.token_urlsafe(48)
        with self.lock:
            self.identities[token] = Identity(project_id, user_id, roles, time.time() + ttl)
            self.tokens[label] = token
        return token

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v3"

    def start(self) -> "FakeKeystone":
        keystone = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.split("?")[0].rstrip("/") != "/v3/auth/tokens":
                    return self._send(404, _error(404, "Not Found", "The resource could not "
                                                  "be found."))
                with keystone.lock:
                    keystone.validations += 1
                    failing = keystone.failing
                if failing:
                    return self._send(500, _error(500, "Internal Server Error", "boom"))
                caller = keystone.valid(self.headers.get("X-Auth-Token", ""))
                if caller is None:
                    return self._send(401, _error(401, "Unauthorized", "The request you have "
                                                  "made requires authentication."))
                subject = self.headers.get("X-Subject-Token", "")
                identity = keystone.valid(subject)
                if identity is None:
                    return self._send(404, _error(404, "Not Found", "Could not find token: "
                                                  "(redacted)"))
                self._send(200, {"token": _token_body(identity)},
                           {"X-Subject-Token": subject})

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fake-keystone",
                         daemon=True).start()
        return self

    def valid(self, token: str) -> Identity | None:
        with self.lock:
            identity = self.identities.get(token)
        if identity is None or identity.expires_at <= time.time():
            return None
        return identity

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _token_body(identity: Identity) -> dict:
    return {
        "methods": ["password"],
        "user": {"id": identity.user_id, "name": identity.user_id,
                 "domain": {"id": "default", "name": "Default"}},
        "project": {"id": identity.project_id, "name": identity.project_id,
                    "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": f"role-{r}", "name": r} for r in identity.roles],
        "expires_at": _iso(identity.expires_at),
        "issued_at": _iso(time.time()),
        "catalog": [],
    }


def _error(code: int, title: str, message: str) -> dict:
    return {"error": {"code": code, "title": title, "message": message}}
