"""The live side of the worker: lanes over the `live` topic, separate from the commands
topic so that a slow stop never delays a logs call.

Each live command is claimed first: its offset is recorded as a tracking record (with
no events) in the event store, and only the process that recorded it executes it. A
redelivered or doubly consumed command fails the claim and is skipped, so a command runs
at most once. The crash window: a worker that dies after the claim and before its reply
leaves the command unanswered, and the API answers 504 (docs/api.md). After the claim
the Docker call runs on a small pool, so a long exec does not hold up its partition."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import docker

from commands.envelope import Command
from commands.log import LogUnavailable, Record
from commands.parts import Assembler, split
from commands.reply import Reply
from commands.store import IntegrityError, Tracking

from .lanes import start_lanes
from .live_ops import OPS, Call, LiveError, Limits

log = logging.getLogger(__name__)

#: Docker calls of live commands running at once in one worker
POOL_SIZE = 8
REPLY_RETRIES = 3


def tracking_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class LiveWorker:
    def __init__(self, boot):
        self.boot = boot
        s = boot.settings
        self.host = s.host
        self.topic = boot.topic("live")
        self.replies = boot.topic("replies")
        self.limits = Limits(s.max_log_bytes, s.max_exec_output_bytes, s.max_archive_bytes)
        self.pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="live")
        self.slots = threading.BoundedSemaphore(POOL_SIZE)
        self.parts: dict[int, Assembler] = {}
        self._api: docker.APIClient | None = None
        self._api_lock = threading.Lock()

    @property
    def api(self) -> docker.APIClient:
        """Created on first use, so a worker starts while the engine is still down."""
        with self._api_lock:
            if self._api is None:
                self._api = docker.APIClient(base_url=self.boot.settings.docker_host,
                                             version="auto", timeout=120,
                                             max_pool_size=POOL_SIZE + 2)
            return self._api

    def position(self, topic: str, partition: int) -> int:
        last = self.boot.store.recorder.max_tracking_id(tracking_name(topic, partition))
        return 0 if last is None else last + 1

    def handle(self, record: Record) -> None:
        """One record of one lane: claim it, then hand the Docker call to the pool. A
        command for another host is left to that host's worker, unclaimed."""
        if not self.mine(record.value) or not self.claim(record):
            return
        wire = self.parts.setdefault(record.partition, Assembler()).add(record.value)
        if wire is None or wire.get("kind") != "command" or not self.mine(wire):
            return
        cmd = Command.from_wire(wire)
        self.slots.acquire()
        try:
            self.pool.submit(self._run, cmd)
        except RuntimeError:
            self.slots.release()
            raise

    def mine(self, value: dict) -> bool:
        host = value.get("host") if value.get("kind") == "command" else None
        return not host or host == self.host

    def claim(self, record: Record) -> bool:
        tracking = Tracking(tracking_name(record.topic, record.partition), record.offset)
        try:
            self.boot.store.process(tracking, lambda processing_event: None)
            return True
        except IntegrityError:
            log.info("live command at %s:%s@%s already taken", record.topic, record.partition,
                     record.offset)
            return False

    def _run(self, cmd: Command) -> None:
        try:
            self.reply(self.execute(cmd))
        finally:
            self.slots.release()

    def execute(self, cmd: Command) -> Reply:
        rid = cmd.request_id
        fn = OPS.get(cmd.type)
        if fn is None:
            return Reply.failure(rid, 400, "invalid", f"Unknown live operation {cmd.type}.")
        if float(cmd.params.get("expires_at", 0)) <= time.time():
            return Reply.failure(rid, 504, "", "The request expired before a worker took it; "
                                 "it was not executed.")
        try:
            return Reply(rid, 200, fn(Call(self.api, cmd, self.limits)))
        except LiveError as e:
            return Reply.failure(rid, e.status, e.code, e.message)
        except docker.errors.DockerException as e:
            return Reply.failure(rid, 503, "", f"Docker engine unavailable: {e}")
        except Exception:
            log.exception("live %s of %s failed", cmd.type, cmd.container_uuid)
            return Reply.failure(rid, 500, "", "The live operation failed in the worker.")

    def reply(self, reply: Reply) -> None:
        records = split(reply.request_id, reply.to_wire(), reply.request_id)
        for attempt in range(REPLY_RETRIES):
            try:
                self.boot.log.append_many(self.replies, records,
                                          timeout=self.boot.settings.write_timeout)
                return
            except LogUnavailable as e:
                log.warning("reply %s not appended (%s)", reply.request_id, e)
                time.sleep(0.5 * (attempt + 1))
        log.error("reply %s dropped; the API answers 504", reply.request_id)

    def start(self, stopping: threading.Event) -> list[threading.Thread]:
        return start_lanes(self.boot.log, self.topic, self.boot.consumed_partitions(self.topic),
                           self.position, self.handle, stopping)
