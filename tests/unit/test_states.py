"""Zun's state table, as the API and the worker both read it."""
from commands.states import STATUSES, VALID_STATES, allowed, conflict_message


def test_table_matches_zun():
    assert VALID_STATES["start"] == ("Created", "Stopped", "Error")
    assert VALID_STATES["stop"] == ("Running",)
    assert "Paused" not in VALID_STATES["delete_force"]
    assert set(VALID_STATES["delete_force"]) == set(STATUSES) - {"Paused"}
    assert VALID_STATES["logs"] == ("Created", "Running", "Stopped", "Paused", "Error", "Unknown")


def test_allowed():
    assert allowed("start", "Stopped")
    assert not allowed("start", "Running")
    assert not allowed("unpause", "Running")
    assert allowed("rename", "Creating")  # no state check for rename


def test_conflict_message_is_zuns():
    assert conflict_message("stop", "u-1", "Stopped") == "Cannot stop container u-1 in Stopped state"
