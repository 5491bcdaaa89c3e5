"""Response schemas: what the API answers (api/views.py and the controllers), as
marshmallow schemas from which the OpenAPI document (api/openapi.py) is generated, and
against which the schemathesis run checks every response."""
from __future__ import annotations

from marshmallow import Schema, fields


def _str(**kw) -> fields.String:
    return fields.String(allow_none=True, **kw)


class Link(Schema):
    href = fields.String(required=True)
    rel = fields.String(required=True)
    type = fields.String()


class Container(Schema):
    """containers_view._basic_keys; `host`, `image_pull_policy`, `privileged` and
    `runtime` appear only when `container:get_one:<key>` allows the caller; `links` only
    outside lists."""
    uuid = fields.UUID(required=True)
    links = fields.List(fields.Nested(Link))
    user_id = fields.String(required=True)
    project_id = fields.String(required=True)
    name = _str(required=True)
    image = fields.String(required=True)
    command = fields.List(fields.String(), allow_none=True, required=True)
    status = fields.String(required=True)
    status_reason = _str(required=True)
    task_state = _str(required=True)
    cpu = fields.Float(allow_none=True, required=True)
    memory = _str(required=True)
    environment = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True,
                              required=True)
    workdir = _str(required=True)
    ports = fields.List(fields.Integer(), allow_none=True, required=True)
    hostname = _str(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True,
                         required=True)
    addresses = fields.Dict(keys=fields.String(), allow_none=True, required=True)
    image_pull_policy = _str()
    host = _str()
    restart_policy = fields.Dict(keys=fields.String(), values=fields.String(),
                                 allow_none=True, required=True)
    status_detail = _str(required=True)
    interactive = fields.Boolean(allow_none=True, required=True)
    tty = fields.Boolean(allow_none=True, required=True)
    image_driver = _str(required=True)
    security_groups = fields.List(fields.String(), allow_none=True, required=True)
    auto_remove = fields.Boolean(allow_none=True, required=True)
    runtime = _str()
    disk = fields.Integer(allow_none=True, required=True)
    auto_heal = fields.Boolean(allow_none=True, required=True)
    privileged = fields.Boolean(allow_none=True)
    healthcheck = fields.Dict(keys=fields.String(), allow_none=True, required=True)
    cpu_policy = _str(required=True)
    registry_id = _str(required=True)
    entrypoint = fields.List(fields.String(), allow_none=True, required=True)
    created_at = _str(required=True)
    updated_at = _str(required=True)


class ContainerList(Schema):
    containers = fields.List(fields.Nested(Container), required=True)
    next = _str(required=True)


class ContainerAction(Schema):
    action = fields.String(required=True)
    container_uuid = fields.String(required=True)
    finish_time = _str(required=True)
    message = _str(required=True)
    project_id = _str(required=True)
    request_id = fields.String(required=True)
    start_time = _str(required=True)
    user_id = _str(required=True)


class ContainerActionList(Schema):
    containerActions = fields.List(fields.Nested(ContainerAction), required=True)


class ActionEvent(Schema):
    event = fields.String(required=True)
    finish_time = _str(required=True)
    result = _str(required=True)
    start_time = _str(required=True)
    traceback = _str(required=True)


class ContainerActionWithEvents(ContainerAction):
    events = fields.List(fields.Nested(ActionEvent), required=True)


class ErrorItem(Schema):
    request_id = fields.String(required=True)
    code = fields.String(required=True)
    status = fields.Integer(required=True)
    title = fields.String(required=True)
    detail = fields.String(required=True)
    links = fields.List(fields.Raw(), required=True)


class Error(Schema):
    """Zun's ParsableErrorMiddleware body, for every 4xx and 5xx."""
    errors = fields.List(fields.Nested(ErrorItem), required=True)


class Quota(Schema):
    containers = fields.Integer(required=True)
    memory = fields.Integer(required=True)
    cpu = fields.Integer(required=True)
    disk = fields.Integer(required=True)


class QuotaUsage(Schema):
    limit = fields.Integer(required=True)
    in_use = fields.Float(required=True)


class QuotaWithUsages(Schema):
    containers = fields.Nested(QuotaUsage, required=True)
    memory = fields.Nested(QuotaUsage, required=True)
    cpu = fields.Nested(QuotaUsage, required=True)
    disk = fields.Nested(QuotaUsage, required=True)


class VersionLinks(Schema):
    id = fields.String(required=True)
    links = fields.List(fields.Nested(Link), required=True)
    status = fields.String(required=True)
    max_version = fields.String(required=True)
    min_version = fields.String(required=True)


class Root(Schema):
    name = fields.String(required=True)
    description = fields.String(required=True)
    versions = fields.List(fields.Nested(VersionLinks), required=True)
    default_version = fields.Nested(VersionLinks, required=True)


class MediaType(Schema):
    base = fields.String(required=True)
    type = fields.String(required=True)


class V1(Schema):
    id = fields.String(required=True)
    media_types = fields.List(fields.Nested(MediaType), required=True)
    links = fields.List(fields.Nested(Link), required=True)
    containers = fields.List(fields.Nested(Link), required=True)


# --- live operations (api/live.py) ----------------------------------------------------------

class Top(Schema):
    Titles = fields.List(fields.String(), required=True)
    Processes = fields.List(fields.List(fields.String()), required=True)


class Stats(Schema):
    class Meta:
        include = {
            "CONTAINER": fields.String(required=True),
            "CPU %": fields.Float(required=True),
            "MEM USAGE(MiB)": fields.Float(required=True),
            "MEM LIMIT(MiB)": fields.Float(required=True),
            "MEM %": fields.Float(required=True),
            "BLOCK I/O(B)": fields.String(required=True),
            "NET I/O(B)": fields.String(required=True),
        }


class FixedIp(Schema):
    subnet_id = _str()
    version = fields.Integer()
    ip_address = fields.String()


class Network(Schema):
    """1.18+: one entry per port with its fixed_ips; 1.13-1.17: one entry per address."""
    net_id = _str(required=True)
    port_id = _str(required=True)
    fixed_ips = fields.List(fields.Nested(FixedIp))
    subnet_id = _str()
    version = fields.Integer()
    ip_address = fields.String()


class NetworkList(Schema):
    networks = fields.List(fields.Nested(Network), required=True)


class Execute(Schema):
    output = _str(required=True)
    exit_code = fields.Integer(allow_none=True, required=True)
    exec_id = _str(required=True)
    proxy_url = _str(required=True)


class Archive(Schema):
    data = fields.String(required=True)
    stat = fields.Dict(keys=fields.String(), required=True)


class Commit(Schema):
    uuid = fields.String(required=True)
