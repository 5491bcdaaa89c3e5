"""Read-model tables. The same DDL runs on PostgreSQL and SQLite."""
from __future__ import annotations

from .db import Database

TABLES = (
    """CREATE TABLE IF NOT EXISTS containers (
        uuid TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        project_id TEXT NOT NULL, user_id TEXT NOT NULL,
        name TEXT, image TEXT, status TEXT, task_state TEXT, host TEXT, memory TEXT,
        auto_remove INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL, updated_at TEXT,
        doc TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS containers_project ON containers (project_id, removed)",
    "CREATE INDEX IF NOT EXISTS containers_name ON containers (name)",
    """CREATE TABLE IF NOT EXISTS container_actions (
        container_uuid TEXT NOT NULL, request_id TEXT NOT NULL, action TEXT NOT NULL,
        project_id TEXT, user_id TEXT, start_time TEXT, finish_time TEXT, message TEXT,
        seq BIGINT NOT NULL,
        PRIMARY KEY (container_uuid, request_id, action))""",
    """CREATE TABLE IF NOT EXISTS container_action_events (
        container_uuid TEXT NOT NULL, request_id TEXT NOT NULL, action TEXT NOT NULL,
        event TEXT NOT NULL, start_time TEXT, finish_time TEXT, result TEXT, traceback TEXT,
        PRIMARY KEY (container_uuid, request_id, event))""",
    # limits set by `quota` commands (projections/quotas.py)
    """CREATE TABLE IF NOT EXISTS quotas (
        kind TEXT NOT NULL, name TEXT NOT NULL, resource TEXT NOT NULL,
        hard_limit BIGINT NOT NULL,
        PRIMARY KEY (kind, name, resource))""",
    """CREATE TABLE IF NOT EXISTS projection_offsets (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, partition))""",
    """CREATE TABLE IF NOT EXISTS command_outcomes (
        container_uuid TEXT NOT NULL, request_id TEXT NOT NULL, command TEXT NOT NULL,
        result TEXT NOT NULL, reason TEXT, message TEXT, data TEXT, answered_at TEXT,
        PRIMARY KEY (container_uuid, request_id, command))""",
    # written by the API, not projected: single-use websocket tokens (api/wsproxy.py)
    """CREATE TABLE IF NOT EXISTS ws_tokens (
        token_hash TEXT PRIMARY KEY, container_uuid TEXT NOT NULL, project_id TEXT NOT NULL,
        kind TEXT NOT NULL, exec_id TEXT, expires_at DOUBLE PRECISION NOT NULL,
        used INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)""",
)


def create_schema(db: Database) -> None:
    with db.transaction() as cur:
        if db.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(7)")  # concurrent first starts
        for ddl in TABLES:
            cur.execute(ddl)
