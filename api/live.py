"""Live operations of `/v1/containers/{id}` (logs, top, stats, execute, execute_resize,
resize, attach, get_archive, put_archive, network_list): what only the container's
host can answer. Schema, scoping, policy and state are checked here, as for every
command; then the command goes to the `live` topic and the request waits, up to
ZUN_LIVE_TIMEOUT, for the worker's reply (api/replies.py)."""
from __future__ import annotations

import base64
import binascii
import threading
import time
from typing import Any

from flask import Blueprint, current_app, g, jsonify

from commands.envelope import Command
from commands.log import LogUnavailable
from commands.parts import split
from commands.reply import Reply
from schemas import live as schemas

from .containers import boot, check_state, enforce, find, merged, query, validate
from .errors import (Base64Exception, GatewayTimeout, Invalid, NoInteractiveFlag, NotAcceptable,
                     SchemaValidationError, ServiceUnavailable, ZunError)
from .replies import ReplyListener
from .wsproxy import issue_url

bp = Blueprint("live", __name__, url_prefix="/v1/containers")

_listener_lock = threading.Lock()


# --- the round trip ---------------------------------------------------------------------

def listener() -> ReplyListener:
    with _listener_lock:
        ext = current_app.extensions
        if "zun.replies" not in ext:
            ext["zun.replies"] = ReplyListener(boot().log, boot().topic("replies"))
        return ext["zun.replies"]


def ask(doc: dict[str, Any], ctype: str, params: dict[str, Any] | None = None) -> Any:
    """Append a live command for the container's host and return the reply's body."""
    ctx, settings = g.ctx, boot().settings
    expires_at = time.time() + settings.live_timeout
    cmd = Command(type=ctype, container_uuid=doc["uuid"], request_id=ctx.request_id,
                  project_id=ctx.project_id, user_id=ctx.user_id, is_admin=ctx.is_admin,
                  host=doc.get("host") or "", params={**(params or {}),
                                                      "expires_at": expires_at})
    replies = listener()
    try:
        waiter = replies.expect(ctx.request_id)
    except LogUnavailable as e:
        raise ServiceUnavailable("The reply log is unavailable; nothing was executed. "
                                 "Retry later.") from e
    try:
        boot().log.append_many(boot().topic("live"),
                               split(cmd.container_uuid, cmd.to_wire(), cmd.request_id),
                               timeout=settings.write_timeout)
        reply = waiter.wait(expires_at - time.time())
    except LogUnavailable as e:
        raise ServiceUnavailable("The command log is unavailable; nothing was executed. "
                                 "Retry later.") from e
    finally:
        replies.forget(ctx.request_id)
    if reply is None:
        raise GatewayTimeout(f"No compute host answered the {ctype} request within "
                             f"{settings.live_timeout:g} seconds.")
    if reply.error is not None:
        raise remote_error(reply)
    return reply.body


def remote_error(reply: Reply) -> ZunError:
    err = ZunError(reply.error.get("message", "") if reply.error else "")
    err.status = reply.status
    err.code = (reply.error or {}).get("code", "")
    return err


def prepare(ident: str, action: str, rule: str | None = None) -> dict[str, Any]:
    """Zun's order: lookup (404), policy (403), state (409)."""
    doc = find(ident)
    enforce(rule or f"container:{action}", doc)
    check_state(doc, action)
    return doc


# --- reads ------------------------------------------------------------------------------

@bp.get("/<ident>/logs")
def logs(ident: str):
    q = validate(schemas.Logs, query(), where="query")
    doc = prepare(ident, "logs")
    return jsonify(ask(doc, "logs", {
        "stdout": q.get("stdout", True), "stderr": q.get("stderr", True),
        "timestamps": q.get("timestamps", False), "tail": q.get("tail") or "all",
        "since": q.get("since")}))


@bp.get("/<ident>/top")
def top(ident: str):
    """python-zunclient sends `ps_args=None` when it has none; Zun's driver reads that
    string as absent, and so does this."""
    q = validate(schemas.Top, query(), where="query")
    doc = prepare(ident, "top")
    ps_args = q.get("ps_args")
    return jsonify(ask(doc, "top", {"ps_args": None if ps_args in ("", "None") else ps_args}))


@bp.get("/<ident>/stats")
def stats(ident: str):
    doc = prepare(ident, "stats")
    return jsonify(ask(doc, "stats", {"name": doc.get("name")}))


@bp.get("/<ident>/network_list")
def network_list(ident: str):
    """No policy and no state check in Zun; the lookup's project scoping applies."""
    if not g.ctx.at_least(1, 13):
        raise NotAcceptable(f"Version {g.ctx.version} was requested but the requested API is "
                            "not supported for this version.")
    doc = find(ident)
    ports = ask(doc, "network_list")
    if g.ctx.at_least(1, 18):
        networks = [{"net_id": p["net_id"], "port_id": p["port_id"], "fixed_ips": p["fixed_ips"]}
                    for p in ports]
    else:
        networks = [{"net_id": p["net_id"], "port_id": p["port_id"], **ip}
                    for p in ports for ip in p["fixed_ips"]]
    return jsonify({"networks": networks})


# --- exec and terminals -------------------------------------------------------------------

@bp.post("/<ident>/execute")
def execute(ident: str):
    data = validate(schemas.Execute, merged(), where="query")
    doc = prepare(ident, "execute")
    run = data.get("run", True)
    interactive = data.get("interactive", False)
    body = ask(doc, "execute", {"command": data["command"], "run": run,
                                "interactive": interactive})
    if run:
        return jsonify({"output": body["output"], "exit_code": body["exit_code"],
                        "exec_id": None, "proxy_url": None})
    url = issue_url(doc, "exec", body["exec_id"])
    return jsonify({"output": None, "exit_code": None, "exec_id": body["exec_id"],
                    "proxy_url": url})


@bp.post("/<ident>/execute_resize")
def execute_resize(ident: str):
    data = validate(schemas.ExecuteResize, merged(), where="query")
    doc = prepare(ident, "execute_resize")
    ask(doc, "execute_resize", {"exec_id": data["exec_id"], "h": data["h"], "w": data["w"]})
    return jsonify(None)


@bp.post("/<ident>/resize")
def resize(ident: str):
    data = validate(schemas.Resize, merged(), where="query")
    doc = prepare(ident, "resize")
    ask(doc, "resize", {"h": data["h"], "w": data["w"]})
    return jsonify(None)


@bp.get("/<ident>/attach")
def attach(ident: str):
    doc = prepare(ident, "attach")
    if not doc.get("interactive"):
        raise NoInteractiveFlag("Container doesn't support to be attached, please check the "
                                "interactive set properly")
    ask(doc, "attach")
    return jsonify(issue_url(doc, "attach"))


# --- archives -------------------------------------------------------------------------------

def _path(data: dict[str, Any]) -> str:
    path = data.get("path")
    if path is None:
        raise SchemaValidationError("'path' is a required property")
    if not isinstance(path, str) or not path:
        raise SchemaValidationError(f"Invalid input for field 'path'.Value: '{path}'. "
                                    f"{path!r} is not a non-empty string")
    if "\x00" in path:
        raise SchemaValidationError(f"Invalid input for field 'path'.Value: {path!r}. A path "
                                    "cannot contain a NUL character")
    return path


@bp.get("/<ident>/get_archive")
def get_archive(ident: str):
    """Base64 from 1.25 on; before, the tar's bytes as the code points U+0000-U+00FF."""
    doc = prepare(ident, "get_archive")
    body = ask(doc, "get_archive", {"path": _path(query())})
    data = base64.b64decode(body["data"])
    return jsonify({"data": body["data"] if g.ctx.at_least(1, 25) else data.decode("latin-1"),
                    "stat": body["stat"]})


@bp.post("/<ident>/put_archive")
def put_archive(ident: str):
    doc = prepare(ident, "put_archive")
    data = merged()
    path = _path(data)
    tar = _archive_bytes(data.get("data"))
    limit = boot().settings.max_archive_bytes
    if len(tar) > limit:
        raise Invalid(f"The archive is larger than {limit} bytes.")
    ask(doc, "put_archive", {"path": path, "data": base64.b64encode(tar).decode()})
    return jsonify(None)


def _archive_bytes(data: Any) -> bytes:
    if data is None:
        raise SchemaValidationError("'data' is a required property")
    if not isinstance(data, str):
        raise SchemaValidationError(f"Invalid input for field 'data'.Value: '{data}'. "
                                    f"{data!r} is not of type 'string'")
    if g.ctx.at_least(1, 25):
        try:
            return base64.b64decode(data)
        except (binascii.Error, ValueError) as e:
            raise Base64Exception("Invalid Base 64 file data") from e
    try:
        return data.encode("latin-1")
    except UnicodeEncodeError as e:
        raise Invalid("Before microversion 1.25 the archive data are raw bytes: characters "
                      "U+0000 to U+00FF only.") from e
