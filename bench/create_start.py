"""Create+start a container through the API until the read model says Running, against
raw docker-py create+start of the same image, in the same run. Prints both medians and
the ratio.

    python bench/create_start.py [--n 20] [--mode embedded|kafka]

`kafka` needs the stack (scripts/stack.sh up): separate api, worker and projector
processes on Kafka and PostgreSQL, as in production."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import IMAGE, Deployment, docker_client  # noqa: E402

COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


def via_api(client, n: int) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        uuid = client.create(run=True, command=COMMAND)["uuid"]
        while client.show(uuid)["status"] != "Running":
            time.sleep(0.002)
        times.append(time.perf_counter() - t0)
        client.delete(f"/v1/containers/{uuid}?force=true", headers={"X-Roles": "admin"})
    return times


def raw_docker(n: int) -> list[float]:
    api = docker_client().api
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        c = api.create_container(IMAGE, command=COMMAND, labels={"bench": "raw"},
                                 host_config=api.create_host_config(nano_cpus=10**9,
                                                                    mem_limit="512m"))
        api.start(c["Id"])
        while not api.inspect_container(c["Id"])["State"]["Running"]:
            time.sleep(0.002)
        times.append(time.perf_counter() - t0)
        api.remove_container(c["Id"], force=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--mode", choices=("embedded", "kafka"), default="embedded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Deployment(Path(tmp), mode=args.mode).start()
        try:
            client = d.client()
            via_api(client, 2)  # warm up both paths
            raw_docker(2)
            api_times = via_api(client, args.n)
            raw_times = raw_docker(args.n)
        finally:
            d.stop()
    a, r = statistics.median(api_times), statistics.median(raw_times)
    print(f"mode={args.mode} n={args.n}")
    print(f"api create+start until Running: median {a * 1000:.1f} ms")
    print(f"raw docker-py create+start:     median {r * 1000:.1f} ms")
    print(f"ratio api/raw: {a / r:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
