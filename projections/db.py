"""The read model's database: PostgreSQL through psycopg2, or SQLite for the embedded
configuration. SQL is written once with `%s` placeholders; the SQLite side translates."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import psycopg2
import psycopg2.pool


class DatabaseUnavailable(Exception):
    """The read-model database cannot be reached."""


class Database:
    dialect = "?"

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self.transaction() as cur:
            cur.execute(sql, params)
            return _rows(cur)

    def close(self) -> None:
        pass


def _rows(cur: Any) -> list[dict[str, Any]]:
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, url: str, maxconn: int = 16):
        self.url = url
        self.maxconn = maxconn
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        1, self.maxconn, self.url, connect_timeout=3)
                except psycopg2.Error as e:
                    raise DatabaseUnavailable(str(e).strip()) from e
            return self._pool

    def _checkout(self, pool: psycopg2.pool.ThreadedConnectionPool) -> Any:
        """A connection that answers: after a server restart every pooled connection is
        dead, and without this check each would fail one request before being dropped."""
        for _ in range(self.maxconn + 1):
            try:
                conn = pool.getconn()
            except psycopg2.Error as e:
                raise DatabaseUnavailable(str(e).strip()) from e
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                conn.rollback()
                return conn
            except psycopg2.Error:
                pool.putconn(conn, close=True)
        raise DatabaseUnavailable("no connection to the read-model database answers")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        pool = self._get_pool()
        conn = self._checkout(pool)
        broken = False
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            broken = True
            raise DatabaseUnavailable(str(e).strip()) from e
        except BaseException:
            try:
                conn.rollback()
            except psycopg2.Error:
                broken = True
            raise
        finally:
            pool.putconn(conn, close=broken or bool(conn.closed))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None


class _SqliteCursor:
    def __init__(self, cur: sqlite3.Cursor):
        self._cur = cur

    def execute(self, sql: str, params: tuple = ()) -> None:
        self._cur.execute(sql.replace("%s", "?"), params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteCursor(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def connect(database_url: str, data_dir: Path) -> Database:
    if database_url:
        return PostgresDatabase(database_url)
    return SqliteDatabase(Path(data_dir) / "readmodel.sqlite")
