"""Rebuild the read model from the logs, and compare a rebuild with the live read model.

A rebuild is the projector (projections/projector.py) run from offset 0 into a fresh
place: a new schema of the same PostgreSQL database (reached through search_path) or a
new SQLite file. Because the projection is deterministic (row order and timestamps come
from the records, never from the clock or from the order in which the two topics were
read), a rebuild that has consumed the same records as the live projector holds the same
rows. `verify` relies on that: it reads the live tables and the live offsets in one
snapshot, brings the rebuild to exactly those offsets and compares."""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .db import Database, PostgresDatabase, SqliteDatabase
from .projector import positions, project_batch
from .schema import TABLES, create_schema

#: the topic kinds the projector consumes
PROJECTED_TOPICS = ("commands", "events")
#: tables of the read-model schema that no projection writes
NOT_PROJECTED = ("projection_offsets", "ws_tokens")

Offsets = dict[tuple[str, int], int]


# --- tables ----------------------------------------------------------------------------

def projected_tables() -> dict[str, tuple[str, ...]]:
    """Each projected table with its primary-key columns, read from the DDL."""
    out: dict[str, tuple[str, ...]] = {}
    for ddl in TABLES:
        m = re.match(r"\s*CREATE TABLE IF NOT EXISTS (\w+)", ddl)
        if not m or m.group(1) in NOT_PROJECTED:
            continue
        pk = re.search(r"PRIMARY KEY \(([^)]*)\)", ddl)
        inline = re.search(r"(\w+) \w+ PRIMARY KEY", ddl)
        keys = tuple(c.strip() for c in pk.group(1).split(",")) if pk else (
            (inline.group(1),) if inline else ())
        out[m.group(1)] = keys
    return out


def read_tables(cur: Any) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table in projected_tables():
        cur.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        out[table] = [dict(zip(names, row)) for row in cur.fetchall()]
    return out


def read_offsets(cur: Any) -> Offsets:
    cur.execute("SELECT topic, partition, next_offset FROM projection_offsets")
    return {(t, p): o for t, p, o in cur.fetchall()}


# --- targets ---------------------------------------------------------------------------

def with_search_path(database_url: str, schema: str) -> str:
    parts = urlsplit(database_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Target:
    """Where a rebuild goes: `name` is the schema or the file."""
    db: Database
    name: str
    drop: Callable[[], None]


def new_target(live: Database, database_url: str, data_dir: Path, name: str) -> Target:
    if isinstance(live, PostgresDatabase):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain schema name: {name}")
        with live.transaction() as cur:
            cur.execute(f"CREATE SCHEMA {name}")
        db = PostgresDatabase(with_search_path(database_url, name), maxconn=2)

        def drop() -> None:
            db.close()
            with live.transaction() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        return Target(db, name, drop)
    path = Path(name) if "/" in name else Path(data_dir) / f"{name}.sqlite"
    if path.exists():
        raise FileExistsError(f"{path} exists; a rebuild starts from an empty read model")
    db = SqliteDatabase(path)

    def drop_file() -> None:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Target(db, str(path), drop_file)


# --- progress --------------------------------------------------------------------------

class Progress:
    """A progress bar on stderr (a line per tenth when stderr is not a terminal)."""

    def __init__(self, total: int, label: str, stream=None, enabled: bool = True):
        self.total, self.label, self.done = max(total, 0), label, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_draw, self.last_tenth = 0.0, -1
        self.started = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        self.draw()

    def draw(self, final: bool = False) -> None:
        if not self.enabled:
            return
        frac = 1.0 if self.total == 0 else min(self.done / self.total, 1.0)
        now = time.monotonic()
        if self.tty:
            if not final and now - self.last_draw < 0.1:
                return
            bar = "#" * int(frac * 30)
            self.stream.write(f"\r{self.label} [{bar:<30}] {frac:6.1%} "
                              f"{self.done}/{self.total} records")
            if final:
                self.stream.write(f" in {now - self.started:.1f}s\n")
        else:
            tenth = int(frac * 10)
            if not final and (tenth == self.last_tenth or tenth == 10):
                return
            self.last_tenth = tenth
            self.stream.write(f"{self.label}: {frac:.0%} ({self.done}/{self.total} records)"
                              + (f" in {now - self.started:.1f}s" if final else "") + "\n")
        self.last_draw = now
        self.stream.flush()


# --- rebuild ---------------------------------------------------------------------------

def topics_of(boot) -> list[str]:
    return [boot.topic(kind) for kind in PROJECTED_TOPICS]


def end_offsets(boot) -> Offsets:
    reader = boot.log.reader()
    try:
        start: Offsets = {}
        for topic in topics_of(boot):
            start.update({(topic, p): 0 for p in boot.log.partitions(topic)})
        reader.assign(start)
        return reader.end_offsets()
    finally:
        reader.close()


def advance(boot, db: Database, until: Offsets, progress: Progress | None = None) -> int:
    """Project every record before `until` (per partition) that `db` has not applied yet;
    records at or after `until` are left for later. Returns how many were applied."""
    create_schema(db)
    start: Offsets = {}
    for topic in topics_of(boot):
        start.update(positions(db, topic, boot.log.partitions(topic)))
    pending = {tp: end for tp, end in until.items() if end > start.get(tp, 0)}
    if progress is not None:
        progress.total = sum(end - start.get(tp, 0) for tp, end in pending.items())
        progress.draw()
    if not pending:
        return 0
    reader = boot.log.reader()
    applied = 0
    try:
        reader.assign({tp: start.get(tp, 0) for tp in pending})
        position = {tp: start.get(tp, 0) for tp in pending}
        idle_since = time.monotonic()
        while any(position[tp] < end for tp, end in pending.items()):
            records = [r for r in reader.poll(0.5)
                       if r.offset < pending[(r.topic, r.partition)]]
            if not records:
                if time.monotonic() - idle_since > 60:
                    raise TimeoutError(f"the log stopped short of {pending}: at {position}")
                continue
            idle_since = time.monotonic()
            project_batch(db, records)
            for r in records:
                position[(r.topic, r.partition)] = r.offset + 1
            applied += len(records)
            if progress is not None:
                progress.add(len(records))
    finally:
        reader.close()
    if progress is not None:
        progress.draw(final=True)
    return applied


# --- compare ---------------------------------------------------------------------------

@dataclass
class Difference:
    table: str
    key: tuple
    kind: str  # "missing" (live only), "extra" (rebuild only), "changed"
    detail: str = ""

    def __str__(self) -> str:
        key = "/".join(str(k) for k in self.key)
        return f"{self.table} {key}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not self.differences


def compare(live: dict[str, list[dict]], rebuilt: dict[str, list[dict]]) -> Comparison:
    out = Comparison()
    for table, keys in projected_tables().items():
        a, b = _index(live.get(table, []), keys), _index(rebuilt.get(table, []), keys)
        out.rows[table] = len(a)
        for key in sorted(set(a) | set(b), key=str):
            if key not in b:
                out.differences.append(Difference(table, key, "missing"))
            elif key not in a:
                out.differences.append(Difference(table, key, "extra"))
            elif a[key] != b[key]:
                out.differences.append(Difference(table, key, "changed", _changes(a[key], b[key])))
    return out


def _index(rows: Iterable[dict], keys: tuple[str, ...]) -> dict[tuple, dict]:
    out = {}
    for row in rows:
        key = tuple(row[k] for k in keys) if keys else tuple(sorted(row.items()))
        out[key] = row
    return out


def _changes(live: dict, rebuilt: dict) -> str:
    parts = []
    for col in sorted(set(live) | set(rebuilt)):
        x, y = live.get(col), rebuilt.get(col)
        if x == y:
            continue
        if col == "doc":
            dx, dy = json.loads(x or "{}"), json.loads(y or "{}")
            for k in sorted(set(dx) | set(dy)):
                if dx.get(k) != dy.get(k):
                    parts.append(f"doc.{k}: live {dx.get(k)!r} rebuild {dy.get(k)!r}")
        else:
            parts.append(f"{col}: live {x!r} rebuild {y!r}")
    return "; ".join(parts)


def live_snapshot(db: Database) -> tuple[dict[str, list[dict]], Offsets]:
    """The live tables and the offsets they reflect, read in one consistent snapshot."""
    with db.transaction() as cur:
        if db.dialect == "postgres":
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        offsets = read_offsets(cur)
        return read_tables(cur), offsets


def verify(boot, target: Target, attempts: int = 5, pause: float = 1.0,
           progress: bool = True) -> Comparison:
    """Compare the live read model with a rebuild at the same offsets. A difference that
    goes away on a later attempt was an action in flight; only lasting ones count."""
    comparison = Comparison()
    for attempt in range(max(attempts, 1)):
        tables, offsets = live_snapshot(boot.db)
        until = {tp: off for tp, off in offsets.items() if tp[0] in topics_of(boot)}
        advance(boot, target.db, until,
                Progress(0, "verify: rebuilding", enabled=progress and attempt == 0))
        with target.db.transaction() as cur:
            rebuilt = read_tables(cur)
        comparison = compare(tables, rebuilt)
        if comparison.same:
            return comparison
        time.sleep(pause)
    return comparison


def promote(live: Database, target: Target) -> dict[str, int]:
    """Replace the live projected tables and offsets with the rebuild's, in one live
    transaction. Stop the projectors first: they would go on from their own offsets."""
    create_schema(live)
    with target.db.transaction() as cur:
        rebuilt = read_tables(cur)
        cur.execute("SELECT topic, partition, next_offset FROM projection_offsets")
        offsets = cur.fetchall()
    counts = {}
    with live.transaction() as cur:
        for table, rows in rebuilt.items():
            cur.execute(f"DELETE FROM {table}")
            for row in rows:
                cols = list(row)
                cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                            f"({', '.join(['%s'] * len(cols))})", tuple(row[c] for c in cols))
            counts[table] = len(rows)
        cur.execute("DELETE FROM projection_offsets")
        for topic, partition, next_offset in offsets:
            cur.execute("INSERT INTO projection_offsets (topic, partition, next_offset) "
                        "VALUES (%s, %s, %s)", (topic, partition, next_offset))
    return counts
