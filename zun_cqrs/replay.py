"""`zun-cqrs replay` and `zun-cqrs verify` (filled in by the reliability work)."""
from __future__ import annotations


def add_commands(sub) -> None:
    pass
