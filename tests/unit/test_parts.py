"""Large live records travel in parts and come back whole; the wire forms match their
schemas (schemas/envelopes.py)."""
from commands.envelope import Command
from commands.parts import Assembler, split
from commands.reply import Reply
from schemas.envelopes import CommandEnvelope, PartEnvelope, ReplyEnvelope


def test_small_values_travel_unchanged():
    wire = Reply("req-1", 200, "short log").to_wire()
    assert split("req-1", wire, "req-1") == [("req-1", wire)]
    assert Assembler().add(wire) == wire
    assert ReplyEnvelope().validate(wire) == {}


def test_large_values_are_split_and_joined_in_any_interleaving():
    big = Command(type="put_archive", container_uuid="u1", request_id="req-a", project_id="p",
                  user_id="u", params={"path": "/tmp", "data": "\"\\x" * 200_000}).to_wire()
    other = Reply("req-b", 200, "é" * 300_000).to_wire()
    a = split("u1", big, "req-a", part_chars=100_000)
    b = split("req-b", other, "req-b", part_chars=100_000)
    assert len(a) > 1 and len(b) > 1 and {k for k, _ in a} == {"u1"}
    assert all(PartEnvelope().validate(v) == {} for _, v in a + b)

    joined = Assembler()
    out = [joined.add(v) for pair in zip(a, b) for _, v in pair]
    out += [joined.add(v) for _, v in a[len(b):] + b[len(a):]]
    assert [v for v in out if v is not None] in ([big, other], [other, big])
    assert CommandEnvelope().validate(big) == {}
    assert Reply.from_wire(other).body == "é" * 300_000


def test_incomplete_sequences_are_forgotten():
    joined = Assembler(ttl=0)
    first, _ = split("k", Reply("req-c", 200, "x" * 50).to_wire(), "req-c", part_chars=20)[:2]
    assert joined.add(first[1]) is None
    joined.add(Reply("req-d", 200).to_wire())
    joined.add(split("k", Reply("req-e", 200, "y" * 50).to_wire(), "req-e", part_chars=20)[0][1])
    assert "req-c" not in joined.pending
