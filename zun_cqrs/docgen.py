"""Generates docs/configuration.md from settings.OPTIONS (`python -m zun_cqrs.docgen`)."""
from __future__ import annotations

import sys
from .settings import OPTIONS

HEADER = """# Configuration

Every setting is an environment variable with the `ZUN_` prefix; `zun-cqrs --help` prints
the same list. This file is generated from `zun_cqrs/settings.py`
(`python -m zun_cqrs.docgen > docs/configuration.md`); a test keeps them in sync.

| variable | default | meaning |
|---|---|---|
"""


def render() -> str:
    rows = [f"| `{o.name}` | {('`' + o.default + '`') if o.default else ''} | {o.help} |"
            for o in OPTIONS]
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
