"""The API's reply listener: one background reader per API process over every partition
of the replies topic, handing each worker reply to the request waiting for it.

It starts on the first live request (so under gunicorn each worker process gets its own,
after the fork) and positions itself at the end of the topic before that request's
command is appended: replies to earlier requests are not read, and no reply to a later
one is missed. A waiter registers before its command is appended. Every API process
reads every reply and keeps those it waits for; replies are small and short-lived, so
this costs little next to routing replies to one process."""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

from commands.log import CommandLog, LogUnavailable, close_quietly
from commands.parts import PART_KIND, Assembler
from commands.reply import Reply

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
READY_TIMEOUT = 10.0


class Waiter:
    def __init__(self) -> None:
        self._done = threading.Event()
        self.reply: Reply | None = None

    def deliver(self, reply: Reply) -> None:
        self.reply = reply
        self._done.set()

    def wait(self, timeout: float) -> Reply | None:
        self._done.wait(max(timeout, 0.0))
        return self.reply


class ReplyListener:
    def __init__(self, log_: CommandLog, topic: str):
        self.log = log_
        self.topic = topic
        self._lock = threading.Lock()
        self._waiting: dict[str, Waiter] = {}
        self._pid: int | None = None
        self._ready = threading.Event()
        self._failure: str = ""

    def expect(self, request_id: str) -> Waiter:
        """Register a waiter; raises LogUnavailable when the listener cannot start."""
        self._ensure_running()
        waiter = Waiter()
        with self._lock:
            self._waiting[request_id] = waiter
        return waiter

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def _ensure_running(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._ready = threading.Event()
                self._waiting = {}
                threading.Thread(target=self._run, args=(self._ready,), name="reply-listener",
                                 daemon=True).start()
            ready = self._ready
        if not ready.wait(READY_TIMEOUT):
            raise LogUnavailable(f"the replies topic cannot be read: {self._failure}")

    def _run(self, ready: threading.Event) -> None:
        positions: dict[tuple[str, int], int] | None = None
        parts = Assembler(ttl=120.0)
        backoff = 0.2
        while True:
            reader = None
            try:
                reader = self.log.reader()
                if positions is None:
                    reader.assign({(self.topic, p): 0 for p in self.log.partitions(self.topic)})
                    positions = dict(reader.end_offsets())
                reader.assign(positions)
                ready.set()
                while True:
                    for record in reader.poll(POLL_SECONDS):
                        positions[(record.topic, record.partition)] = record.offset + 1
                        self._dispatch(record.value, parts)
                    backoff = 0.2
            except Exception as e:
                self._failure = str(e)
                log.warning("reply listener failed (%s); resuming in %.1fs", e, backoff)
                threading.Event().wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                close_quietly(reader)

    def _dispatch(self, value: dict[str, Any], parts: Assembler) -> None:
        rid = value.get("request_id")
        with self._lock:
            waiter = self._waiting.get(rid) if rid else None
        if waiter is None:
            return
        if value.get("kind") == PART_KIND:
            whole = parts.add(value)
            if whole is None:
                return
            value = whole
        if value.get("kind") == "reply":
            waiter.deliver(Reply.from_wire(value))
