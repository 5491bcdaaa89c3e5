"""The embedded adapter of the command log: one SQLite file, shared by the threads of
the all-in-one process. Same semantics as Kafka: fixed key→partition, dense offsets per
partition, durable once `append` returns."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from .log import CommandLog, LogReader, Record, decode, embedded_partition, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (topic, partition, offset));
CREATE TABLE IF NOT EXISTS topics (topic TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
"""


class EmbeddedLog(CommandLog):
    def __init__(self, path: Path, partitions: int = 6):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.default_partitions = partitions
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._conn = self._connect()
        self._conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                               isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def ensure_topics(self, topics: Iterable[str]) -> None:
        with self._lock:
            for t in topics:
                self._conn.execute("INSERT OR IGNORE INTO topics VALUES (?, ?)",
                                   (t, self.default_partitions))

    def partitions(self, topic: str) -> list[int]:
        with self._lock:
            row = self._conn.execute("SELECT partitions FROM topics WHERE topic=?",
                                     (topic,)).fetchone()
        return list(range(row[0] if row else self.default_partitions))

    def append(self, topic: str, key: str, value: dict[str, Any], timeout: float = 10.0) -> Record:
        return self.append_many(topic, [(key, value)], timeout)[0]

    def append_many(self, topic: str, items: list[tuple[str, dict[str, Any]]],
                    timeout: float = 10.0) -> list[Record]:
        count = len(self.partitions(topic))
        out: list[Record] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for key, value in items:
                    partition = embedded_partition(key, count)
                    (last,) = self._conn.execute(
                        "SELECT COALESCE(MAX(offset), -1) FROM records WHERE topic=? AND "
                        "partition=?", (topic, partition)).fetchone()
                    self._conn.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?)",
                                       (topic, partition, last + 1, key, encode(value)))
                    out.append(Record(topic, partition, last + 1, key, value))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._appended.notify_all()
        return out

    def reader(self) -> LogReader:
        return _EmbeddedReader(self)

    def read_after(self, positions: dict[tuple[str, int], int], limit: int) -> list[Record]:
        out: list[Record] = []
        with self._lock:
            for (topic, partition), offset in positions.items():
                rows = self._conn.execute(
                    "SELECT offset, key, value FROM records WHERE topic=? AND partition=? "
                    "AND offset >= ? ORDER BY offset LIMIT ?",
                    (topic, partition, offset, limit)).fetchall()
                out.extend(Record(topic, partition, o, k, decode(v)) for o, k, v in rows)
        return out

    def wait_for_append(self, timeout: float) -> None:
        with self._appended:
            self._appended.wait(timeout)

    def end_offsets_of(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        with self._lock:
            return {
                (t, p): self._conn.execute(
                    "SELECT COALESCE(MAX(offset), -1) + 1 FROM records WHERE topic=? AND partition=?",
                    (t, p)).fetchone()[0]
                for t, p in keys}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _EmbeddedReader(LogReader):
    def __init__(self, log: EmbeddedLog):
        self.log = log
        self.positions: dict[tuple[str, int], int] = {}

    def assign(self, positions: dict[tuple[str, int], int]) -> None:
        self.positions = dict(positions)

    def poll(self, timeout: float) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            records = self.log.read_after(self.positions, limit=100)
            if records:
                for r in records:
                    self.positions[(r.topic, r.partition)] = r.offset + 1
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self.log.wait_for_append(min(remaining, 0.5))

    def end_offsets(self) -> dict[tuple[str, int], int]:
        return self.log.end_offsets_of(self.positions)

    def close(self) -> None:
        pass
