"""`zun-cqrs`: one console script, one subcommand per process role."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .settings import Settings, options_help


def _settings() -> Settings:
    s = Settings.from_env()
    logging.basicConfig(level=getattr(logging, s.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    return s


def _wait_for_signal() -> threading.Event:
    stopping = threading.Event()

    def handler(signum, frame):
        stopping.set()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stopping


def cmd_up(args) -> int:
    """All roles in one process: embedded log and SQLite unless configured otherwise."""
    from werkzeug.serving import make_server

    from api.app import create_app
    from projections.runner import ProjectorService
    from workers.service import WorkerService
    from .bootstrap import Bootstrap

    s = _settings()
    stopping = _wait_for_signal()
    boot = Bootstrap(s)
    boot.ensure_topics()
    ProjectorService(Bootstrap(s)).start(stopping)
    WorkerService(Bootstrap(s)).start(stopping)
    host, _, port = s.bind.rpartition(":")
    server = make_server(host or "127.0.0.1", int(port), create_app(boot), threaded=True)
    # no request lines: their query strings carry websocket tokens and exec commands
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    where = "embedded log" if s.embedded else f"Kafka {s.kafka_bootstrap}"
    logging.getLogger("zun_cqrs").info("serving on http://%s (%s, %s)", s.bind, where,
                                       "PostgreSQL" if s.database_url else "SQLite")
    stopping.wait()
    server.shutdown()
    return 0


def cmd_api(args) -> int:
    from gunicorn.app.base import BaseApplication

    s = _settings()

    class App(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", s.bind)
            self.cfg.set("workers", s.api_workers)
            self.cfg.set("threads", s.api_threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 120)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("accesslog", None)

        def load(self):
            from api.app import create_app
            from .bootstrap import Bootstrap
            return create_app(Bootstrap(Settings.from_env()))

    from .bootstrap import Bootstrap
    Bootstrap(s).ensure_topics()
    App().run()
    return 0


def cmd_worker(args) -> int:
    from workers.service import WorkerService
    from .bootstrap import Bootstrap

    s = _settings()
    stopping = _wait_for_signal()
    boot = Bootstrap(s)
    boot.ensure_topics()
    WorkerService(boot).start(stopping)
    stopping.wait()
    return 0


def cmd_projector(args) -> int:
    from projections.runner import ProjectorService
    from .bootstrap import Bootstrap

    s = _settings()
    stopping = _wait_for_signal()
    boot = Bootstrap(s)
    boot.ensure_topics()
    ProjectorService(boot).run(stopping)
    return 0


def cmd_init(args) -> int:
    from projections.schema import create_schema
    from .bootstrap import Bootstrap

    boot = Bootstrap(_settings())
    boot.ensure_topics()
    create_schema(boot.db)
    print("topics and read-model schema ready")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zun-cqrs", description="A container service with OpenStack Zun's Containers API, "
        "event-sourced over Kafka.", epilog=options_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    for name, fn, help_ in (
            ("up", cmd_up, "every role in one process (embedded log and SQLite by default)"),
            ("api", cmd_api, "the HTTP API under gunicorn"),
            ("worker", cmd_worker, "the compute worker of this Docker engine, the event relay "
                                   "and the reconciler"),
            ("projector", cmd_projector, "the read-model projector"),
            ("init", cmd_init, "create topics and the read-model schema")):
        p = sub.add_parser(name, help=help_, epilog=options_help(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(fn=fn)
    from .replay import add_commands
    add_commands(sub)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
