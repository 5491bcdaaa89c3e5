"""The Flask app factory: request plumbing shared by every endpoint (request ids,
microversions, content types, body limits, authentication, Zun's error body)."""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from projections.db import DatabaseUnavailable

from . import versions
from .auth import authenticate, check_settings
from .context import RequestContext
from .errors import (InternalError, Invalid, MethodNotAllowed, HTTPNotFound, RequestEntityTooLarge,
                     ServiceUnavailable, UnsupportedMediaType, ZunError)
from .gateway import Gateway
from .policy import PolicyFile

log = logging.getLogger(__name__)

#: version discovery is the only thing a caller without a token may see (acl_public_routes)
PUBLIC_PATHS = ("/", "/v1", "/v1/")
PUBLIC_METHODS = ("GET", "HEAD")
JSON_TYPES = ("application/json", "application/javascript")


def create_app(boot) -> Flask:
    check_settings(boot.settings)
    app = Flask(__name__, static_folder=None)
    app.url_map.strict_slashes = False
    # one byte over the limit: a chunked body is cut there, and _json_body sees it is too long
    app.config["MAX_CONTENT_LENGTH"] = boot.settings.max_body_bytes + 1
    app.extensions["zun"] = boot
    app.extensions["zun.gateway"] = Gateway(boot)
    app.extensions["zun.policy"] = PolicyFile.from_file(boot.settings.policy_file)

    from .containers import bp as containers_bp
    from .root import bp as root_bp
    app.register_blueprint(root_bp)
    app.register_blueprint(containers_bp)
    from .mutations import bp as mutations_bp
    app.register_blueprint(mutations_bp)
    from .quotas import bp as quotas_bp
    app.register_blueprint(quotas_bp)
    from .openapi import bp as openapi_bp
    app.register_blueprint(openapi_bp)
    from .live import bp as live_bp
    from .wsproxy import bp as wsproxy_bp
    app.register_blueprint(live_bp)
    app.register_blueprint(wsproxy_bp)

    @app.before_request
    def _before() -> None:
        ctx = RequestContext()
        g.ctx = ctx
        g.body = {}
        if not is_public():
            authenticate(boot, ctx, request.headers)
        if request.path.rstrip("/").startswith("/v1"):
            ctx.version = versions.negotiate(request.headers.get(versions.HEADER))
            g.versioned = True
        _reject_nul()
        g.body = _json_body(boot.settings.max_body_bytes)

    @app.after_request
    def _after(resp: Response) -> Response:
        ctx = g.get("ctx")
        if ctx is not None:
            resp.headers["X-Openstack-Request-Id"] = ctx.request_id
            if g.get("versioned"):
                resp.headers.update(versions.response_headers(ctx.version))
        return resp

    @app.errorhandler(ZunError)
    def _zun_error(e: ZunError) -> Response:
        if isinstance(e, InternalError):
            log.error("internal error: %s", e.message)
        return _error_response(e)

    @app.errorhandler(DatabaseUnavailable)
    def _db_down(e: DatabaseUnavailable) -> Response:
        log.warning("read model unavailable: %s", e)
        return _error_response(ServiceUnavailable("The read model is unavailable. Retry later."))

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response:
        if e.code == 404:
            return _error_response(HTTPNotFound("The resource could not be found."))
        if e.code == 405:
            return _error_response(MethodNotAllowed(
                f"The method {request.method} is not allowed for this resource."))
        if e.code == 413:
            return _error_response(RequestEntityTooLarge(
                f"Request body is larger than {boot.settings.max_body_bytes} bytes."))
        err = ZunError(e.description or e.name)
        err.status = e.code or 500
        err.code = ""
        return _error_response(err)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        correlation = uuid.uuid4()
        log.exception("unexpected error %s", correlation)
        return _error_response(InternalError(
            "Your request could not be handled because of a problem in the server. "
            f"Error Correlation id is: {correlation}"), title="Internal Server Error")

    return app


def is_public() -> bool:
    """Version discovery, and views marked with auth.public (they check their own
    credential, e.g. a single-use websocket token)."""
    if request.path in PUBLIC_PATHS and request.method in PUBLIC_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "zun_public", False))


def _reject_nul() -> None:
    """Identifiers and parameters end up in database columns and Docker calls, which can
    take no NUL character: refused here, once, rather than failing deep down."""
    if "\x00" in request.path or any("\x00" in k or "\x00" in v
                                     for k, v in request.args.items(multi=True)):
        raise Invalid("A NUL character is not allowed in the path or the query string.")


def _error_response(e: ZunError, title: str | None = None) -> Response:
    body = e.body()
    if title:
        body["errors"][0]["title"] = title
    resp = Response(json.dumps(body), status=e.status, mimetype="application/json")
    resp.headers.update(e.headers)
    return resp


def _json_body(limit: int) -> dict[str, Any]:
    """The JSON object of a request, {} when there is none; 415/400/413 otherwise."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return {}
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"Request body is larger than {limit} bytes.")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise RequestEntityTooLarge(f"Request body is larger than {limit} bytes.")
    mimetype = request.mimetype
    if not raw.strip():
        return {}
    if mimetype not in JSON_TYPES:
        if mimetype in ("", "application/x-www-form-urlencoded", "multipart/form-data") \
                and request.form:
            return {}
        raise UnsupportedMediaType(
            f"Unexpected content type: {request.content_type or 'None'}. Expected content "
            "types are: ['application/json']")
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise Invalid(f"Malformed JSON body: {e}") from e
    if not isinstance(data, dict):
        raise Invalid("The request body must be a JSON object.")
    return data
