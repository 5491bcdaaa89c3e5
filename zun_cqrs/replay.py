"""`zun-cqrs replay` and `zun-cqrs verify`: rebuild the read model from the logs, and
check that the live read model is what the logs say (projections/rebuild.py)."""
from __future__ import annotations

import argparse
import sys
import time


def add_commands(sub) -> None:
    p = sub.add_parser(
        "replay", help="rebuild every projection from the logs into a fresh schema (PostgreSQL) "
        "or file (SQLite)",
        description="Rebuild the read model from offset 0 of the commands and events topics "
        "into a new PostgreSQL schema of the same database (or a new SQLite file under "
        "ZUN_DATA_DIR), with a progress bar on stderr. The live read model is not touched "
        "unless --promote is given.")
    p.add_argument("--into", metavar="NAME",
                   help="schema name (PostgreSQL) or file name/path (SQLite); "
                        "default replay_<timestamp>")
    p.add_argument("--promote", action="store_true",
                   help="then copy the rebuilt tables and offsets over the live ones in one "
                        "transaction (stop the projectors first)")
    p.add_argument("--drop", action="store_true",
                   help="drop the rebuilt schema/file at the end (with --promote)")
    p.set_defaults(fn=cmd_replay)

    v = sub.add_parser(
        "verify", help="compare the live read model with a rebuild from the logs; "
        "exit status 1 when they differ",
        description="Read the live tables and the offsets they reflect in one snapshot, "
        "rebuild a scratch copy from the logs up to exactly those offsets, and compare "
        "row by row. A difference that disappears on a later attempt was an action in "
        "flight; one that lasts is reported and the exit status is 1.")
    v.add_argument("--attempts", type=int, default=5,
                   help="snapshots compared before a difference counts (default 5)")
    v.add_argument("--keep", action="store_true", help="keep the scratch rebuild")
    v.add_argument("--max-report", type=int, default=50, help="differences printed (default 50)")
    v.set_defaults(fn=cmd_verify)


def _boot():
    from .bootstrap import Bootstrap
    from .cli import _settings
    return Bootstrap(_settings())


def cmd_replay(args: argparse.Namespace) -> int:
    from projections.rebuild import Progress, advance, end_offsets, new_target, promote

    boot = _boot()
    name = args.into or time.strftime("replay_%Y%m%d%H%M%S")
    target = new_target(boot.db, boot.settings.database_url, boot.settings.data_dir, name)
    until = end_offsets(boot)
    applied = advance(boot, target.db, until, Progress(0, "replay"))
    print(f"rebuilt {applied} records into {target.name}")
    if args.promote:
        counts = promote(boot.db, target)
        print("promoted: " + ", ".join(f"{t} {n} rows" for t, n in counts.items()))
        if args.drop:
            target.drop()
    else:
        target.db.close()
    boot.close()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from projections.rebuild import new_target, verify

    boot = _boot()
    name = time.strftime("verify_%Y%m%d%H%M%S_") + f"{int(time.time() * 1000) % 1000:03d}"
    target = new_target(boot.db, boot.settings.database_url, boot.settings.data_dir, name)
    try:
        result = verify(boot, target, attempts=args.attempts)
    finally:
        if args.keep:
            print(f"rebuild kept in {target.name}", file=sys.stderr)
        else:
            target.drop()
        boot.close()
    rows = ", ".join(f"{t} {n}" for t, n in result.rows.items())
    if result.same:
        print(f"verify: no difference ({rows} rows)")
        return 0
    print(f"verify: {len(result.differences)} differences ({rows} rows in the live model)")
    for d in result.differences[:args.max_report]:
        print(f"  {d}")
    return 1
