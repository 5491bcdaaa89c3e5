"""The fault suite's clients: threads that drive containers through Zun's state machine
over HTTP and remember every request they sent and what came back.

Each thread owns a few containers. It looks a container up (GET), skips it while an
action is in flight, and otherwise sends a command the state table allows from the
status it saw; near the end of a container's budget it may delete it. Answers are
classified: 2xx accepted (the request id is the key of its action), 4xx refused,
503 unavailable, and no answer (the API was killed mid-request: the command may or may
not be in the log, so it is not counted as accepted)."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.support import IMAGE, LATEST

#: exits at once on SIGTERM (`wait` is interrupted by the trap, a `sleep` is not), which
#: keeps stop and reboot cheap for the engine
LOOP = ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
SETTLED = ("Created", "Running", "Stopped", "Paused", "Error")

#: status -> [(command, weight)]; "delete" is chosen only at the end of a container's life.
#: Every command type is exercised; the cheap ones for the engine (pause, unpause, kill)
#: more often, since the engine's speed bounds how many commands fit in the run.
MOVES = {
    "Running": [("pause", 4), ("stop", 2), ("kill", 2), ("reboot", 1)],
    "Paused": [("unpause", 1)],
    "Created": [("start", 4), ("reboot", 1)],
    "Stopped": [("start", 4), ("reboot", 1)],
    "Error": [("start", 2), ("reboot", 1)],
}


@dataclass
class Sent:
    type: str
    uuid: str
    code: int | None  # None: no answer
    request_id: str | None
    at: float
    error: str = ""

    @property
    def accepted(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


@dataclass
class Owned:
    uuid: str | None = None
    budget: int = 0
    done: bool = False
    delete_at_end: bool = False


@dataclass
class Load:
    url: str
    seed: int
    containers: int
    commands: int
    clients: int = 10
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.threads: list[threading.Thread] = []

    @staticmethod
    def headers(client: int) -> dict[str, str]:
        """A project per client thread keeps each one well inside the default quotas."""
        return {**LATEST, "X-Project-Id": f"fault-{client}", "X-User-Id": "fault-client",
                "X-Roles": "member", "Content-Type": "application/json"}

    # --- counters ----------------------------------------------------------------------
    @property
    def issued(self) -> int:
        with self.lock:
            return len(self.sent)

    def accepted(self) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if s.accepted]

    def record(self, s: Sent) -> None:
        with self.lock:
            self.sent.append(s)

    # --- threads -----------------------------------------------------------------------
    def start(self) -> None:
        per = [self.containers // self.clients + (1 if i < self.containers % self.clients else 0)
               for i in range(self.clients)]
        budget = max(self.commands // self.containers, 2)
        for i, n in enumerate(per):
            rng = random.Random(self.seed * 1000 + i)
            owned = [Owned(budget=budget, delete_at_end=rng.random() < 0.35) for _ in range(n)]
            t = threading.Thread(target=self._run, args=(i, rng, owned), name=f"client-{i}",
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=90)

    def _run(self, client: int, rng: random.Random, owned: list[Owned]) -> None:
        session = requests.Session()
        session.headers.update(self.headers(client))
        while not self.stopping.is_set():
            progressed = False
            for o in owned:
                if self.stopping.is_set():
                    return
                if o.done:
                    continue
                progressed |= self._step(session, rng, o)
            if all(o.done for o in owned):
                # budgets spent early: keep the load up with more commands on the survivors
                for o in owned:
                    if o.uuid is not None and not o.delete_at_end:
                        o.done, o.budget = False, 4
                if all(o.done for o in owned):
                    return
            if not progressed:
                time.sleep(0.1)

    def _send(self, session, method: str, path: str, ctype: str, uuid: str,
              **kw: Any) -> requests.Response | None:
        try:
            r = session.request(method, self.url + path, timeout=40, **kw)
        except requests.RequestException as e:
            self.record(Sent(ctype, uuid, None, None, time.time(), type(e).__name__))
            return None
        if ctype == "create" and r.status_code == 202:
            uuid = r.json()["uuid"]
        self.record(Sent(ctype, uuid, r.status_code, r.headers.get("X-Openstack-Request-Id"),
                         time.time(), "" if r.ok else r.text[:200]))
        return r

    def _step(self, session, rng: random.Random, o: Owned) -> bool:
        if o.uuid is None:
            run = rng.random() < 0.8
            r = self._send(session, "POST", "/v1/containers" + ("?run=true" if run else ""),
                           "create", "", json={"image": IMAGE, "command": LOOP})
            if r is not None and r.status_code == 202:
                o.uuid = r.json()["uuid"]
            return r is not None
        try:
            g = session.get(f"{self.url}/v1/containers/{o.uuid}", timeout=40)
        except requests.RequestException:
            return False
        if g.status_code == 404:
            o.done = True  # a delete whose answer was lost went through
            return True
        if g.status_code != 200:
            return False
        doc = g.json()
        if doc["task_state"] or doc["status"] not in SETTLED:
            return False
        if o.budget <= 0 and o.delete_at_end and self.issued >= self.commands * 0.6:
            return self._delete(session, o, doc["status"])
        if o.budget <= 0 and self.issued < self.commands:
            o.budget = 2  # the total is not reached yet: keep going
        if o.budget <= 0:
            o.done = True
            return True
        moves = MOVES.get(doc["status"])
        if not moves:
            return False
        ctype = rng.choices([m for m, _ in moves], [w for _, w in moves])[0]
        o.budget -= 1
        self._send(session, "POST", f"/v1/containers/{o.uuid}/{ctype}", ctype, o.uuid)
        return True

    def _delete(self, session, o: Owned, status: str) -> bool:
        query = "?stop=true" if status == "Running" else ""
        if status == "Paused":
            self._send(session, "POST", f"/v1/containers/{o.uuid}/unpause", "unpause", o.uuid)
            return True
        r = self._send(session, "DELETE", f"/v1/containers/{o.uuid}{query}", "delete", o.uuid)
        if r is None or (200 <= r.status_code < 300):
            o.done = True  # no answer: it may have gone through; send nothing more
        return True
