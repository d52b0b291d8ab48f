"""Backfill of one trading day through Dagster (make bench-backfill), against the store's ceilings.

One simulated day (100 symbols by default, ~25k trades and ~50k quotes each) is written
into a fresh embedded PostgreSQL (in a child process, so the peak RSS printed is the
backfill's). Then the whole ``bars`` and ``signals`` groups (bars at 1/5/15 minutes,
indicators, trade signals, bar and daily measures, jump events, anomalies, with their asset
checks) are computed for that day:

    (a) direct: the same tickflow functions and quality suites the assets call, in order,
        with the load / compute / write / checks split per asset
    (b) Dagster: ``materialize`` of those assets for the partition, one run, in process

and, on the same database and data, the store's two ceilings:

    (i)  binary ``COPY (SELECT <the loader's columns> ...) TO STDOUT`` of the day's session
         trades and quotes into memory, unparsed, by ``psql`` (libpq's C loop; psycopg's
         per-row ``get_copy_data`` loop is printed beside it)
    (ii) binary ``COPY ... FROM STDIN`` of the day's per-trade signal rows into an empty
         table of the same definition (primary key included)

The direct path runs once first to warm numba's and Great Expectations' caches; then (a)
and (b) alternate, best of ``--repeat`` each. ``--days N`` adds a range backfill of N days
as one Dagster run and prints days per minute. Last line:
``RESULT backfill day_s=<b> load_vs_ceiling=<x> write_vs_ceiling=<x> checks_share=<x> peak_rss_gb=<x>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import subprocess
import time

import psycopg

from tickflow import sessions
from tickflow.derive import entry_points
from tickflow.stack.postgres import scratch_server, wheel_bin_dir
from tickflow.store.schema import ensure_current

DAY = dt.date(2024, 6, 21)
ASSETS = ("bars", "indicators", "signals", "anomalies")


def _simulate_into(dsn: str, days: list[dt.date], symbols: int, trades: int) -> None:
    from tickflow.simulate.to_store import simulate_history

    t0 = time.perf_counter()
    rows = simulate_history(dsn, days, symbols, trades, seed=7, derive=False)
    print(f"stored {len(days)} day(s): {rows['trades']:,} trades and {rows['quotes']:,} quotes of {symbols} symbols "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)


def direct(dsn: str, day: dt.date = DAY) -> dict[str, dict[str, float]]:
    """The assets' work without Dagster: same functions, same checks, same order; seconds
    per asset and step (load, compute, write, checks, total)."""
    out: dict[str, dict[str, float]] = {}

    def record(asset: str, report: entry_points.DayReport, t0: float, checks_s: float) -> None:
        if report.blocked:
            raise RuntimeError(f"{asset}: checks failed, day not written: {report.blocked}")
        steps = {k: report.seconds.get(k, 0.0) for k in ("load", "compute", "write")}
        steps["checks"] = checks_s + report.seconds.get("checks", 0.0)
        steps["total"] = time.perf_counter() - t0
        out[asset] = steps

    run_id = f"bench-{time.time_ns()}"  # ticks read once per run, as in a Dagster run
    t0 = time.perf_counter()
    rep = entry_points.run_bars(dsn, day, run_id=run_id)
    t1 = time.perf_counter()
    for name in ("bars_1m", "bars_5m", "bars_15m"):
        entry_points.check_bars(rep, name)
    record("bars", rep, t0, time.perf_counter() - t1)
    t0 = time.perf_counter()
    rep = entry_points.run_indicators(dsn, day)
    t1 = time.perf_counter()
    entry_points.check_indicators(rep)
    record("indicators", rep, t0, time.perf_counter() - t1)
    t0 = time.perf_counter()
    rep = entry_points.run_signals(dsn, day, run_id=run_id)
    t1 = time.perf_counter()
    for name in entry_points.FINITE_COLUMNS:
        entry_points.check_signals(rep, name)
    record("signals", rep, t0, time.perf_counter() - t1)
    t0 = time.perf_counter()
    rep = entry_points.run_anomalies(dsn, day)
    record("anomalies", rep, t0, 0.0)
    out["total"] = {k: sum(v[k] for v in out.values()) for k in ("load", "compute", "write", "checks", "total")}
    return out


def through_dagster(partition: dict[str, str]) -> float:
    from dagster import DagsterInstance, materialize

    from assets.bars import bars, indicators
    from assets.signals import anomalies, signals
    from resources.tickflow import TickflowResource

    t0 = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        res = materialize([bars, indicators, signals, anomalies], instance=instance,
                          resources={"tickflow": TickflowResource()},
                          run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}}, **partition)
    if not res.success:
        raise RuntimeError("the Dagster run failed")
    failed = [e.check_name for e in res.get_asset_check_evaluations() if not e.passed]
    if failed:
        raise RuntimeError(f"asset checks failed: {failed}")
    return time.perf_counter() - t0


def _session_sql(day: dt.date) -> tuple[str, str]:
    return tuple(dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC).isoformat()  # type: ignore[return-value]
                 for x in sessions.session_bounds_ns(day))


# The columns the loader reads (tickflow.store.day_ticks), same rows, no aggregation.
_LOAD_QUERIES = {
    "trades": "SELECT sym, ts_ns, seq, price, size FROM trades WHERE ts >= '{lo}' AND ts < '{hi}'",
    "quotes": "SELECT sym, ts_ns, seq, bid_price, bid_size, ask_price, ask_size FROM quotes "
              "WHERE ts >= '{lo}' AND ts < '{hi}'",
}


def ceiling_load_psql(dsn: str, day: dt.date) -> tuple[float, int]:
    """(i): seconds and bytes of the binary COPY of the day's session ticks, by psql."""
    lo, hi = _session_sql(day)
    psql = str(wheel_bin_dir() / "psql")
    t0 = time.perf_counter()
    n = 0
    for q in _LOAD_QUERIES.values():
        out = subprocess.run([psql, "-X", "-q", dsn, "-c", f"COPY ({q.format(lo=lo, hi=hi)}) TO STDOUT (FORMAT BINARY)"],
                             check=True, capture_output=True).stdout
        n += len(out)
    return time.perf_counter() - t0, n


def ceiling_load_psycopg(dsn: str, day: dt.date) -> float:
    """(i) through psycopg: the driver hands back one COPY row per call."""
    lo, hi = _session_sql(day)
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for q in _LOAD_QUERIES.values():
            chunks = []
            with conn.cursor() as cur, cur.copy(f"COPY ({q.format(lo=lo, hi=hi)}) TO STDOUT (FORMAT BINARY)") as cp:
                chunks.extend(cp)
    return time.perf_counter() - t0


def ceiling_write(dsn: str, day: dt.date) -> tuple[float, int]:
    """(ii): seconds to COPY the day's stored per-trade signal rows (binary, as bytes in
    memory) into an empty table of the same definition, primary key included."""
    psql = str(wheel_bin_dir() / "psql")
    query = f"COPY (SELECT * FROM trade_signals WHERE day = '{day.isoformat()}') TO STDOUT (FORMAT BINARY)"  # noqa: S608 - a date
    payload = subprocess.run([psql, "-X", "-q", dsn, "-c", query], check=True, capture_output=True).stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ceiling_trade_signals")
        conn.execute("CREATE TABLE ceiling_trade_signals (LIKE trade_signals INCLUDING ALL)")
        rows = 0
        try:
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur, cur.copy(
                    "COPY ceiling_trade_signals FROM STDIN (FORMAT BINARY)") as cp:
                view = memoryview(payload)
                for i in range(0, len(view), 8 << 20):
                    cp.write(view[i : i + (8 << 20)])
            seconds = time.perf_counter() - t0
            rows = conn.execute("SELECT count(*) FROM ceiling_trade_signals").fetchone()[0]  # type: ignore[index]
        finally:
            conn.execute("DROP TABLE IF EXISTS ceiling_trade_signals")
    return seconds, rows


def _print_split(a: dict[str, dict[str, float]]) -> None:
    print(f"{'asset':12s} {'load':>7s} {'compute':>8s} {'write':>7s} {'checks':>7s} {'total':>7s}")
    for asset, s in a.items():
        print(f"{asset:12s} {s['load']:>7.2f} {s['compute']:>8.2f} {s['write']:>7.2f} {s['checks']:>7.2f} "
              f"{s['total']:>7.2f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--trades-per-symbol", type=int, default=25_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--days", type=int, default=0, help="also backfill a range of this many days as one run")
    ap.add_argument("--dsn", default="", help="use this database's stored day(s) instead of simulating")
    ap.add_argument("--psycopg-ceiling", action="store_true",
                    help="also time the binary COPY out through psycopg's per-row loop (minutes)")
    args = ap.parse_args(argv)
    range_days = sessions.trading_days(DAY - dt.timedelta(days=14), DAY)[-args.days:] if args.days else []
    with scratch_server("tickflow-bench-") as pg:
        dsn = args.dsn or pg.ensure_database("bench")
        os.environ["TICKFLOW_PG_DSN"] = dsn
        if not args.dsn:
            days = sorted({DAY, *range_days})
            child = multiprocessing.get_context("spawn").Process(
                target=_simulate_into, args=(dsn, days, args.symbols, args.trades_per_symbol))
            child.start()
            child.join()
            if child.exitcode:
                raise RuntimeError("simulating the day failed")
        ensure_current(dsn)  # with --dsn, a store of an earlier release
        direct(dsn)  # warm-up: numba compile/cache load, GE import
        # Alternate the two, best of `repeat` each, so drift on a shared machine hits both alike.
        runs_a, runs_b = [], []
        for _ in range(args.repeat):
            runs_a.append(direct(dsn))
            entry_points.forget_cached_ticks()  # the Dagster run is another run: it reads the day itself
            runs_b.append(through_dagster({"partition_key": DAY.isoformat()}))
            entry_points.forget_cached_ticks()
        # The backfill's peak, before the ceilings below hold whole COPY streams in memory.
        rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        a = min(runs_a, key=lambda r: r["total"]["total"])
        b = min(runs_b)
        c_load, c_bytes = min(ceiling_load_psql(dsn, DAY) for _ in range(args.repeat))
        c_load_pg = min(ceiling_load_psycopg(dsn, DAY) for _ in range(args.repeat)) if args.psycopg_ceiling else None
        c_write, c_rows = min(ceiling_write(dsn, DAY) for _ in range(args.repeat))
        _print_split(a)
        tot = a["total"]
        print(f"{'dagster run':12s} {b:>7.2f}   (one run materializing the 10 assets and their checks)")
        pg_loop = f", psycopg row loop {c_load_pg:.2f}s" if c_load_pg is not None else ""
        print(f"ceiling (i)  binary COPY out of the session's ticks ({c_bytes / 1e6:.0f} MB): psql {c_load:.2f}s"
              f"{pg_loop}; our load (once per run) {tot['load']:.2f}s")
        sig_write = a["signals"]["write"]
        print(f"ceiling (ii) binary COPY of {c_rows:,} per-trade rows into an empty keyed table: {c_write:.2f}s; "
              f"our signals write (4 tables) {sig_write:.2f}s")
        share = max(b - tot["total"], 0.0) / b
        print(f"Dagster overhead: {b - tot['total']:.2f}s of {b:.2f}s = {100 * share:.1f}%")
        if range_days:
            rb = through_dagster({"tags": {"dagster/asset_partition_range_start": range_days[0].isoformat(),
                                           "dagster/asset_partition_range_end": range_days[-1].isoformat()}})
            print(f"range of {len(range_days)} days as one run: {rb:.2f}s = {60 * len(range_days) / rb:.2f} days/minute")
        print(f"RESULT backfill day_s={b:.2f} load_vs_ceiling={tot['load'] / c_load:.2f} "
              f"write_vs_ceiling={sig_write / c_write:.2f} checks_share={tot['checks'] / tot['total']:.3f} "
              f"peak_rss_gb={rss_gb:.2f}")


if __name__ == "__main__":
    main()
