"""The Kafka adapter of the command log (kafka-python 3, acks=all, idempotent producer).

Readers use explicit assignment (no consumer group): a consumer's position is the
offset tracked in its own database, so a restarted process seeks there and neither
loses nor repeats an effect. Scaling out means giving instances disjoint partition sets
(ZUN_CONSUME_PARTITIONS); an overlap is safe, because tracking rejects a second apply.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAlreadyExistsError

from .log import CommandLog, LogReader, LogUnavailable, Record, decode, encode

log = logging.getLogger(__name__)


#: what a send raises when the broker is gone, or when another thread dropped the failed
#: producer while this one was still using it (kafka-python: "NetworkSelector closed!")
SENDING_FAILED = (KafkaError, RuntimeError)


class KafkaLog(CommandLog):
    def __init__(self, bootstrap: str, partitions: int = 6, client_id: str = "zun-cqrs",
                 write_timeout: float = 10.0):
        self.bootstrap = bootstrap
        self.default_partitions = partitions
        self.client_id = client_id
        self.write_timeout = write_timeout
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._partitions: dict[str, list[int]] = {}

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.bootstrap, client_id=self.client_id,
                        acks="all", enable_idempotence=True, linger_ms=0,
                        max_block_ms=int(self.write_timeout * 1000),
                        bootstrap_timeout_ms=int(self.write_timeout * 1000),
                        request_timeout_ms=int(self.write_timeout * 1000),
                        delivery_timeout_ms=int(self.write_timeout * 1000) + 1000,
                        reconnect_backoff_max_ms=1000)
                except KafkaError as e:
                    raise LogUnavailable(f"Kafka is unreachable: {e}") from e
            return self._producer

    def ensure_topics(self, topics: Iterable[str]) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)
        try:
            existing = set(admin.list_topics())
            wanted = {t: {"num_partitions": self.default_partitions, "replication_factor": 1,
                          "configs": {"retention.ms": _retention(t)}}
                      for t in topics if t not in existing}
            if wanted:
                try:
                    admin.create_topics(wanted, wait_for_metadata=True)
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()

    def partitions(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            producer = self._get_producer()
            try:
                parts = producer.partitions_for(topic)
            except SENDING_FAILED as e:
                self._reset_producer(producer)
                raise LogUnavailable(f"Kafka did not answer: {e}") from e
            if not parts:
                raise LogUnavailable(f"topic {topic} has no partitions")
            self._partitions[topic] = sorted(parts)
        return self._partitions[topic]

    def _reset_producer(self, failed: KafkaProducer) -> None:
        """Drop a producer that failed: after a broker outage a fresh one (new producer id,
        fresh metadata) recovers at once, where the old one may stay wedged. Only the
        producer that failed is dropped, never a fresh one another thread already made."""
        with self._lock:
            if self._producer is not failed:
                return
            self._producer = None
        try:
            failed.close(timeout=0)
        except Exception:
            pass

    def append(self, topic: str, key: str, value: dict[str, Any], timeout: float = 10.0) -> Record:
        raw = encode(value)
        producer = self._get_producer()
        try:
            md = producer.send(topic, key=key.encode(), value=raw).get(timeout=timeout)
        except SENDING_FAILED as e:
            self._reset_producer(producer)
            raise LogUnavailable(f"Kafka did not acknowledge the record: {e}") from e
        return Record(topic, md.partition, md.offset, key, value)

    def append_many(self, topic: str, items: list[tuple[str, dict[str, Any]]],
                    timeout: float = 10.0) -> list[Record]:
        raws = [(key.encode(), encode(value)) for key, value in items]
        producer = self._get_producer()
        try:
            futures = [producer.send(topic, key=key, value=raw) for key, raw in raws]
            metadata = [f.get(timeout=timeout) for f in futures]
        except SENDING_FAILED as e:
            self._reset_producer(producer)
            raise LogUnavailable(f"Kafka did not acknowledge the records: {e}") from e
        return [Record(topic, md.partition, md.offset, key, value)
                for md, (key, value) in zip(metadata, items)]

    def reader(self) -> LogReader:
        return _KafkaReader(self.bootstrap, self.client_id)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None


def _retention(topic: str) -> str:
    """Commands and events are the audit trail and the source of replay: kept forever.
    Replies only answer a waiting request (the live command itself stays in `live`)."""
    return str(24 * 3600 * 1000) if topic.endswith("replies") else "-1"


class _KafkaReader(LogReader):
    def __init__(self, bootstrap: str, client_id: str):
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id=f"{client_id}-reader", group_id=None,
            enable_auto_commit=False, auto_offset_reset="earliest",
            reconnect_backoff_max_ms=1000, fetch_max_wait_ms=100, bootstrap_timeout_ms=10000)
        self.tps: list[TopicPartition] = []

    def assign(self, positions: dict[tuple[str, int], int]) -> None:
        self.tps = [TopicPartition(t, p) for (t, p) in positions]
        self.consumer.assign(self.tps)
        for (t, p), offset in positions.items():
            self.consumer.seek(TopicPartition(t, p), offset)

    def poll(self, timeout: float) -> list[Record]:
        try:
            batches = self.consumer.poll(timeout_ms=int(timeout * 1000), max_records=200)
        except KafkaError as e:
            log.warning("poll failed: %s", e)
            time.sleep(min(timeout, 1.0))
            return []
        out = [Record(tp.topic, tp.partition, r.offset, (r.key or b"").decode(), decode(r.value))
               for tp, records in batches.items() for r in records]
        out.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return out

    def end_offsets(self) -> dict[tuple[str, int], int]:
        ends = self.consumer.end_offsets(self.tps)
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}

    def close(self) -> None:
        self.consumer.close()
