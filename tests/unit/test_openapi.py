"""The OpenAPI document covers every route of the app: a route without a documented
operation fails here, and the document is one schemathesis can load."""
from __future__ import annotations

import pytest
import schemathesis

from api.app import create_app
from api.openapi import OPERATIONS, build_spec, routes, undocumented
from zun_cqrs.bootstrap import Bootstrap
from zun_cqrs.settings import Settings


@pytest.fixture
def app(tmp_path):
    return create_app(Bootstrap(Settings.from_env({"ZUN_DATA_DIR": str(tmp_path)})))


def test_every_route_has_a_documented_operation(app):
    assert undocumented(app) == []


def test_no_operation_is_documented_for_a_route_that_does_not_exist(app):
    existing = {(endpoint, method) for _, method, endpoint, _ in routes(app)}
    assert set(OPERATIONS) - existing == set()


def test_a_new_route_is_reported_until_documented(app):
    @app.get("/v1/containers/<ident>/something_new")
    def something_new(ident):
        return ""
    assert undocumented(app) == ["GET /v1/containers/{ident}/something_new (something_new)"]
    op = build_spec(app)["paths"]["/v1/containers/{ident}/something_new"]["get"]
    assert op["x-undocumented"] is True


def test_the_document_loads_and_names_every_operation(app):
    doc = build_spec(app)
    schema = schemathesis.openapi.from_dict(doc)
    loaded = [r.ok() for r in schema.get_all_operations()]
    assert len(loaded) == len(OPERATIONS)
    ids = {op.definition.raw["operationId"] for op in loaded}
    assert ids == {f"{e}_{m.lower()}" for e, m in OPERATIONS}
    assert doc["openapi"].startswith("3.1")
    create = doc["paths"]["/v1/containers"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ContainerCreate"}
    assert doc["components"]["schemas"]["ContainerCreate"]["additionalProperties"] is False
    assert set(create["responses"]) >= {"202", "400", "401", "403", "413", "415"}
