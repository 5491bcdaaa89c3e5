"""The `worker` role: compute lanes over the commands topic, live lanes over the live
topic (workers/live.py), the event relay and the Docker reconciler, in one process per
Docker engine."""
from __future__ import annotations

import logging
import threading

from commands.envelope import Command
from commands.log import Record
from commands.quotas import READ_MODEL_ONLY
from commands.store import Tracking
from zun_cqrs.bootstrap import Bootstrap

from .compute import ComputeWorker
from .docker_driver import DockerDriver, EngineUnavailable
from .lanes import retry_forever, start_lanes
from .live import LiveWorker
from .reconciler import Reconciler
from .relay import Relay

log = logging.getLogger(__name__)


def tracking_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class WorkerService:
    def __init__(self, boot: Bootstrap):
        self.boot = boot
        s = boot.settings
        self.driver = DockerDriver(s.docker_host, s.host)
        self.compute = ComputeWorker(boot.store, self.driver, s.host, s.stop_timeout_max)
        self.relay = Relay(boot.store, boot.log, boot.topic("events"), s.database_url,
                           s.write_timeout)
        self.reconciler = Reconciler(boot, self.driver)
        self.live = LiveWorker(boot)
        self.threads: list[threading.Thread] = []

    def position(self, topic: str, partition: int) -> int:
        last = self.boot.store.recorder.max_tracking_id(tracking_name(topic, partition))
        return 0 if last is None else last + 1

    def handle(self, record: Record) -> None:
        cmd = Command.from_wire(record.value)
        if cmd.type in READ_MODEL_ONLY:
            return
        tracking = Tracking(tracking_name(record.topic, record.partition), record.offset)
        while True:
            try:
                self.compute.handle(cmd, tracking)
                break
            except EngineUnavailable as e:
                # Docker is down: this command (and its partition) waits for it.
                log.warning("waiting for Docker before %s %s: %s", cmd.type,
                            cmd.container_uuid, e)
                threading.Event().wait(1.0)
        self.relay.wakeup.set()

    def start(self, stopping: threading.Event) -> None:
        topic = self.boot.topic("commands")
        partitions: list[int] = []
        retry_forever(lambda: partitions.extend(self.boot.consumed_partitions(topic)), stopping,
                      f"reading the partitions of {topic}")
        self.threads += start_lanes(self.boot.log, topic, partitions,
                                    self.position, self.handle, stopping)
        self.threads += self.live.start(stopping)
        for target, name in ((self.relay.run, "relay"), (self.reconciler.run, "reconciler")):
            t = threading.Thread(target=target, args=(stopping,), name=name, daemon=True)
            t.start()
            self.threads.append(t)
