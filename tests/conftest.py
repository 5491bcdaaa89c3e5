"""Shared fixtures: one Kafka + PostgreSQL deployment (separate api, worker and
projector processes) and one embedded deployment (`zun-cqrs up`) per test session."""
from __future__ import annotations

import pytest

from tests.support import Deployment


@pytest.fixture(scope="session")
def deployment(tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("kafka"), mode="kafka").start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def embedded(tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("embedded"), mode="embedded").start()
    yield d
    d.stop()


@pytest.fixture
def client(deployment):
    return deployment.client()


@pytest.fixture
def admin(deployment):
    return deployment.client(**{"X-Roles": "admin"})
