"""`tickflow`: the local stack, the simulator, ingestion and the demo.

    tickflow up | down | status        the local stack under .tickflow/
    tickflow simulate --date D --symbols N --seed S [--batch K | --batch-ms MS]
    tickflow ingest [--topic T]        catch up from the ledger head to the high watermark
    tickflow demo                      simulate a day, ingest it through Dagster runs, summarise
    tickflow replay --date D --speed X [--from HH:MM] [--symbols N]   a simulated day paced into Kafka
    tickflow dev                       the Dagster UI (dagster dev) on the local stack
    tickflow feed polygon              the live Polygon/Massive feed into Kafka (TICKFLOW_FEED_*)
    tickflow backfill | retrain | model   on-call commands (tickflow/ops/commands.py)
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

from tickflow.config import load_settings
from tickflow.stack.procs import PortInUse

# The repository root (the engine is installed editable from it): where the Dagster side,
# workspace.yaml and the demo live.
REPO = Path(__file__).resolve().parents[2]
DEMO_DATE = dt.date(2024, 6, 21)


def _stack():  # type: ignore[no-untyped-def]
    from tickflow.stack.local import LocalStack

    return LocalStack(load_settings())


def cmd_up(_: argparse.Namespace) -> int:
    _stack().up()
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    _stack().down()
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    for k, v in _stack().status().items():
        print(f"{k:12s} {v}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from tickflow.simulate.to_kafka import simulate_to_kafka

    settings = load_settings()
    res = simulate_to_kafka(settings, dt.date.fromisoformat(args.date), args.symbols, args.seed,
                            batch=args.batch, batch_ms=args.batch_ms, trades_per_symbol=args.trades_per_symbol,
                            bad_messages=args.bad_messages)
    print(f"produced {res.events:,} events in {res.messages:,} messages ({res.trades:,} trades, {res.quotes:,} quotes,"
          f" {res.bad_messages} malformed) in {res.seconds:.1f}s; ground truth {res.ground_truth}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from tickflow.ingest import catch_up

    settings = load_settings()
    for topic in [args.topic] if args.topic else list(settings.topics):
        reports = catch_up(settings, topic, max_messages=args.max_messages)
        rows = sum(r.rows for r in reports)
        dead = sum(r.dead_letters for r in reports)
        print(f"{topic}: {len(reports)} transactions, {rows:,} rows, {dead} dead letters")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # The demo drives Dagster, so it lives on the Dagster side (``demo/`` at the repository
    # root) and runs there as ``python -m demo``: the engine never imports Dagster.
    if not (REPO / "demo" / "__main__.py").exists():
        print(f"error: the demo needs the repository checkout (no {REPO / 'demo'}); run it from a clone",
              file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "demo", "--date", args.date, "--symbols", str(args.symbols),
                            "--seed", str(args.seed), "--feed", args.feed], cwd=REPO, env=_stack().env())


def cmd_feed_polygon(_: argparse.Namespace) -> int:
    from tickflow.feed.polygon import run

    return run(load_settings())


def cmd_migrate(_: argparse.Namespace) -> int:
    import psycopg

    from tickflow.store.schema import LATEST, current_version, ensure_current

    dsn = load_settings().dsn
    ensure_current(dsn)  # already done by run_command (tickflow.ops.commands._NEEDS): a no-op then
    with psycopg.connect(dsn) as conn:
        version = current_version(conn)
    print(f"tick store schema at version {version} (this release's latest: {LATEST})")
    return 0 if version >= LATEST else 1


def cmd_dev(_: argparse.Namespace) -> int:
    stack = _stack()
    settings = stack.settings
    from tickflow.stack.procs import read_pid, require_port

    pid_file = stack.run_dir / "dagster-dev.pid"
    if read_pid(pid_file) is None:
        require_port(settings.dagster_port, "TICKFLOW_DAGSTER_PORT", "the Dagster UI")
    exe = Path(sys.executable).parent / "dagster"
    env = stack.env()
    print(f"Dagster UI on http://127.0.0.1:{settings.dagster_port} (Ctrl-C stops it)")
    # Own session: a backgrounded `dagster dev` ignores SIGINT/SIGTERM otherwise.
    proc = subprocess.Popen([str(exe), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1",
                             "-p", str(settings.dagster_port)], cwd=REPO, env=env, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        from tickflow.stack.procs import stop_pid

        stop_pid(proc.pid, timeout=20)
        return 0
    finally:
        pid_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tickflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start the local stack (idempotent)").set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="what is running").set_defaults(fn=cmd_status)
    s = sub.add_parser("simulate", help="simulate a trading day into Kafka")
    s.add_argument("--date", default=DEMO_DATE.isoformat())
    s.add_argument("--symbols", type=int, default=20)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--batch", type=int, default=1, help="events per message (micro-batch by count)")
    s.add_argument("--batch-ms", type=int, default=None, help="micro-batch a symbol's events by time window")
    s.add_argument("--trades-per-symbol", type=int, default=25_000)
    s.add_argument("--bad-messages", type=int, default=0, help="also send this many malformed messages")
    s.set_defaults(fn=cmd_simulate)
    i = sub.add_parser("ingest", help="ingest from the ledger head to the high watermark")
    i.add_argument("--topic", default=None)
    i.add_argument("--max-messages", type=int, default=200_000, help="messages per transaction")
    i.set_defaults(fn=cmd_ingest)
    d = sub.add_parser("demo", help="simulate, ingest through Dagster runs, print a summary")
    d.add_argument("--date", default=DEMO_DATE.isoformat())
    d.add_argument("--symbols", type=int, default=20)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--feed", choices=("simulated", "local"), default="simulated",
                   help="local: the day arrives through the live feed service from a local server speaking "
                        "the vendor's protocol (make demo FEED=local)")
    d.set_defaults(fn=cmd_demo)
    sub.add_parser("dev", help="open the Dagster UI on the local stack").set_defaults(fn=cmd_dev)
    sub.add_parser("migrate", help="bring the tick store's schema to the current version (also done by "
                   "`up`, each Dagster run and each command that uses the store)").set_defaults(fn=cmd_migrate)
    from tickflow.flatfiles.cli import add_parser as add_import_parser

    add_import_parser(sub)
    from tickflow.simulate.replay import add_cli as add_replay

    add_replay(sub)
    f = sub.add_parser("feed", help="live market-data feeds into Kafka").add_subparsers(dest="feed", required=True)
    f.add_parser("polygon", help="Polygon/Massive WebSocket -> Kafka (settings: TICKFLOW_FEED_*)"
                 ).set_defaults(fn=cmd_feed_polygon)
    from tickflow.ops.commands import add_parsers, run_command
    add_parsers(sub)
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except PortInUse as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
