"""The OpenAPI document of the API, `GET /v1/openapi.json`, generated from the marshmallow
schemas (schemas/requests.py, schemas/live.py, schemas/responses.py).

The generator walks the Flask url_map: every route and method gets the operation that
OPERATIONS documents for its endpoint. A route without one still appears (marked
`x-undocumented`), and `undocumented(app)` names it, so a test fails until it is
documented: a new endpoint cannot be forgotten."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import Schema, fields

from schemas import live as lq
from schemas import parameter_types as pt
from schemas import requests as rq
from schemas import responses as rs

from .versions import MAX_VERSION

bp = Blueprint("openapi", __name__, url_prefix="/v1")

TITLE = "Zun Containers API (zun-cqrs)"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}

#: a response body: a schema, a JSON string, JSON null, or nothing at all
STRING, NULL = "string", "null"


@dataclass(frozen=True)
class Op:
    summary: str
    success: int
    body: Any = None
    request: type[Schema] | None = None
    query: type[Schema] | None = None
    errors: tuple[int, ...] = ()
    tag: str = "containers"
    public: bool = False
    more: dict[int, Any] = field(default_factory=dict)
    description: str = ""


# --- documentation-only query schemas (the controllers read these by hand) -----------------

class ExtendedFlag(fields.Field):
    """Zun's boolean_extended in a query string."""


class RunQuery(Schema):
    run = ExtendedFlag()


class ListQuery(Schema):
    all_projects = ExtendedFlag()
    limit = fields.Integer(metadata={"minimum": 1})
    marker = fields.String()
    sort_key = fields.String()
    sort_dir = fields.String(metadata={"enum": ["asc", "desc"]})
    name = fields.String()
    image = fields.String()
    project_id = fields.String()
    user_id = fields.String()
    memory = fields.String()
    host = fields.String(metadata={"description": "admin only (container:get_one:host)"})
    task_state = fields.String()
    status = fields.String()
    auto_remove = ExtendedFlag()


class AllProjectsQuery(Schema):
    all_projects = ExtendedFlag()


class DeleteQuery(Schema):
    force = ExtendedFlag()
    stop = ExtendedFlag()
    all_projects = ExtendedFlag()


class TimeoutQuery(Schema):
    timeout = fields.Integer(metadata={"minimum": 0})


class UsagesQuery(Schema):
    usages = ExtendedFlag()


class ArchivePathQuery(Schema):
    path = fields.String(required=True)


class PutArchive(Schema):
    path = fields.String(required=True)
    data = fields.String(required=True, metadata={"description": "Base64 of a tar (1.25+)"})


class RebuildBody(rq.Rebuild):
    image_driver = fields.String(allow_none=True, metadata={"enum": ["glance", "docker"]})


class WsQuery(Schema):
    token = fields.String(required=True)


# --- the operations ---------------------------------------------------------------------------

C = "containers"
LOOKUP = (403, 404, 409)          # policy, not found (or another project's), name ambiguity
STATE = LOOKUP                    # + a wrong state is also 409
LIVE = (400, 403, 404, 409, 504)  # + the host did not answer in time

OPERATIONS: dict[tuple[str, str], Op] = {
    ("root.root", "GET"): Op("Versions of the API", 200, rs.Root, tag="versions", public=True),
    ("root.v1", "GET"): Op("The v1 API", 200, rs.V1, tag="versions", public=True),
    ("openapi.spec", "GET"): Op("This document", 200, "object", tag="versions"),

    ("containers.create", "POST"): Op(
        "Create (and run) a container", 202, rs.Container, rq.ContainerCreate, RunQuery,
        (400, 403, 404, 409), description="403 also when the project's quota is exceeded."),
    ("containers.list_containers", "GET"): Op(
        "List containers", 200, rs.ContainerList, query=ListQuery, errors=(400, 403, 404)),
    ("containers.show", "GET"): Op("Show a container", 200, rs.Container,
                                   query=AllProjectsQuery, errors=(400,) + LOOKUP),
    ("containers.delete", "DELETE"): Op("Delete a container", 204, None, query=DeleteQuery,
                                        errors=(400,) + STATE),
    ("containers.start", "POST"): Op("Start", 202, None, errors=STATE),
    ("containers.stop", "POST"): Op("Stop", 202, None, query=TimeoutQuery,
                                    errors=(400,) + STATE),
    ("containers.reboot", "POST"): Op("Reboot", 202, None, query=TimeoutQuery,
                                      errors=(400,) + STATE),
    ("containers.pause", "POST"): Op("Pause", 202, None, errors=STATE),
    ("containers.unpause", "POST"): Op("Unpause", 202, None, errors=STATE),
    ("containers.kill", "POST"): Op("Kill (send a signal)", 202, None, rq.Kill,
                                    errors=(400,) + STATE),
    ("containers.actions", "GET"): Op("Actions of a container", 200, rs.ContainerActionList,
                                      errors=LOOKUP),
    ("containers.action", "GET"): Op("One action and its events", 200,
                                     rs.ContainerActionWithEvents, errors=LOOKUP),

    ("live.logs", "GET"): Op("Logs", 200, STRING, query=lq.Logs, errors=LIVE),
    ("live.top", "GET"): Op("Processes", 200, rs.Top, query=lq.Top, errors=LIVE),
    ("live.stats", "GET"): Op("Resource usage", 200, rs.Stats, errors=LIVE),
    ("live.network_list", "GET"): Op("Networks (1.13+)", 200, rs.NetworkList, errors=LIVE),
    ("live.execute", "POST"): Op("Execute a command", 200, rs.Execute, query=lq.Execute,
                                 errors=LIVE),
    ("live.execute_resize", "POST"): Op("Resize an exec's tty", 200, NULL,
                                        query=lq.ExecuteResize, errors=LIVE),
    ("live.resize", "POST"): Op("Resize the tty", 200, NULL, query=lq.Resize, errors=LIVE),
    ("live.attach", "GET"): Op("Websocket URL to attach", 200, STRING, errors=LIVE),
    ("live.get_archive", "GET"): Op("A path of the container as a tar", 200, rs.Archive,
                                    query=ArchivePathQuery, errors=LIVE),
    ("live.put_archive", "POST"): Op("Extract a tar into the container", 200, NULL,
                                     PutArchive, errors=LIVE),
    ("wsproxy.proxy", "GET"): Op(
        "Websocket of an attach or exec (single-use token)", 101, None, query=WsQuery,
        errors=(400, 403, 404, 409), public=True,
        description="A websocket upgrade; a plain HTTP request is refused with 400."),

    ("mutations.update", "PATCH"): Op(
        "Update cpu, memory, name, auto_heal", 200, rs.Container, rq.ContainerUpdate,
        errors=(400,) + STATE + (504,), description="403 also when the new cpu or memory "
        "would exceed the project's quota."),
    ("mutations.rename", "POST"): Op("Rename (1.1-1.13)", 200, rs.Container, query=rq.Rename,
                                     errors=(400,) + STATE + (504,)),
    ("mutations.resize_container", "POST"): Op(
        "Resize cpu/memory (1.19+); answers the container as it was", 202, rs.Container,
        rq.ContainerUpdate, errors=(400,) + STATE),
    ("mutations.rebuild", "POST"): Op("Rebuild (optionally from another image)", 202, None,
                                      RebuildBody, errors=(400,) + STATE),
    ("mutations.commit", "POST"): Op("Commit to an image", 202, rs.Commit, query=rq.Commit,
                                     errors=(400,) + STATE + (504,)),
    ("mutations.network_detach", "POST"): Op(
        "Detach a network (1.6+)", 202, None, query=rq.NetworkDetach,
        errors=(400,) + STATE + (504,)),
    ("mutations.network_attach", "POST"): Op(
        "Attach a network (1.8+)", 200, None, rq.NetworkAttach, rq.NetworkAttach,
        errors=(400,) + STATE + (504,)),
    ("mutations.add_security_group", "POST"): Op(
        "Add a security group (1.1-1.14; unsupported: 400)", 202, None, rq.SecurityGroup,
        errors=(400,) + STATE),
    ("mutations.remove_security_group", "POST"): Op(
        "Remove a security group (1.1-1.14; unsupported: 400)", 202, None, rq.SecurityGroup,
        errors=(400,) + STATE),

    ("quotas.get_quotas", "GET"): Op(
        "Quotas of a project", 200, rs.Quota, query=UsagesQuery, errors=(400, 403),
        tag="quotas", more={200: {"oneOf": [rs.Quota, rs.QuotaWithUsages]}}),
    ("quotas.update_quotas", "PUT"): Op("Set quotas of a project (admin)", 200, rs.Quota,
                                        rq.QuotaUpdate, errors=(400, 403), tag="quotas"),
    ("quotas.delete_quotas", "DELETE"): Op("Revert a project's quotas to the defaults "
                                           "(admin)", 200, None, errors=(400, 403),
                                           tag="quotas"),
    ("quotas.quota_defaults", "GET"): Op("Default quotas", 200, rs.Quota, errors=(400, 403),
                                         tag="quotas"),
    ("quotas.get_quota_class", "GET"): Op("Quotas of a quota class", 200, rs.Quota,
                                          errors=(400, 403), tag="quotas"),
    ("quotas.update_quota_class", "PUT"): Op("Set quotas of a quota class (admin)", 200,
                                             rs.Quota, rq.QuotaUpdate, errors=(400, 403),
                                             tag="quotas"),
}


# --- fields of our own, as JSON schema ---------------------------------------------------

def _bounded(f: pt._Bounded) -> dict[str, Any]:
    kind = "integer" if f.kind == "integer" else "number"
    return {"oneOf": [{"type": kind, "minimum": f.minimum, "maximum": f.maximum},
                      {"type": "string", "pattern": f.pattern.pattern}]}


def _custom(f: fields.Field) -> dict[str, Any] | None:
    if isinstance(f, pt._Bounded):
        return _bounded(f)
    if isinstance(f, pt.ZunBoolean):
        return {"enum": [True, "True", "true", False, "False", "false"]}
    if isinstance(f, (ExtendedFlag, lq.ExtendedBoolean)):
        return {"enum": sorted(v for v in pt.EXTENDED_TRUE | pt.EXTENDED_FALSE
                               if isinstance(v, str))}
    if isinstance(f, pt.StringValue):
        return {"type": ["string", "number", "boolean"]}
    return None


def zun_fields(self, field: fields.Field, ret: dict[str, Any] | None = None,
               **kwargs: Any) -> dict[str, Any]:
    if isinstance(field, pt.Name):
        return {"minLength": 2, "maxLength": 255, "pattern": pt.NAME_PATTERN.pattern}
    schema = _custom(field)
    if schema is None:
        return {}
    if ret is not None:
        for key in ("type", "format", "nullable"):
            ret.pop(key, None)
    if field.allow_none:
        schema = {"oneOf": [*schema.get("oneOf", [schema]), {"type": "null"}]}
    return schema


# --- the document ------------------------------------------------------------------------------

def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def routes(app: Flask) -> list[tuple[str, str, str, list[str]]]:
    """(path, method, endpoint, path arguments) of every route of the app."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            out.append((openapi_path(rule.rule), method, rule.endpoint,
                        sorted(rule.arguments)))
    return sorted(out)


def undocumented(app: Flask) -> list[str]:
    return [f"{method} {path} ({endpoint})" for path, method, endpoint, _ in routes(app)
            if (endpoint, method) not in OPERATIONS]


def build_spec(app: Flask) -> dict[str, Any]:
    plugin = MarshmallowPlugin()
    spec = APISpec(title=TITLE, version=str(MAX_VERSION), openapi_version="3.1.0",
                   plugins=[plugin], info={"description": DESCRIPTION})
    plugin.converter.add_attribute_function(zun_fields)
    spec.components.schema("Error", schema=rs.Error)
    spec.components.security_scheme("keystone", {"type": "apiKey", "in": "header",
                                                 "name": "X-Auth-Token"})
    paths: dict[str, dict[str, Any]] = {}
    for path, method, endpoint, args in routes(app):
        op = OPERATIONS.get((endpoint, method))
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, endpoint, args, op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    doc = spec.to_dict()
    doc["security"] = [{"keystone": []}]
    return doc


def _operation(path: str, method: str, endpoint: str, args: list[str],
               op: Op | None) -> dict[str, Any]:
    if op is None:
        return {"summary": f"UNDOCUMENTED {endpoint}", "x-undocumented": True,
                "operationId": endpoint, "responses": {"default": _error()}}
    out: dict[str, Any] = {"summary": op.summary, "tags": [op.tag],
                           "operationId": f"{endpoint}_{method.lower()}"}
    if op.description:
        out["description"] = op.description
    params: list[dict[str, Any]] = [
        {"in": "path", "name": a, "required": True, "schema": {"type": "string"}}
        for a in args]
    if op.query is not None:
        params.append({"in": "query", "schema": op.query})
    if params:
        out["parameters"] = params
    if op.request is not None:
        out["requestBody"] = {"required": False,
                              "content": {"application/json": {"schema": op.request}}}
    responses: dict[Any, Any] = {str(op.success): _body(op.more.get(op.success, op.body))}
    codes = set(op.errors)
    if path.startswith("/v1"):
        codes |= {406, 503}
    if not op.public:
        codes.add(401)
    if method in BODY_METHODS:
        codes |= {400, 413, 415}
    for code in sorted(codes):
        responses[str(code)] = _error()
    out["responses"] = responses
    if op.public:
        out["security"] = []
    return out


def _body(body: Any) -> dict[str, Any]:
    if body is None:
        return {"description": "No body."}
    if body == STRING:
        schema: Any = {"type": "string"}
    elif body == NULL:
        schema = {"type": "null"}
    elif body == "object":
        schema = {"type": "object"}
    elif isinstance(body, dict):
        schema = {"oneOf": [s for s in body["oneOf"]]}
    else:
        schema = body
    return {"description": "Success.", "content": {"application/json": {"schema": schema}}}


def _error() -> dict[str, Any]:
    return {"description": "Zun's error body.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


DESCRIPTION = (
    "OpenStack Zun's Containers API served by an event-sourced backend. Send "
    "`OpenStack-API-Version: container <1.1-" + str(MAX_VERSION) + "|latest>`; without it "
    "the request is served at 1.1. Authentication: `X-Auth-Token` (Keystone) or, with "
    "ZUN_AUTH_STRATEGY=noauth, `X-Project-Id`/`X-User-Id`/`X-Roles`. Errors carry Zun's body "
    "`{\"errors\": [...]}`.")


@bp.get("/openapi.json")
def spec():
    ext = current_app.extensions
    if "zun.openapi" not in ext:
        ext["zun.openapi"] = build_spec(current_app)
    return jsonify(ext["zun.openapi"])
