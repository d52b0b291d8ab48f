"""Intraday derived updates (make bench-intraday): the tail update against the full day, as the day fills.

One simulated day (``--symbols``, ``--trades-per-symbol`` trades and twice as many quotes
each) is written into a fresh embedded PostgreSQL and moved aside; it then arrives in the
tick tables minute by minute, as ingest would store it. At each checkpoint minute ``m`` the
day is brought up to date (ticks before ``m``), one more minute of ticks lands, and the
bars and indicators are updated twice, on the same data:

    (a) tail: :func:`tickflow.derive.intraday.update_bars` and ``update_indicators``
        (what the assets run during the session), best of ``--repeat``
    (b) full: ``run_bars`` and ``run_indicators`` of the whole day so far (what they ran
        before, and still run after the close or on late data), best of ``--repeat``

and the signals group both ways (load and compute of the whole day so far either way; the
tail path writes only the trade signals from its mark on).

Both run the same checks and write through the same store. Printed per checkpoint: seconds of
each with their load / compute / checks / write split, trades read, and full / tail. Last line:
``RESULT intraday tail_s=<a at the last checkpoint> full_s=<b there> full_over_tail=<x>
tail_growth=<a last / a first> signals_tail_s=<x> signals_full_s=<x>`` (tail_growth near 1:
the update does not grow with the day).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from tickflow import sessions
from tickflow.derive import entry_points, intraday
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day
from tickflow.stack.postgres import PgServer, wheel_bin_dir
from tickflow.stack.procs import free_port
from tickflow.store.day_ticks import load_day_ticks
from tickflow.store.schema import ensure_schema

DAY = dt.date(2024, 6, 21)
MIN = 60_000_000_000


def _feed(dsn: str, lo_ns: int, hi_ns: int) -> None:
    with psycopg.connect(dsn) as conn:
        for t in ("trades", "quotes"):
            conn.execute(f"INSERT INTO {t} SELECT * FROM {t}_all WHERE ts_ns >= %s AND ts_ns < %s",  # noqa: S608
                         (lo_ns, hi_ns))


def _split(*reports: entry_points.DayReport) -> str:
    keys = ("load", "compute", "checks", "write")
    return " ".join(f"{k} {sum(r.seconds.get(k, 0.0) for r in reports):.2f}" for k in keys)


def _restore(dsn: str, saved: list) -> None:  # type: ignore[type-arg]
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM intraday_marks")
        for r in saved:
            conn.execute("INSERT INTO intraday_marks VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", r)


def _signals(dsn: str, now_ns: int, repeat: int) -> tuple[float, float, str, str]:
    """Best seconds of the signals update with the trade-signal tail, and of the full one
    (both load the day so far and compute it whole); with their splits."""
    best = [float("inf"), float("inf")]
    split = ["", ""]
    for _ in range(repeat):
        with psycopg.connect(dsn) as conn:
            saved = conn.execute("SELECT * FROM intraday_marks").fetchall()
        t_run = time.perf_counter()
        r = intraday.signals_tail_or_full(dsn, DAY, load_day_ticks(dsn, DAY), now_ns=now_ns)
        secs = time.perf_counter() - t_run
        assert r.extra["trade_signals"]["update"] == "tail", r.extra["trade_signals"]
        if secs < best[0]:
            best[0], split[0] = secs, f"tail rows {r.extra['trade_signals']['rows_written']:,} " + _split(r)
        _restore(dsn, saved)
        t_run = time.perf_counter()
        f = entry_points.run_signals(dsn, DAY, ticks=load_day_ticks(dsn, DAY))
        secs = time.perf_counter() - t_run
        if secs < best[1]:
            best[1], split[1] = secs, f"rows {f.rows['trade_signals']:,} " + _split(f)
    return best[0], best[1], split[0], split[1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--trades-per-symbol", type=int, default=10_000)
    ap.add_argument("--minutes", default="30,120,240,380", help="checkpoint session minutes")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tickflow-bench-intraday-", dir="/tmp"))
    work.chmod(0o755)
    (work / "xdg").mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(work / "xdg")
    pg = PgServer(wheel_bin_dir(), work / "pg", free_port())
    pg.start()
    try:
        dsn = pg.ensure_database("intraday")
        ensure_schema(dsn)
        t0 = time.perf_counter()
        sim = simulate_day(DAY, n_symbols=args.symbols, seed=1, trades_per_symbol=args.trades_per_symbol,
                           quotes_per_symbol=2 * args.trades_per_symbol)
        write_simulated_day(dsn, sim)
        with psycopg.connect(dsn) as conn:
            for t in ("trades", "quotes"):
                conn.execute(f"CREATE TABLE {t}_all AS SELECT * FROM {t}")  # noqa: S608
                conn.execute(f"TRUNCATE {t}")  # noqa: S608
        print(f"{args.symbols} symbols, {sim.trades['ts_ns'].size:,} trades, {sim.quotes['ts_ns'].size:,} quotes "
              f"staged in {time.perf_counter() - t0:.1f}s")
        open_ns = sessions.session_bounds_ns(DAY)[0]
        fed = 0
        rows = []
        print(f"{'minute':>6} {'tail_s':>7} {'full_s':>7} {'full/tail':>9} {'tail trades':>11} {'day trades':>10}"
              "   tail split | full split")
        for m in (int(x) for x in args.minutes.split(",")):
            now = open_ns + m * MIN
            _feed(dsn, fed, now)
            intraday.bars_tail_or_full(dsn, DAY, now_ns=now)  # up to date before the new minute
            intraday.indicators_tail_or_full(dsn, DAY, now_ns=now)
            intraday.signals_tail_or_full(dsn, DAY, load_day_ticks(dsn, DAY), now_ns=now)
            _feed(dsn, now, now + MIN)
            fed = now + MIN
            best_tail, best_full = float("inf"), float("inf")
            tail_reports: tuple[entry_points.DayReport, ...] = ()
            full_reports: tuple[entry_points.DayReport, ...] = ()
            for _ in range(args.repeat):
                # the same tail each time: the mark is put back before every repeat
                with psycopg.connect(dsn) as conn:
                    saved = conn.execute("SELECT * FROM intraday_marks").fetchall()
                t_run = time.perf_counter()
                b = intraday.update_bars(dsn, DAY, now + MIN)
                i = intraday.update_indicators(dsn, DAY, now + MIN)
                secs = time.perf_counter() - t_run
                assert isinstance(b, entry_points.DayReport) and isinstance(i, entry_points.DayReport), (b, i)
                if secs < best_tail:
                    best_tail, tail_reports = secs, (b, i)
                _restore(dsn, saved)
                t_run = time.perf_counter()
                fb = entry_points.run_bars(dsn, DAY)
                fi = entry_points.run_indicators(dsn, DAY)
                secs = time.perf_counter() - t_run
                if secs < best_full:
                    best_full, full_reports = secs, (fb, fi)
            day_trades = full_reports[0].extra["bars_1m"]["trades"]
            sig = _signals(dsn, now + MIN, args.repeat)
            rows.append((m, best_tail, best_full, *sig[:2]))
            print(f"{m:>6} {best_tail:>7.2f} {best_full:>7.2f} {best_full / best_tail:>9.1f} "
                  f"{tail_reports[0].extra['bars_1m']['trades']:>11,} {day_trades:>10,}   "
                  f"{_split(*tail_reports)} | {_split(*full_reports)}")
            print(f"{'':>6} signals: tail (trade signals from the tail written) {sig[0]:.2f}s, full {sig[1]:.2f}s, "
                  f"full/tail {sig[1] / sig[0]:.2f}; {sig[2]} | {sig[3]}")
        last, first = rows[-1], rows[0]
        print(f"RESULT intraday tail_s={last[1]:.3f} full_s={last[2]:.3f} full_over_tail={last[2] / last[1]:.2f} "
              f"tail_growth={last[1] / first[1]:.2f} signals_tail_s={last[3]:.3f} signals_full_s={last[4]:.3f}")
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
