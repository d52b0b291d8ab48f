"""The on-call subcommands of `tickflow` (wired in tickflow/cli.py by :func:`add_parsers`).

    tickflow backfill --select 'group:bars or group:signals' --from D --to D [--wait]
    tickflow retrain [--as-of D] [--wait]
    tickflow model list
    tickflow model promote vN --who NAME --why TEXT [--effective D]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from tickflow.config import load_settings
from tickflow.ops.dagster_api import Dagster


def _api() -> Dagster:
    return Dagster(load_settings().ui_base)


def cmd_backfill(args: argparse.Namespace) -> int:
    from tickflow.ops.backfill import launch_backfill, partition_days, resolve_selection, wait_backfill

    start, end = dt.date.fromisoformat(args.from_), dt.date.fromisoformat(args.to)
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    api = _api()
    keys = resolve_selection(args.select, api.assets())
    days = partition_days(start, end)
    bid = launch_backfill(api, keys, days, title=f"tickflow backfill {args.select} {start}..{end}")
    print(f"backfill {bid}: {len(keys)} assets x {len(days)} trading days ({days[0]}..{days[-1]})")
    print(api.backfill_url(bid))
    if not args.wait:
        return 0
    p = wait_backfill(api, bid, timeout_s=args.timeout)
    if p.failed or p.status not in ("COMPLETED", "COMPLETED_SUCCESS"):
        print(f"backfill {bid} ended {p.status}: {p.failed} asset partitions failed {p.error}".rstrip(),
              file=sys.stderr)
        return 1
    print(f"backfill {bid} succeeded: {p.done} asset partitions materialized")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from tickflow import sessions
    from tickflow.ops.backfill import last_closed_session, launch_job, wait_run

    day = dt.date.fromisoformat(args.as_of) if args.as_of else last_closed_session()
    if not sessions.is_trading_day(day):
        raise ValueError(f"--as-of {day} is not an XNYS trading day")
    api = _api()
    run_id = launch_job(api, "train_job", partition=day.isoformat())
    print(f"train_job run {run_id} as of {day}")
    print(api.run_url(run_id))
    if not args.wait:
        return 0
    status = wait_run(api, run_id, timeout_s=args.timeout)
    print(f"train_job run {run_id}: {status}")
    return 0 if status == "SUCCESS" else 1


def cmd_model_list(args: argparse.Namespace) -> int:
    from tickflow.ops.models import decisions, list_models

    dsn = load_settings().dsn
    rows = list_models(dsn, args.model)
    if not rows:
        print(f"no {args.model} models registered yet (train one: tickflow retrain)")
        return 0
    print(f"{'version':>8} {'as of':10} {'holdout to':10} {'status':9} {'RMSE':>10} {'dir.acc':>7} device")
    for r in rows:
        rmse = f"{r.holdout_rmse:.6g}" if r.holdout_rmse is not None else "-"
        acc = f"{r.directional_accuracy:.3f}" if r.directional_accuracy is not None else "-"
        print(f"{'v' + str(r.version):>8} {r.as_of_day} {r.holdout_end} {r.status:9} {rmse:>10} {acc:>7} {r.device}")
    for version, replaced, eff, who, why, at in decisions(dsn, args.model):
        was = f" (replacing v{replaced})" if replaced else ""
        print(f"decision {at:%Y-%m-%d %H:%M} {who}: v{version} champion from {eff}{was}: {why}")
    return 0


def cmd_model_promote(args: argparse.Namespace) -> int:
    from tickflow.ops.models import promote

    version = int(args.version.lstrip("vV"))
    eff = dt.date.fromisoformat(args.effective) if args.effective else None
    replaced, day = promote(load_settings().dsn, args.model, version, args.who, args.why, eff)
    was = f", replacing v{replaced}" if replaced else ""
    print(f"{args.model} v{version} is champion from {day}{was} (decided by {args.who}: {args.why})")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser("backfill", help="launch an asset backfill in the running Dagster deployment")
    b.add_argument("--select", required=True, help="'group:signals', asset names; join with 'or' or commas")
    b.add_argument("--from", dest="from_", required=True, help="first day (YYYY-MM-DD)")
    b.add_argument("--to", required=True, help="last day (YYYY-MM-DD); trading days in between are backfilled")
    b.add_argument("--wait", action="store_true", help="follow it to the end; exit 1 if any partition failed")
    b.add_argument("--timeout", type=float, default=6 * 3600, help="seconds --wait waits")
    b.set_defaults(fn=cmd_backfill)
    r = sub.add_parser("retrain", help="launch train_job in the running Dagster deployment")
    r.add_argument("--as-of", default=None, help="trading day to train as of (default: the last closed session)")
    r.add_argument("--wait", action="store_true")
    r.add_argument("--timeout", type=float, default=6 * 3600)
    r.set_defaults(fn=cmd_retrain)
    m = sub.add_parser("model", help="the model registry: list, promote")
    msub = m.add_subparsers(dest="model_cmd", required=True)
    ml = msub.add_parser("list", help="registered versions, statuses and manual decisions")
    ml.add_argument("--model", default="price_model")
    ml.set_defaults(fn=cmd_model_list)
    mp = msub.add_parser("promote", help="make a version champion (recorded with who and why)")
    mp.add_argument("version", help="vN")
    mp.add_argument("--who", required=True)
    mp.add_argument("--why", required=True)
    mp.add_argument("--effective", default=None, help="first day in force (default: the next trading day)")
    mp.add_argument("--model", default="price_model")
    mp.set_defaults(fn=cmd_model_promote)


# Components each command needs, checked first so an unreachable one is named in one line
# instead of a traceback (or a Kafka client retrying forever).
# A command that needs the store first brings its schema up to date (two catalog lookups when current).
_NEEDS = {"simulate": ("kafka",), "ingest": ("postgres", "kafka"), "demo": ("postgres", "kafka"),
          "model": ("postgres",), "dev": ("postgres",), "import": ("postgres",), "migrate": ("postgres",)}
_OURS = {"backfill", "retrain", "model"}


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command; a component it cannot reach ends it with one line on stderr
    (component, where, setting, fix) and exit status 3, the cause chained for --debug."""
    import psycopg

    from tickflow.ops.dagster_api import DagsterApiError
    from tickflow.ops.errors import ComponentUnreachable, check_kafka, check_postgres, postgres_down
    from tickflow.store.schema import ensure_current

    settings = load_settings()
    try:
        for need in _NEEDS.get(args.cmd, ()):
            if need == "postgres":
                check_postgres(settings.dsn)
                ensure_current(settings.dsn)
            else:
                check_kafka(settings)
        return int(args.fn(args))
    except ComponentUnreachable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except psycopg.OperationalError as e:  # lost mid-command
        print(f"error: {postgres_down(settings.dsn, e)}", file=sys.stderr)
        return 3
    except (DagsterApiError, ValueError, LookupError, TimeoutError) as e:
        if args.cmd not in _OURS:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
