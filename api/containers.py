"""`/v1/containers`: controllers translate HTTP into commands on the log and read the
read model back. Checks that need no worker (schema, policy, scoping, state) answer here;
everything that changes a container travels as a command."""
from __future__ import annotations

import random
import shlex
import uuid as uuidlib
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from commands.envelope import Command, utcnow
from commands.states import CREATING, allowed, conflict_message
from projections.db import DatabaseUnavailable
from schemas import parameter_types as pt
from schemas import requests as rq

from .errors import (ContainerNotFound, Conflict, InvalidParamInVersion, InvalidStateException,
                     InvalidValue, ResourceNotFound, SchemaValidationError)
from .views import GUARDED_KEYS, action_event_view, action_view, container_view

bp = Blueprint("containers", __name__, url_prefix="/v1/containers")

GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
         "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi",
         "chi", "psi", "omega")


# --- plumbing ------------------------------------------------------------------------------

def boot():
    return current_app.extensions["zun"]


def gateway():
    return current_app.extensions["zun.gateway"]


def policy():
    """The rules in force for this request: the operator's file is looked at once per
    request, so every check of one request sees the same rules."""
    if "zun_policy" not in g:
        g.zun_policy = current_app.extensions["zun.policy"].current()
    return g.zun_policy


def enforce(rule: str, target: dict[str, Any] | None = None) -> None:
    policy().enforce(rule, g.ctx.creds(), target or {"project_id": g.ctx.project_id})


def query() -> dict[str, Any]:
    return {k: v for k, v in request.args.items()}


def merged() -> dict[str, Any]:
    """Zun's merged kwargs: query string and JSON body (body wins)."""
    return {**query(), **g.body}


def validate(schema: type[rq.ZunSchema], data: dict[str, Any], where: str = "body",
             version: bool = True) -> dict[str, Any]:
    try:
        v = g.ctx.version
        return rq.load(schema, data, (v.major, v.minor) if version else None, where)
    except rq.ParamVersionError as e:
        raise InvalidParamInVersion(str(e)) from e
    except rq.SchemaError as e:
        raise SchemaValidationError(str(e)) from e


def only_params(data: dict[str, Any], allowed_keys: tuple[str, ...]) -> None:
    extra = sorted(k for k in data if k not in allowed_keys)
    if extra:
        names = ", ".join(f"'{k}'" for k in extra)
        verb = "was" if len(extra) == 1 else "were"
        raise SchemaValidationError(
            f"Additional properties are not allowed ({names} {verb} unexpected)")


def flag(data: dict[str, Any], key: str, names: str | None = None) -> bool:
    if key not in data:
        return False
    try:
        return pt.parse_extended_bool(data[key], names or key)
    except Exception as e:
        raise InvalidValue(str(e.messages[0] if hasattr(e, "messages") else e)) from e


def require_version(param: str, major: int, minor: int) -> None:
    if not g.ctx.at_least(major, minor):
        raise InvalidParamInVersion(
            f"Invalid param {param} because current request version is {g.ctx.version}. "
            f"{param} is only supported from version {major}.{minor}")


def is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
        return True
    except ValueError:
        return False


def find(ident: str) -> dict[str, Any]:
    """A container by uuid or name, scoped to the caller's project unless admin."""
    ctx = g.ctx
    rm = boot().read_model
    scope = None if ctx.is_admin else ctx.project_id
    if is_uuid(ident):
        doc = rm.by_uuid(ident)
        if doc is not None and (scope is None or doc.get("project_id") == scope):
            return doc
    else:
        docs = rm.by_name(ident, scope)
        if len(docs) > 1:
            raise Conflict("Multiple containers exist with same name. Please use the "
                           "container uuid instead.")
        if docs:
            return docs[0]
    raise ContainerNotFound(f"Container {ident} could not be found.")


def check_state(doc: dict[str, Any], action: str) -> None:
    if not allowed(action, doc.get("status", "")):
        raise InvalidStateException(conflict_message(action, doc["uuid"], doc.get("status")))


def command(doc_or_uuid: dict[str, Any] | str, ctype: str, params: dict[str, Any] | None = None,
            wait: bool = True):
    ctx = g.ctx
    uid = doc_or_uuid if isinstance(doc_or_uuid, str) else doc_or_uuid["uuid"]
    cmd = Command(type=ctype, container_uuid=uid, request_id=ctx.request_id,
                  project_id=ctx.project_id, user_id=ctx.user_id, params=params or {},
                  is_admin=ctx.is_admin)
    return gateway().submit(cmd, wait=wait)


def visible_guarded() -> set[str]:
    creds = g.ctx.creds()
    target = {"project_id": g.ctx.project_id}
    return {k for k in GUARDED_KEYS if policy().check(f"container:get_one:{k}", creds, target)}


def view(doc: dict[str, Any], links: bool = True) -> dict[str, Any]:
    return container_view(doc, visible_guarded(), request.host_url.rstrip("/") if links else None)


def accepted() -> Response:
    return Response(status=202)


# --- create / list / show / delete ----------------------------------------------------------

CREATE_QUERY = ("run",)


@bp.post("")
def create():
    ctx = g.ctx
    q = query()
    run = flag(q, "run", "run or interactive")
    body = {**{k: v for k, v in q.items() if k not in CREATE_QUERY}, **g.body}
    legacy = not ctx.at_least(1, 20)
    data = validate(rq.LegacyContainerCreate if legacy else rq.ContainerCreate, body)
    enforce("container:create")
    if "privileged" in body:
        enforce("container:create:privileged")
    if data.get("runtime"):
        enforce("container:create:runtime")
    if data.get("image_pull_policy"):
        enforce("container:create:image_pull_policy")
    if data.get("host"):
        enforce("container:create:requested_destination")
    if any((m or {}).get("type") == "bind" for m in data.get("mounts") or []):
        enforce("container:create:mounts_bind")
    doc = build_container(data, legacy)
    check_create(doc, data)
    from . import quotas
    with quotas.project_lock(ctx.project_id):
        quotas.check_create(ctx.project_id, data)
        command(doc["uuid"], "create", {"container": doc, "run": run})
    try:
        created = boot().read_model.by_uuid(doc["uuid"]) or doc
    except DatabaseUnavailable:
        created = doc  # the create is accepted (it is in the log); only the read is lost
    resp = jsonify(view(created))
    resp.status_code = 202
    resp.headers["Location"] = f"{request.host_url.rstrip('/')}/v1/containers/{doc['uuid']}"
    return resp


def check_create(doc: dict[str, Any], data: dict[str, Any]) -> None:
    """Checks of a create that need the service's configuration (see docs/api.md)."""
    from .create_checks import run_checks
    run_checks(boot(), g.ctx, doc, data)


def build_container(data: dict[str, Any], legacy: bool) -> dict[str, Any]:
    ctx = g.ctx
    command_ = data.get("command")
    if legacy and isinstance(command_, str):
        command_ = shlex.split(command_)
    interactive = bool(data.get("interactive", False))
    tty = bool(data.get("tty", False))
    if ctx.at_least(1, 20) and not ctx.at_least(1, 36) and "interactive" in data:
        tty = interactive
    rp = data.get("restart_policy") or {}
    if rp:
        rp = normalise_restart_policy(rp)
    hc = data.get("healthcheck")
    if hc is not None:
        hc = {"test": hc.get("cmd", hc.get("test", "")), **{
            k: hc[k] for k in ("interval", "retries", "timeout") if k in hc}}
    exposed = normalise_ports(data.get("exposed_ports"))
    now = utcnow()
    return {
        "uuid": str(uuidlib.uuid4()),
        "name": data.get("name") or f"{random.choice(GREEK)}-{random.randint(1, 24)}-container",
        "image": data["image"],
        "command": command_ or [],
        "cpu": data.get("cpu") if data.get("cpu") is not None else 1.0,
        "memory": data.get("memory") if data.get("memory") is not None else "512",
        "disk": data.get("disk") or 0,
        "cpu_policy": data.get("cpu_policy") or "shared",
        "workdir": data.get("workdir"),
        "environment": data.get("environment") or {},
        "labels": data.get("labels") or {},
        "image_pull_policy": data.get("image_pull_policy"),
        "restart_policy": rp,
        "interactive": interactive,
        "tty": tty,
        "image_driver": (data.get("image_driver") if data.get("image_driver") not in (None, "None")
                         else "docker"),
        "security_groups": data.get("security_groups") or [],
        "nets": data.get("nets") or [],
        "mounts": data.get("mounts") or [],
        "runtime": data.get("runtime"),
        "hostname": data.get("hostname"),
        "auto_remove": bool(data.get("auto_remove") or False),
        "auto_heal": bool(data.get("auto_heal", False)),
        "privileged": bool(data.get("privileged", False)),
        "healthcheck": hc or {},
        "exposed_ports": exposed,
        "registry_id": data.get("registry"),
        "entrypoint": data.get("entrypoint") or [],
        "requested_host": data.get("host"),
        "host": None,
        "project_id": ctx.project_id,
        "user_id": ctx.user_id,
        "status": CREATING,
        "status_reason": None,
        "status_detail": None,
        "task_state": None,
        "addresses": {},
        "ports": sorted(int(p.split("/")[0]) for p in exposed),
        "created_at": now,
        "updated_at": None,
    }


def normalise_restart_policy(rp: dict[str, Any]) -> dict[str, str]:
    name = rp["Name"]
    count = str(rp.get("MaximumRetryCount") or "0")
    if name == "no":
        count = "0"
    elif name in ("always", "unless-stopped") and count != "0":
        raise InvalidValue(f"maximum retry count not valid with restart policy of {name}")
    return {"Name": name, "MaximumRetryCount": count}


def normalise_ports(ports: dict[str, Any] | None) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for key in ports or {}:
        port, _, proto = str(key).partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp"):
            raise InvalidValue(f"value {proto} is an invalid protocol")
        try:
            number = int(port)
        except ValueError:
            raise InvalidValue(f"value {port} is invalid as publish port.") from None
        if not 1 <= number <= 65535:
            raise InvalidValue(f"value {port} is invalid as publish port.")
        out[f"{number}/{proto}"] = {}
    return out


LIST_QUERY = ("all_projects", "limit", "marker", "sort_key", "sort_dir", "expand",
              "resource_url") + tuple(
    f for f in ("name", "image", "project_id", "user_id", "memory", "host", "task_state",
                "status", "auto_remove"))
SORT_KEYS = ("id", "uuid", "name", "image", "status", "created_at", "updated_at", "memory",
             "cpu", "project_id", "user_id", "host", "task_state")


@bp.get("")
def list_containers():
    from projections.readmodel import LIST_FILTERS
    ctx = g.ctx
    q = query()
    unknown = [k for k in q if k not in LIST_QUERY]
    if unknown:
        raise InvalidValue(f"Unknown parameters: {', '.join(unknown)}")
    enforce("container:get_all")
    all_projects = flag(q, "all_projects")
    if all_projects:
        enforce("container:get_all_all_projects")
    limit = _limit(q.get("limit"))
    sort_key = q.get("sort_key", "id")
    sort_dir = q.get("sort_dir", "asc")
    if sort_key not in SORT_KEYS:
        raise InvalidValue(f'The sort_key value "{sort_key}" is an invalid field for sorting')
    if sort_dir not in ("asc", "desc"):
        raise InvalidValue(f"Invalid sort direction: {sort_dir}. Acceptable values are "
                           "'asc' or 'desc'")
    filters = {}
    for key in LIST_FILTERS:
        if key in q:
            rule = f"container:get_one:{key}"
            if policy().has_rule(rule):
                enforce(rule)
            filters[key] = flag(q, key) if key == "auto_remove" else q[key]
    marker = q.get("marker")
    rm = boot().read_model
    scope = None if (ctx.is_admin and all_projects) else ctx.project_id
    if marker is not None:
        doc = rm.by_uuid(marker) if is_uuid(marker) else None
        if doc is None or (scope is not None and doc.get("project_id") != scope):
            raise ContainerNotFound(f"Container {marker} could not be found.")
    docs = rm.list(scope, filters, sort_key, sort_dir, limit, marker)
    nxt = None
    if limit is not None and len(docs) == limit and docs:
        nxt = (f"{request.host_url.rstrip('/')}/v1/containers?sort_key={sort_key}"
               f"&sort_dir={sort_dir}&limit={limit}&marker={docs[-1]['uuid']}")
    return jsonify({"containers": [view(d, links=False) for d in docs], "next": nxt})


def _limit(raw: str | None) -> int:
    cap = boot().settings.max_list_limit
    if raw is None:
        return cap
    try:
        value = int(raw)
    except ValueError:
        raise InvalidValue("Limit must be positive integer") from None
    if value <= 0:
        raise InvalidValue("Limit must be positive integer")
    return min(value, cap)


@bp.get("/<ident>")
def show(ident: str):
    q = query()
    if flag(q, "all_projects"):
        enforce("container:get_one_all_projects")
    doc = find(ident)
    enforce("container:get_one", doc)
    return jsonify(view(doc))


DELETE_QUERY = ("force", "stop", "all_projects")


@bp.delete("/<ident>")
def delete(ident: str):
    q = query()
    only_params(q, DELETE_QUERY)
    force = flag(q, "force", "force or stop")
    stop = flag(q, "stop", "force or stop")
    if flag(q, "all_projects"):
        enforce("container:delete_all_projects")
    doc = find(ident)
    enforce("container:delete", doc)
    if stop:
        require_version("stop", 1, 12)
        check_state(doc, "delete_after_stop")
        if doc.get("status") == "Running":
            enforce("container:stop", doc)
    elif force:
        require_version("force", 1, 7)
        enforce("container:delete_force")
        check_state(doc, "delete_force")
    else:
        check_state(doc, "delete")
    command(doc, "delete", {"force": force, "stop": stop})
    return Response(status=204)


# --- lifecycle actions ------------------------------------------------------------------------

def _timeout_param(q: dict[str, Any]) -> int | None:
    raw = q.get("timeout")
    if raw is None:
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise SchemaValidationError(
            f"Invalid input for query parameters 'timeout'. Value: '{raw}'. '{raw}' does not "
            "match '^[0-9]+$'") from None
    if value < 0:
        raise SchemaValidationError(
            f"Invalid input for query parameters 'timeout'. Value: '{raw}'. {raw} is less "
            "than the minimum of 0")
    return value


def _lifecycle(ident: str, action: str, params: dict[str, Any] | None = None) -> Response:
    doc = find(ident)
    enforce(f"container:{action}", doc)
    check_state(doc, action)
    command(doc, action, params)
    return accepted()


@bp.post("/<ident>/start")
def start(ident: str):
    return _lifecycle(ident, "start")


@bp.post("/<ident>/stop")
def stop(ident: str):
    q = query()
    only_params(q, ("timeout", "all_projects"))
    return _lifecycle(ident, "stop", {"timeout": _timeout_param(q)})


@bp.post("/<ident>/reboot")
def reboot(ident: str):
    q = query()
    only_params(q, ("timeout", "all_projects"))
    return _lifecycle(ident, "reboot", {"timeout": _timeout_param(q)})


@bp.post("/<ident>/pause")
def pause(ident: str):
    return _lifecycle(ident, "pause")


@bp.post("/<ident>/unpause")
def unpause(ident: str):
    return _lifecycle(ident, "unpause")


@bp.post("/<ident>/kill")
def kill(ident: str):
    data = validate(rq.Kill, merged())
    signal = normalise_signal(data.get("signal"))
    return _lifecycle(ident, "kill", {"signal": signal})


SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
           "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
           "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
           "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
           "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31}


def normalise_signal(signal: Any) -> str | None:
    """Every spelling Zun and Docker accept: 9, "9", "KILL", "SIGKILL", "sigkill"."""
    if signal is None or signal == "":
        return None
    text = str(signal).strip().upper()
    if text.isdigit():
        if not 1 <= int(text) <= 64:
            raise InvalidValue(f"Invalid signal: {signal}")
        return text
    name = text[3:] if text.startswith("SIG") else text
    if name not in SIGNALS:
        raise InvalidValue(f"Invalid signal: {signal}")
    return f"SIG{name}"


# --- actions history ---------------------------------------------------------------------------

@bp.get("/<ident>/container_actions")
def actions(ident: str):
    doc = find(ident)
    enforce("container:actions", doc)
    rows = boot().read_model.actions(doc["uuid"])
    return jsonify({"containerActions": [action_view(r) for r in rows]})


@bp.get("/<ident>/container_actions/<request_id>")
def action(ident: str, request_id: str):
    doc = find(ident)
    enforce("container:actions", doc)
    row = boot().read_model.action(doc["uuid"], request_id)
    if row is None:
        raise ResourceNotFound(f"Action {request_id} could not be found.")
    show_tb = policy().check("container:action:events", g.ctx.creds(),
                             {"project_id": g.ctx.project_id})
    out = action_view(row)
    out["events"] = [action_event_view(e, show_tb) for e in row["events"]]
    return jsonify(out)
