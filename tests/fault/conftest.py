"""Fixtures of the fault tests: a private Kafka + PostgreSQL pair for the session (these
tests stop and restart them; the shared pair other tests use is never touched)."""
from __future__ import annotations

import pytest

from .stack import PrivateStack


@pytest.fixture(scope="session")
def private_stack():
    stack = PrivateStack()
    try:
        took = stack.start()
        print(f"\nprivate stack: Kafka {stack.kafka}, PostgreSQL {stack.pg_admin_url} "
              f"({took:.1f}s to start) in {stack.dir}")
        yield stack
    finally:
        stack.close()
