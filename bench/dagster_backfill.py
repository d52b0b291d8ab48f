"""Backfill of one trading day through Dagster (make bench-backfill): how much is Dagster.

One simulated day (100 symbols by default, ~25k trades and ~50k quotes each) is written
into a fresh embedded PostgreSQL. Then the whole ``bars`` and ``signals`` groups (bars at
1/5/15 minutes, indicators, trade signals, bar and daily measures, jump events,
anomalies, with their asset checks) are computed for that day twice:

    (a) direct: the same tickflow functions and quality suites the assets call, in order
    (b) Dagster: ``materialize`` of those assets for the partition, one run, in process

The direct path runs once first to warm numba's and Great Expectations' caches; then (a)
and (b) alternate, best of two each. The Dagster overhead share is ``(b - a) / b``. Last line: ``RESULT backfill day_s=<b> direct_s=<a> dagster_share=<x>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

from dagster import DagsterInstance, materialize

from assets.bars import bars, indicators
from assets.signals import anomalies, signals
from resources.tickflow import TickflowResource
from tickflow.derive import daily
from tickflow.feed.simulate import simulate_day
from tickflow.stack.postgres import scratch_server
from tickflow.store.simulated import write_simulated_day

DAY = dt.date(2024, 6, 21)


def direct(dsn: str) -> dict[str, float]:
    """The assets' work without Dagster: same functions, same checks, same order."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    rep = daily.run_bars(dsn, DAY)
    for name in ("bars_1m", "bars_5m", "bars_15m"):
        daily.check_bars(rep, name)
    t["bars"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    daily.check_indicators(daily.run_indicators(dsn, DAY))
    t["indicators"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sig = daily.run_signals(dsn, DAY)
    for name in daily.FINITE_COLUMNS:
        daily.check_signals(sig, name)
    t["signals"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    daily.run_anomalies(dsn, DAY)
    t["anomalies"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t


def through_dagster(instance: DagsterInstance) -> float:
    t0 = time.perf_counter()
    res = materialize([bars, indicators, signals, anomalies], partition_key=DAY.isoformat(), instance=instance,
                      resources={"tickflow": TickflowResource()},
                      run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    if not res.success:
        raise RuntimeError("the Dagster run failed")
    failed = [e.check_name for e in res.get_asset_check_evaluations() if not e.passed]
    if failed:
        raise RuntimeError(f"asset checks failed: {failed}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--trades-per-symbol", type=int, default=25_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    with scratch_server("tickflow-bench-") as pg:
        dsn = pg.ensure_database("bench")
        os.environ["TICKFLOW_PG_DSN"] = dsn
        t0 = time.perf_counter()
        sim = simulate_day(DAY, n_symbols=args.symbols, seed=7, trades_per_symbol=args.trades_per_symbol,
                           quotes_per_symbol=2 * args.trades_per_symbol)
        rows = write_simulated_day(dsn, sim)
        print(f"stored {rows['trades']:,} trades and {rows['quotes']:,} quotes of {args.symbols} symbols "
              f"in {time.perf_counter() - t0:.1f}s")
        direct(dsn)  # warm-up: numba compile/cache load, GE import
        # Alternate the two, best of `repeat` each, so drift on a shared machine hits both alike.
        runs_a, runs_b = [], []
        with DagsterInstance.ephemeral() as instance:
            for _ in range(args.repeat):
                runs_a.append(direct(dsn))
                runs_b.append(through_dagster(instance))
        a = min(runs_a, key=lambda r: r["total"])
        b = min(runs_b)
        print(f"{'step':12s} {'direct s':>9s}")
        for k, v in a.items():
            print(f"{k:12s} {v:>9.2f}")
        print(f"{'dagster run':12s} {b:>9.2f}   (one run materializing the 10 assets and their checks)")
        share = max(b - a["total"], 0.0) / b
        print(f"Dagster overhead: {b - a['total']:.2f}s of {b:.2f}s = {100 * share:.1f}%")
        print(f"RESULT backfill day_s={b:.2f} direct_s={a['total']:.2f} dagster_share={share:.3f}")


if __name__ == "__main__":
    main()
