"""Version discovery: `GET /` and `GET /v1` (public, no token)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .versions import MAX_VERSION, MIN_VERSION

bp = Blueprint("root", __name__)


def _host_url() -> str:
    return request.host_url.rstrip("/")


def version_doc() -> dict:
    return {"id": "v1", "links": [{"href": f"{_host_url()}/v1/", "rel": "self"}],
            "status": "CURRENT", "max_version": str(MAX_VERSION),
            "min_version": str(MIN_VERSION)}


@bp.get("/")
def root():
    v = version_doc()
    return jsonify({"name": "OpenStack Zun API",
                    "description": "Zun is an OpenStack project which aims to provide "
                                   "containers service.",
                    "versions": [v], "default_version": v})


@bp.get("/v1")
def v1():
    host = _host_url()
    return jsonify({
        "id": "v1",
        "media_types": [{"base": "application/json",
                         "type": "application/vnd.openstack.zun.v1+json"}],
        "links": [{"href": f"{host}/v1/", "rel": "self"},
                  {"href": "https://docs.openstack.org/developer/zun/dev/api-spec-v1.html",
                   "rel": "describedby", "type": "text/html"}],
        "containers": [{"href": f"{host}/v1/containers/", "rel": "self"},
                       {"href": f"{host}/containers/", "rel": "bookmark"}],
    })
