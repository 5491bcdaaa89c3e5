"""The command log port: an append-only, partitioned, replayable log of records.

Two adapters implement it with the same semantics (commands/kafka_log.py on Apache
Kafka, commands/embedded_log.py on a SQLite file for the all-in-one `up`): a key always
maps to the same partition, offsets grow by one per partition, a record appended and
acknowledged is durable, and readers position themselves explicitly (the consumer's
position lives in the consumer's own database, in the same transaction as its effects).
"""
from __future__ import annotations

import json
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterable


class LogUnavailable(Exception):
    """The log could not accept or serve a record in time (broker down, timeout)."""


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str
    value: dict[str, Any]


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def decode(raw: bytes) -> dict[str, Any]:
    return json.loads(raw.decode())


def embedded_partition(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


class LogReader(ABC):
    """Reads assigned partitions from explicit positions."""

    @abstractmethod
    def assign(self, positions: dict[tuple[str, int], int]) -> None:
        """Read each (topic, partition) from the given offset on."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Record]:
        """Records after the current positions, in order per partition; [] on timeout."""

    @abstractmethod
    def end_offsets(self) -> dict[tuple[str, int], int]:
        """Offset the next record of each assigned partition will get."""

    @abstractmethod
    def close(self) -> None: ...


def close_quietly(reader: "LogReader | None") -> None:
    """Close a reader that may already be broken (its process resumes with a new one)."""
    if reader is None:
        return
    try:
        reader.close()
    except Exception:
        pass


class CommandLog(ABC):
    @abstractmethod
    def ensure_topics(self, topics: Iterable[str]) -> None: ...

    @abstractmethod
    def partitions(self, topic: str) -> list[int]: ...

    @abstractmethod
    def append(self, topic: str, key: str, value: dict[str, Any], timeout: float = 10.0) -> Record:
        """Durably append; returns the record with its partition and offset.

        Raises LogUnavailable when the log cannot acknowledge within `timeout`.
        """

    def append_many(self, topic: str, items: list[tuple[str, dict[str, Any]]],
                    timeout: float = 10.0) -> list[Record]:
        """Append several records, in order; adapters batch the round trips."""
        return [self.append(topic, key, value, timeout) for key, value in items]

    @abstractmethod
    def reader(self) -> LogReader: ...

    def close(self) -> None:
        pass
