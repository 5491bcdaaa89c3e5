"""Configuration: every knob is a `ZUN_` environment variable, declared once here.

`zun-cqrs --help` and docs/configuration.md are generated from OPTIONS, so a knob that
is not declared here does not exist.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Option:
    name: str
    default: str
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("ZUN_KAFKA_BOOTSTRAP", "",
           "Kafka bootstrap servers (host:port,...). Empty: the embedded log under ZUN_DATA_DIR."),
    Option("ZUN_DATABASE_URL", "",
           "PostgreSQL URL (postgresql://user:pass@host:port/db) for the event store and the "
           "read model. Empty: SQLite files under ZUN_DATA_DIR."),
    Option("ZUN_DOCKER_HOST", "unix:///var/run/docker.sock", "Docker engine the worker drives."),
    Option("ZUN_DATA_DIR", ".data", "Directory of the embedded log and SQLite databases."),
    Option("ZUN_BIND", "127.0.0.1:9517", "Address the API listens on."),
    Option("ZUN_API_WORKERS", "2", "gunicorn worker processes of the `api` role."),
    Option("ZUN_API_THREADS", "8", "Threads per gunicorn worker (websockets hold one each)."),
    Option("ZUN_HOST", "", "Name of this compute host (default: the machine's hostname)."),
    Option("ZUN_TOPIC_PREFIX", "zun.", "Prefix of the Kafka topics (commands, live, replies, events)."),
    Option("ZUN_PARTITIONS", "6", "Partitions of each topic when the service creates them."),
    Option("ZUN_CONSUME_PARTITIONS", "",
           "Comma-separated partitions this worker/projector consumes; empty means all. "
           "Give each instance its own set to scale out."),
    Option("ZUN_WRITE_TIMEOUT", "10", "Seconds the API waits for the log to accept a command "
           "before answering 503."),
    Option("ZUN_READ_YOUR_WRITES_TIMEOUT", "10", "Seconds the API waits for the projections to "
           "apply its command before answering."),
    Option("ZUN_LIVE_TIMEOUT", "30", "Seconds the API waits for a worker's reply to a live "
           "operation (logs, exec, top, ...) before answering 504."),
    Option("ZUN_STOP_TIMEOUT_MAX", "60", "Upper bound of the stop/reboot `timeout` parameter."),
    Option("ZUN_RECONCILE_INTERVAL", "2", "Seconds between the worker's reconciliations with Docker."),
    Option("ZUN_AUTH_STRATEGY", "noauth", "noauth (identity from X-Project-Id/X-User-Id/X-Roles) "
           "or keystone (X-Auth-Token checked against ZUN_KEYSTONE_URL)."),
    Option("ZUN_KEYSTONE_URL", "", "Keystone v3 endpoint, e.g. http://127.0.0.1:5000/v3."),
    Option("ZUN_POLICY_FILE", "", "YAML file of policy overrides (rule name: expression); "
           "re-read when it changes."),
    Option("ZUN_QUOTA_DEFAULTS", "containers=40,memory=51200,cpu=20,disk=100",
           "Default quota of every project (Zun's [quota] options; -1 is unlimited); the "
           "`default` quota class overrides it per resource."),
    Option("ZUN_MAX_BODY_BYTES", "1048576", "Largest request body accepted (413 above)."),
    Option("ZUN_MAX_LIST_LIMIT", "1000", "Cap of the `limit` parameter of list calls."),
    Option("ZUN_LOG_LEVEL", "INFO", "Python log level of every role."),
    Option("ZUN_MAX_LOG_BYTES", "1048576", "Largest log returned by GET logs; a longer log "
           "keeps its tail."),
    Option("ZUN_MAX_EXEC_OUTPUT_BYTES", "1048576", "Largest output returned by execute "
           "(run=true); a longer output keeps its tail."),
    Option("ZUN_MAX_ARCHIVE_BYTES", "1048576", "Largest tar archive get_archive returns and "
           "put_archive accepts (400 above)."),
    Option("ZUN_WS_BASE_URL", "", "Base of the websocket URLs attach and interactive execute "
           "hand out (e.g. wss://zun.example.com). Empty: derived from the request's host."),
    Option("ZUN_WS_TOKEN_TTL", "60", "Seconds a websocket token stays valid (single use)."),
    Option("ZUN_WS_IDLE_TIMEOUT", "600", "Seconds without traffic after which the websocket "
           "proxy closes an attach or exec session."),
)

_DEFAULTS = {o.name: o.default for o in OPTIONS}


def env_option(name: str, environ: dict[str, str] | None = None) -> str:
    if name not in _DEFAULTS:
        raise KeyError(f"undeclared option {name}")
    return (environ if environ is not None else os.environ).get(name, _DEFAULTS[name])


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = ""
    database_url: str = ""
    docker_host: str = _DEFAULTS["ZUN_DOCKER_HOST"]
    data_dir: Path = Path(".data")
    bind: str = _DEFAULTS["ZUN_BIND"]
    api_workers: int = 2
    api_threads: int = 8
    host: str = ""
    topic_prefix: str = "zun."
    partitions: int = 6
    consume_partitions: tuple[int, ...] = ()
    write_timeout: float = 10.0
    read_your_writes_timeout: float = 10.0
    live_timeout: float = 30.0
    stop_timeout_max: int = 60
    reconcile_interval: float = 2.0
    auth_strategy: str = "noauth"
    keystone_url: str = ""
    policy_file: str = ""
    quota_defaults: str = _DEFAULTS["ZUN_QUOTA_DEFAULTS"]
    max_body_bytes: int = 1048576
    max_list_limit: int = 1000
    log_level: str = "INFO"
    max_log_bytes: int = 1048576
    max_exec_output_bytes: int = 1048576
    max_archive_bytes: int = 1048576
    ws_base_url: str = ""
    ws_token_ttl: float = 60.0
    ws_idle_timeout: float = 600.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        def get(name: str) -> str:
            return env_option(name, environ)

        import socket
        parts = get("ZUN_CONSUME_PARTITIONS").strip()
        return cls(
            kafka_bootstrap=get("ZUN_KAFKA_BOOTSTRAP").strip(),
            database_url=get("ZUN_DATABASE_URL").strip(),
            docker_host=get("ZUN_DOCKER_HOST"),
            data_dir=Path(get("ZUN_DATA_DIR")).absolute(),
            bind=get("ZUN_BIND"),
            api_workers=int(get("ZUN_API_WORKERS")),
            api_threads=int(get("ZUN_API_THREADS")),
            host=get("ZUN_HOST") or socket.gethostname(),
            topic_prefix=get("ZUN_TOPIC_PREFIX"),
            partitions=int(get("ZUN_PARTITIONS")),
            consume_partitions=tuple(int(p) for p in parts.split(",") if p.strip()),
            write_timeout=float(get("ZUN_WRITE_TIMEOUT")),
            read_your_writes_timeout=float(get("ZUN_READ_YOUR_WRITES_TIMEOUT")),
            live_timeout=float(get("ZUN_LIVE_TIMEOUT")),
            stop_timeout_max=int(get("ZUN_STOP_TIMEOUT_MAX")),
            reconcile_interval=float(get("ZUN_RECONCILE_INTERVAL")),
            auth_strategy=get("ZUN_AUTH_STRATEGY"),
            keystone_url=get("ZUN_KEYSTONE_URL"),
            policy_file=get("ZUN_POLICY_FILE"),
            quota_defaults=get("ZUN_QUOTA_DEFAULTS"),
            max_body_bytes=int(get("ZUN_MAX_BODY_BYTES")),
            max_list_limit=int(get("ZUN_MAX_LIST_LIMIT")),
            log_level=get("ZUN_LOG_LEVEL"),
            max_log_bytes=int(get("ZUN_MAX_LOG_BYTES")),
            max_exec_output_bytes=int(get("ZUN_MAX_EXEC_OUTPUT_BYTES")),
            max_archive_bytes=int(get("ZUN_MAX_ARCHIVE_BYTES")),
            ws_base_url=get("ZUN_WS_BASE_URL").strip(),
            ws_token_ttl=float(get("ZUN_WS_TOKEN_TTL")),
            ws_idle_timeout=float(get("ZUN_WS_IDLE_TIMEOUT")),
        )

    @property
    def embedded(self) -> bool:
        return not self.kafka_bootstrap

    def topic(self, kind: str) -> str:
        return f"{self.topic_prefix}{kind}"


def options_help() -> str:
    width = max(len(o.name) for o in OPTIONS)
    lines = ["environment variables:"]
    for o in OPTIONS:
        default = f" [default: {o.default}]" if o.default else ""
        lines.append(f"  {o.name.ljust(width)}  {o.help}{default}")
    return "\n".join(lines)
