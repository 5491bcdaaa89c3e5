"""Records larger than one log record travel in parts.

Kafka refuses records above ~1 MiB by default, and a live operation can carry more (a
put_archive body, a 1 MiB log, an archive). `split` cuts the JSON text of such a value
into parts with the same key (so the same partition, in order); `Assembler` joins them
again by request id. Small values travel unchanged, so most records stay readable."""
from __future__ import annotations

import json
import time
from typing import Any

#: characters of JSON text per part; re-escaping inside the part at most doubles it
PART_CHARS = 256 * 1024
PART_KIND = "part"


def split(key: str, value: dict[str, Any], request_id: str,
          part_chars: int = PART_CHARS) -> list[tuple[str, dict[str, Any]]]:
    text = json.dumps(value, separators=(",", ":"))
    if len(text) <= part_chars:
        return [(key, value)]
    pieces = [text[i:i + part_chars] for i in range(0, len(text), part_chars)]
    return [(key, {"kind": PART_KIND, "of": value.get("kind"), "request_id": request_id,
                   "index": i, "count": len(pieces), "text": piece})
            for i, piece in enumerate(pieces)]


class Assembler:
    """Collects parts by request id; forgets sequences left incomplete for `ttl` s
    (their sender died half-way, or this reader started in the middle)."""

    def __init__(self, ttl: float = 300.0):
        self.ttl = ttl
        self.pending: dict[str, tuple[float, dict[int, str]]] = {}

    def add(self, value: dict[str, Any]) -> dict[str, Any] | None:
        """The whole value once complete; the value itself when it was never split."""
        if value.get("kind") != PART_KIND:
            return value
        self._expire()
        rid = value["request_id"]
        started, pieces = self.pending.setdefault(rid, (time.monotonic(), {}))
        pieces[int(value["index"])] = value["text"]
        if len(pieces) < int(value["count"]):
            return None
        del self.pending[rid]
        return json.loads("".join(pieces[i] for i in range(len(pieces))))

    def _expire(self) -> None:
        limit = time.monotonic() - self.ttl
        for rid in [r for r, (t, _) in self.pending.items() if t < limit]:
            del self.pending[rid]
