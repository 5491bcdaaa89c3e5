"""The API's side of the log: append a command durably, then wait (bounded) until the
projections have applied it, so a GET after a 2xx reflects the request."""
from __future__ import annotations

import logging
import time

from commands.envelope import Command
from commands.log import LogUnavailable, Record
from projections.db import DatabaseUnavailable

from .errors import ServiceUnavailable

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, boot):
        self.boot = boot
        self.topic = boot.topic("commands")

    def submit(self, cmd: Command, wait: bool = True) -> Record:
        try:
            record = self.boot.log.append(self.topic, cmd.container_uuid, cmd.to_wire(),
                                          timeout=self.boot.settings.write_timeout)
        except LogUnavailable as e:
            log.warning("command %s not accepted: %s", cmd.request_id, e)
            raise ServiceUnavailable("The command log did not accept the request in time. "
                                     "Retry later.") from e
        if wait:
            self.wait_projected(record)
        return record

    def wait_projected(self, record: Record) -> bool:
        """False when the projection did not catch up in time. The command is durably in
        the log by then, so a read model that is down does not turn it into an error: the
        request was accepted, only read-your-writes is lost."""
        deadline = time.monotonic() + self.boot.settings.read_your_writes_timeout
        delay = 0.005
        while True:
            try:
                if self.boot.read_model.projected(record.topic, record.partition, record.offset):
                    return True
            except DatabaseUnavailable as e:
                log.warning("read model unavailable after accepting %s:%s@%s: %s", record.topic,
                            record.partition, record.offset, e)
                return False
            if time.monotonic() >= deadline:
                log.warning("projection lags behind %s:%s@%s", record.topic, record.partition,
                            record.offset)
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
