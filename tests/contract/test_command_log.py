"""One contract, two adapters: the embedded log and Kafka must behave alike."""
from __future__ import annotations

import uuid

import pytest

from commands.embedded_log import EmbeddedLog
from commands.log import CommandLog, LogUnavailable
from tests.support import KAFKA, require_stack


class CommandLogContract:
    def make_log(self, tmp_path) -> CommandLog:
        raise NotImplementedError

    @pytest.fixture
    def log(self, tmp_path):
        log = self.make_log(tmp_path)
        self.topic = f"contract-{uuid.uuid4().hex[:8]}"
        log.ensure_topics([self.topic])
        yield log
        log.close()

    def read_all(self, log: CommandLog, start: dict | None = None, want: int = 0):
        reader = log.reader()
        reader.assign(start or {(self.topic, p): 0 for p in log.partitions(self.topic)})
        got = []
        for _ in range(50):
            got += reader.poll(0.2)
            if len(got) >= want:
                break
        reader.close()
        return got

    def test_topic_has_partitions(self, log):
        assert len(log.partitions(self.topic)) == 6

    def test_same_key_same_partition_dense_offsets(self, log):
        records = [log.append(self.topic, "container-a", {"n": i}) for i in range(5)]
        assert len({r.partition for r in records}) == 1
        assert [r.offset for r in records] == list(range(records[0].offset,
                                                         records[0].offset + 5))

    def test_append_many_keeps_order(self, log):
        records = log.append_many(self.topic, [("k", {"i": i}) for i in range(5)] +
                                  [("other", {"i": 99})])
        same = [r for r in records if r.key == "k"]
        assert [r.offset for r in same] == list(range(same[0].offset, same[0].offset + 5))
        got = self.read_all(log, start={(self.topic, same[0].partition): same[0].offset},
                            want=5)
        assert [r.value["i"] for r in got if r.key == "k"] == [0, 1, 2, 3, 4]

    def test_keys_spread_over_partitions(self, log):
        parts = {log.append(self.topic, f"k{i}", {"i": i}).partition for i in range(40)}
        assert len(parts) > 1

    def test_reader_sees_records_in_order_per_partition(self, log):
        for i in range(10):
            log.append(self.topic, f"k{i % 3}", {"i": i})
        got = self.read_all(log, want=10)
        assert len(got) == 10
        by_key: dict[str, list[int]] = {}
        for r in got:
            by_key.setdefault(r.key, []).append(r.value["i"])
        for key, values in by_key.items():
            assert values == sorted(values), key

    def test_reader_starts_at_given_offset(self, log):
        first = [log.append(self.topic, "same", {"i": i}) for i in range(4)]
        tp = (self.topic, first[0].partition)
        got = self.read_all(log, start={tp: first[2].offset}, want=2)
        assert [r.value["i"] for r in got] == [2, 3]

    def test_end_offsets(self, log):
        rec = log.append(self.topic, "x", {"a": 1})
        reader = log.reader()
        reader.assign({(self.topic, rec.partition): 0})
        assert reader.end_offsets()[(self.topic, rec.partition)] == rec.offset + 1
        reader.close()

    def test_durable_for_a_new_client(self, log, tmp_path):
        rec = log.append(self.topic, "durable", {"payload": "kept"})
        other = self.make_log(tmp_path)
        reader = other.reader()
        reader.assign({(self.topic, rec.partition): rec.offset})
        got = []
        for _ in range(50):
            got += reader.poll(0.2)
            if got:
                break
        reader.close()
        other.close()
        assert got[0].value == {"payload": "kept"} and got[0].offset == rec.offset


class TestEmbeddedLog(CommandLogContract):
    def make_log(self, tmp_path):
        return EmbeddedLog(tmp_path / "log.sqlite", partitions=6)


class TestKafkaLog(CommandLogContract):
    def make_log(self, tmp_path):
        require_stack(kafka=True, postgres=False)
        from commands.kafka_log import KafkaLog
        return KafkaLog(KAFKA, partitions=6)

    def test_unreachable_broker_is_log_unavailable(self):
        from commands.kafka_log import KafkaLog
        log = KafkaLog("127.0.0.1:1", write_timeout=1.0)
        with pytest.raises(LogUnavailable):
            log.append("nowhere", "k", {"a": 1}, timeout=1.0)
        log.close()
