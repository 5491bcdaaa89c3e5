"""The fault-injection suite: at least 1,000 commands over at least 50 containers while
the worker, the projector and the api are killed (SIGKILL) at random points, and Kafka,
PostgreSQL (a private pair) and dockerd (the shared one, with --live-restore) are each
restarted once. The schedule is seeded; the seed is printed (ZUN_FAULT_SEED replays it).

Afterwards: every accepted command has exactly one outcome (tests/fault/checks.py says
precisely what an outcome is), Docker holds exactly the containers the read model says
exist, in the state it shows, no action is recorded or projected twice, and
`zun-cqrs verify` finds the read model identical to a rebuild from the logs.

Size: ZUN_FAULT_COMMANDS (default 1000) over ZUN_FAULT_CONTAINERS (default 60), within
ZUN_FAULT_LOAD_SECONDS (default 330) of load; the engine's speed decides what fits."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from tests.support import ROOT, Deployment

from .checks import (check_docker, check_no_duplicates, check_outcomes, lagging, read_history,
                     read_topic)
from .load import Load
from .stack import restart_shared_docker

pytestmark = pytest.mark.fault

COMMANDS = int(os.environ.get("ZUN_FAULT_COMMANDS") or 1000)
CONTAINERS = int(os.environ.get("ZUN_FAULT_CONTAINERS") or 60)
SEED = int(os.environ.get("ZUN_FAULT_SEED") or random.randrange(1, 2 ** 31))
KILLS = {"worker": 3, "projector": 3, "api": 2}
# ZUN_FAULT_DOCKER_RESTART=0 leaves the shared dockerd alone (while working on the suite)
RESTARTS = ("kafka", "postgres") + (
    ("docker",) if os.environ.get("ZUN_FAULT_DOCKER_RESTART", "1") != "0" else ())
# seconds of load at most, faults included: the bound that keeps the suite near 6 minutes
LOAD_LIMIT = float(os.environ.get("ZUN_FAULT_LOAD_SECONDS") or 330)
SETTLE_LIMIT = 150  # seconds for everything to catch up afterwards


class Faults(threading.Thread):
    """Performs the seeded schedule one fault at a time, at random gaps."""

    def __init__(self, rng: random.Random, dep: Deployment, stack, started: float):
        super().__init__(name="faults", daemon=True)
        self.rng, self.dep, self.stack, self.started = rng, dep, stack, started
        self.plan = [("kill", r) for r, n in KILLS.items() for _ in range(n)] + \
                    [("restart", s) for s in RESTARTS]
        rng.shuffle(self.plan)
        self.done: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for kind, what in self.plan:
                time.sleep(self.rng.uniform(3.0, 9.0))
                at = time.monotonic() - self.started
                if kind == "kill":
                    self.dep.kill(what)
                    down = self.rng.uniform(0.2, 3.0)
                    time.sleep(down)
                    self.dep.processes[what].start()
                    self.done.append(f"{at:6.1f}s SIGKILL {what} (down {down:.1f}s)")
                elif what == "docker":
                    took = restart_shared_docker()
                    self.done.append(f"{at:6.1f}s restart dockerd ({took:.1f}s)")
                else:
                    took = self.stack.restart(what)
                    self.done.append(f"{at:6.1f}s restart {what} ({took:.1f}s)")
                print(f"fault: {self.done[-1]}", flush=True)
        except BaseException as e:  # reported by the test
            self.error = e


@pytest.fixture(scope="module")
def dep(private_stack, tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("faults"), mode="kafka", kafka=private_stack.kafka,
                   pg_admin_url=private_stack.pg_admin_url,
                   extra_env={"ZUN_WRITE_TIMEOUT": "5", "ZUN_READ_YOUR_WRITES_TIMEOUT": "5",
                              "ZUN_PARTITIONS": "12"}).start()
    yield d
    d.stop()


def settle(dep, log, store, db) -> None:
    """Wait until the worker, the relay and the projector have caught up with the logs
    and no action is in flight, twice in a row."""
    deadline = time.monotonic() + SETTLE_LIMIT
    calm = 0
    behind: list[str] = []
    while calm < 2:
        for role, p in dep.processes.items():
            assert p.alive(), f"{role} died on its own:\n{dep.log_tail(role)}"
        try:
            behind = lagging(dep, log, store, db)
        except Exception as e:  # a service still coming back
            behind = [f"not answering: {e}"]
        calm = calm + 1 if not behind else 0
        assert time.monotonic() < deadline, f"not settled after {SETTLE_LIMIT}s: {behind[:10]}"
        time.sleep(2)


def test_faults(dep, private_stack):
    print(f"\nfault suite: seed {SEED} (ZUN_FAULT_SEED={SEED} replays it), "
          f"{COMMANDS} commands over {CONTAINERS} containers")
    rng = random.Random(SEED)
    started = time.monotonic()
    load = Load(dep.url, SEED, CONTAINERS, COMMANDS)
    faults = Faults(rng, dep, private_stack, started)
    load.start()
    faults.start()
    while (faults.is_alive() or len(load.accepted()) < COMMANDS) and \
            time.monotonic() - started < LOAD_LIMIT:
        time.sleep(1)
    load.stop()
    faults.join(timeout=300)
    load_seconds = time.monotonic() - started
    assert faults.error is None, f"a fault could not be performed: {faults.error!r}"
    assert not faults.is_alive()
    for role in dep.processes:
        if not dep.processes[role].alive():
            dep.processes[role].start()
    dep.wait_ready()

    from commands.kafka_log import KafkaLog
    from commands.store import ContainerStore, store_env
    from projections.db import PostgresDatabase
    log = KafkaLog(dep.kafka)
    store = ContainerStore(env=store_env(dep.database_url, str(dep.data_dir)))
    db = PostgresDatabase(dep.database_url, maxconn=2)
    try:
        settle(dep, log, store, db)
        settle_seconds = time.monotonic() - started - load_seconds
        accepted = load.accepted()
        history = read_history(store)
        commands = [c for c in read_topic(log, f"{dep.name}.commands")]
        outcomes = check_outcomes(accepted, history, db)
        duplicates = check_no_duplicates(history, db, commands)
        docker = check_docker(db, dep.host)
        verify = subprocess.run([sys.executable, "-m", "zun_cqrs.cli", "verify"], env=dep.env,
                                cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    finally:
        log.close()
        db.close()

    sent = Counter(s.type for s in load.sent)
    answers = Counter("2xx" if s.accepted else ("no answer" if s.code is None else s.code)
                      for s in load.sent)
    print(f"\n=== fault suite (seed {SEED}) ===")
    print(f"load {load_seconds:.0f}s, settled {settle_seconds:.0f}s later")
    print("faults:\n  " + "\n  ".join(faults.done))
    print(f"requests sent {len(load.sent)}: " + ", ".join(f"{k} {v}" for k, v in sent.items()))
    print("answers: " + ", ".join(f"{k} {v}" for k, v in answers.items()))
    print(f"accepted commands {len(accepted)} over "
          f"{len({s.uuid for s in accepted if s.type == 'create'})} containers created")
    print(f"commands in the log {len(commands)} (syncs from the reconciler "
          f"{sum(1 for c in commands if c['type'] == 'sync')}), events in the store "
          f"{history.events}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.outcomes.items())))
    for reason, n in outcomes.reasons.most_common(10):
        print(f"  failed ({n}): {reason}")
    print("read model vs Docker: " + ", ".join(f"{k} {v}" for k, v in docker.outcomes.items()))
    print(f"action rows {duplicates.outcomes['action rows']}, duplicates "
          f"{len(duplicates.problems)}")
    print(f"verify (exit {verify.returncode}): {verify.stdout.strip()}")
    problems = outcomes.problems + duplicates.problems + docker.problems
    for p in problems[:40]:
        print(f"PROBLEM: {p}")
    assert len(accepted) >= COMMANDS, (
        f"only {len(accepted)} commands fit in {LOAD_LIMIT:.0f}s on this machine")
    assert len({s.uuid for s in accepted if s.type == "create"}) >= CONTAINERS
    assert not problems, f"{len(problems)} problems (first: {problems[:5]})"
    assert verify.returncode == 0, verify.stdout + verify.stderr[-2000:]
