"""docs/configuration.md and `zun-cqrs --help` come from the one OPTIONS table."""
import subprocess
import sys
from pathlib import Path

from zun_cqrs.docgen import render
from zun_cqrs.settings import OPTIONS

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_current():
    assert (ROOT / "docs" / "configuration.md").read_text() == render(), \
        "run: python -m zun_cqrs.docgen > docs/configuration.md"


def test_help_lists_every_option():
    out = subprocess.run([sys.executable, "-m", "zun_cqrs.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for option in OPTIONS:
        assert option.name in out
