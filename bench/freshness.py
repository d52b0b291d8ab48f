"""Freshness of a live day: from a tick's Kafka acknowledgement to the raw tables, bars_1m,
trade signals and features, with the real local stack and `dagster dev` (daemon + sensors).

Two windows of a simulated day of N symbols (default 100) are replayed at real-time pace
(`tickflow.simulate.replay`): the first W session minutes (09:30 on), then (once window 1 is
complete at every stage, so the burst does not load its last minutes) the rest of the day up to
15:30 sent at once, then 15:30 to 15:30 + W at real time (W = 15 by default). A poller reads
the store every 0.1 s, only for the minutes on their way through the stages (``Poller``),
and records when each minute of the windows is complete:

- raw:      the minute's trades and quotes rows all in `trades`/`quotes`;
- bars:     the `bars_1m` rows of the minute count all of its trades;
- signals:  `trade_signals` holds all of its trades (each symbol's newest trade number);
- features: the `features` rows of the minute carry its volume (log_volume).

Lag of a minute = first time complete - Kafka acknowledgement of its last message. Per window
and stage: p50 / p95 / max, the least-squares slope of lag over the window's minutes (s per
minute; it must not grow), run counts (ingest, derived, failed), queue waits, and the most
derived runs ever queued at once for the day. Last line:

    RESULT freshness raw_p95_s=<x> bars_p95_s=<x> signals_p95_s=<x> growth=<x>

growth = max over windows and stages (raw, bars, signals) of p95(last 5 minutes) / p95(first 5);
the table also gives that difference in seconds (on a lag of about a second, the ratio of two
5-minute p95s moves by tens of percent on noise alone).

Run: `make bench-freshness` (about 2 x W minutes plus start-up; `--window-min 5` for a short
run). It starts its own stack under .tickflow-freshness/ on its own ports and stops it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg

from tickflow import sessions
from tickflow.config import load_settings
from tickflow.simulate.day import simulate_day
from tickflow.simulate.replay import MINUTE_MS, ReplayReport, ny_time_ms, replay
from tickflow.stack.local import LocalStack
from tickflow.stack.procs import stop_pid

REPO = Path(__file__).resolve().parents[1]
STAGES = ("raw", "bars", "signals", "features")
CHECKPOINTS_17 = "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
CHECKPOINTS_OLD = "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"


def minute_counts(ts_ns: np.ndarray, lo_ms: int, hi_ms: int) -> dict[int, int]:
    ms = ts_ns // 1_000_000
    m = ms[(ms >= lo_ms) & (ms < hi_ms)]
    keys, counts = np.unique(m - m % MINUTE_MS, return_counts=True)
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))


class Poller(threading.Thread):
    """Records the first wall time each minute of the windows is complete at each stage.

    Every ``interval_s`` (0.1 s) it asks only about the minutes pending at a stage: closed
    (a later minute's message has been acknowledged, or the window's replay has ended) and,
    past raw, complete at the stage before. So its resolution is a tenth of a second while
    it costs the store a query or two while a minute is on its way through the stages, and
    nothing in between (polling every stage every second had a resolution of a second, as
    large as the bars' lag it measured)."""

    def __init__(self, dsn: str, day: dt.date, windows: list[tuple[int, int]], trades: dict[int, int],
                 quotes: dict[int, int], volume: dict[int, float], instance_env: dict[str, str],
                 need: dict[int, np.ndarray], symbols: list[str], interval_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.dsn, self.day, self.windows = dsn, day, windows
        self.trades, self.quotes, self.volume = trades, quotes, volume
        self.need, self.symbols, self.interval_s = need, symbols, interval_s
        self.seen: dict[str, dict[int, float]] = {s: {} for s in STAGES}
        self.max_derived_queued = 0
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.env = instance_env
        self.acked: dict[int, float] = {}  # the running replay's (ReplayReport.acked, filled as it goes)
        self.closed_before = 0  # minutes before this (epoch ms) are closed: their replay has ended
        # every second: (wall time, 1-min load, tables autovacuum works on, checkpoints so far),
        # to tell a minute's lag from what the machine was doing besides (figures: ``explain``)
        self.background: list[tuple[float, float, str, int]] = []

    def sample_background(self, conn: psycopg.Connection) -> None:
        # PostgreSQL 17 moved the checkpoint counts to pg_stat_checkpointer
        checkpoints = (CHECKPOINTS_17 if conn.info.server_version >= 170000 else CHECKPOINTS_OLD)
        row = conn.execute(
            "SELECT (SELECT string_agg(DISTINCT regexp_replace(query, '^autovacuum: ', ''), ', ') "
            "FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')").fetchone()
        count = conn.execute(checkpoints).fetchone()
        assert row is not None and count is not None
        self.background.append((time.time(), os.getloadavg()[0], row[0] or "", int(count[0])))


    def _minute_sql(self, conn: psycopg.Connection, query: str, lo: int, hi: int) -> dict[int, float]:
        rows = conn.execute(query, (dt.datetime.fromtimestamp(lo / 1000, dt.UTC),
                                    dt.datetime.fromtimestamp(hi / 1000, dt.UTC))).fetchall()
        return {int(r[0].timestamp() * 1000): float(r[1] or 0) for r in rows}

    def pending(self, stage: str) -> list[int]:
        before = STAGES[STAGES.index(stage) - 1] if stage != "raw" else None
        newest = max(self.acked, default=0)
        return sorted(m for m in self.trades if m not in self.seen[stage]
                      and any(lo <= m < hi for lo, hi in self.windows)
                      and (self.seen[before].get(m) is not None if before else (m < newest or m < self.closed_before)))

    def poll_once(self, conn: psycopg.Connection) -> None:
        # A minute counts as complete at the start of the query that saw it (an upper bound).
        queries = {
            "raw": ("SELECT date_trunc('minute', ts), count(*) FROM trades WHERE ts >= %s AND ts < %s GROUP BY 1",
                    "SELECT date_trunc('minute', ts), count(*) FROM quotes WHERE ts >= %s AND ts < %s GROUP BY 1"),
            "bars": ("SELECT ts, sum(trades) FROM bars WHERE interval_min = 1 AND ts >= %s AND ts < %s GROUP BY 1",),
            "features": ("SELECT ts, sum(exp(log_volume) - 1) FROM features WHERE interval_min = 1 AND ts >= %s "
                         "AND ts < %s GROUP BY 1",),
        }
        for stage in STAGES:
            for lo, hi in self.windows:  # a window at a time: a query spans a minute or two of one
                self._poll_stage(conn, stage, [m for m in self.pending(stage) if lo <= m < hi], queries)

    def _poll_stage(self, conn: psycopg.Connection, stage: str, todo: list[int],
                    queries: dict[str, tuple[str, ...]]) -> None:
        if not todo:
            return
        now = time.time()
        if stage == "signals":
            # each symbol's newest trade number (an index probe each; ts is not indexed there)
            rows = conn.execute("SELECT s.sym, (SELECT max(trade_no) FROM trade_signals t WHERE t.day = %s "
                                "AND t.sym = s.sym) FROM unnest(%s::text[]) WITH ORDINALITY s(sym, i) "
                                "ORDER BY s.i", (self.day, self.symbols)).fetchall()
            have = np.array([-1 if r[1] is None else r[1] for r in rows], dtype=np.int64)
            for m in todo:
                if np.all(have >= self.need[m]):
                    self.seen[stage][m] = now
            return
        got = []
        for sql in queries[stage]:
            try:
                got.append(self._minute_sql(conn, sql, todo[0], todo[-1] + MINUTE_MS))
            except psycopg.errors.UndefinedTable:
                conn.rollback()
                got.append({})
        for m in todo:
            n = self.trades[m]
            if stage == "raw":
                ok = got[0].get(m, 0) >= n and got[1].get(m, 0) >= self.quotes.get(m, 0)
            elif stage == "features":
                v = self.volume.get(m, 0)
                ok = abs(got[0].get(m, -1) - v) <= 1e-6 * max(1.0, v)
            else:
                ok = got[0].get(m, 0) >= n
            if ok:
                self.seen[stage][m] = now

    def run(self) -> None:
        from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

        os.environ.update(self.env)
        instance = DagsterInstance.get()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            tick = 0
            while not self.stop.is_set():
                try:
                    self.poll_once(conn)
                    if tick % 10 == 0:
                        n = instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED],
                                                               tags={"tickflow/queue": "derived"}))
                        self.max_derived_queued = max(self.max_derived_queued, n)
                        self.sample_background(conn)
                except Exception as e:  # noqa: BLE001 - a bench keeps measuring; reported at the end
                    self.errors.append(repr(e))
                    conn.rollback()
                tick += 1
                self.stop.wait(self.interval_s)


def trade_numbers_needed(sim, day: dt.date, minutes: list[int]) -> dict[int, np.ndarray]:  # type: ignore[no-untyped-def]
    """Per minute (epoch ms), each symbol's trade number (``trade_signals.trade_no``: its
    index among the symbol's session trades) that the minute's last trade has or exceeds:
    the minute is in ``trade_signals`` when every symbol's newest row reaches it (-1: none yet)."""
    open_ns, close_ns = sessions.session_bounds_ns(day)
    ts, sym = sim.trades["ts_ns"], sim.trades["sym_idx"]
    keep = (ts >= open_ns) & (ts < close_ns)
    ts, sym = ts[keep], sym[keep]
    out = {}
    for m in minutes:
        end_ns = (m + MINUTE_MS) * 1_000_000
        out[m] = np.bincount(sym[ts < end_ns], minlength=len(sim.symbols)).astype(np.int64) - 1
    return out


def window_minute(t: float, windows: list[tuple[int, int]], acked: dict[int, float], speed: float = 1.0) -> str:
    """Which measured minute wall time ``t`` fell in: ``W.M`` for the M-th minute of window W
    (from the acknowledgement of the minute before's last message to its own), else '-'."""
    for i, (lo, hi) in enumerate(windows):
        mins = [m for m in sorted(acked) if lo <= m < hi]
        for j, m in enumerate(mins):
            if acked.get(m - MINUTE_MS, acked[m] - 60.0 / speed) < t <= acked[m]:
                return f"{i + 1}.{j + 1:02d}"
    return "-"


def explain(shapes: list[dict], poller: Poller, windows: list[tuple[int, int]], acked: dict[int, float]) -> str:
    """What happened between each measured minute's close (the acknowledgement of its last
    message) and its trade signals: the live passes that read the store then (offset from
    the close, seconds, flags: B it waited for its minute's boundary, M its wait ran out
    first, W it counted the whole day, R it read the day whole), the 1-minute load, the
    tables autovacuum worked on, and checkpoints begun."""
    shapes = sorted(shapes, key=lambda x: x["read_at"])
    lines = ["what each minute waited on (window.minute: bars/signals lag; passes as +start/seconds/flags;"
             " load; autovacuum; checkpoints)"]
    for i, (lo, hi) in enumerate(windows):
        for k, m in enumerate(sorted(x for x in poller.trades if lo <= x < hi)):
            close, done = acked.get(m), poller.seen["signals"].get(m)
            if close is None or done is None:
                continue
            ps = [x for x in shapes if close - 12 <= x["read_at"] <= done]
            flags = [f"{x['read_at'] - close:+.1f}/{x['seconds']:.1f}"
                     + {"arrived": "B", "missed": "M"}.get(x["boundary"], "") + ("W" if x["whole_count"] else "")
                     + ("R" if x["read"] != "tail" else "") for x in ps]
            bg = [b for b in poller.background if close <= b[0] <= done]
            load = max((b[1] for b in bg), default=float("nan"))
            vac = sorted({t for b in bg for t in b[2].split(", ") if t})
            cps = (bg[-1][3] - bg[0][3]) if len(bg) > 1 else 0
            bars = poller.seen["bars"].get(m, float("nan")) - close
            lines.append(f"{i + 1}.{k + 1:<3d} {bars:5.1f}/{done - close:5.1f}  {' '.join(flags):40s} load {load:4.1f}"
                         f"  {'; '.join(vac) or '-'}  {cps or ''}")
    return "\n".join(lines)


def stats(lags: list[float]) -> tuple[float, float, float]:
    a = np.asarray(lags, dtype=float)
    if a.size == 0:
        return (float("nan"),) * 3  # type: ignore[return-value]
    return float(np.percentile(a, 50)), float(np.percentile(a, 95)), float(a.max())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--date", default="2024-06-21")
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--trades-per-symbol", type=int, default=25_000)
    ap.add_argument("--window-min", type=int, default=15)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--settle-s", type=int, default=300, help="wait after the last window for the last minutes")
    ap.add_argument("--home", default=str(REPO / ".tickflow-freshness"))
    ap.add_argument("--keep", action="store_true", help="leave the stack running and its data in place (to query the "
                    "store and the event log afterwards; stop it with TICKFLOW_HOME=<home> tickflow down)")
    args = ap.parse_args()

    day = dt.date.fromisoformat(args.date)
    os.environ["TICKFLOW_HOME"] = args.home
    # the replayed day counts as live: bars and indicators take the intraday tail path
    os.environ.setdefault("TICKFLOW_REHEARSAL_DAYS", args.date)
    shutil.rmtree(args.home, ignore_errors=True)  # a fresh store and instance: earlier runs would skew counts
    settings = load_settings()
    stack = LocalStack(settings)
    print(f"stack under {args.home}: pg {settings.pg_port} kafka {settings.kafka_port} dagster {settings.dagster_port}")
    stack.up()
    env = {"DAGSTER_HOME": str(stack.dagster_home), **{k: v for k, v in os.environ.items() if k.startswith("TICKFLOW_")}}
    exe = Path(sys.executable).parent / "dagster"
    log = open(Path(args.home) / "dagster-dev.log", "w")  # noqa: SIM115 - closed after the run
    dev = subprocess.Popen([str(exe), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p",
                            str(settings.dagster_port)], cwd=REPO, env={**os.environ, **env}, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    t_start = time.time()
    try:
        return measure(args, day, settings, stack, env, dev, log, t_start)
    finally:
        if not args.keep:
            stack.down()


def measure(args: argparse.Namespace, day: dt.date, settings, stack: LocalStack, env: dict[str, str],  # type: ignore[no-untyped-def]
            dev: subprocess.Popen, log, t_start: float) -> int:  # type: ignore[type-arg]
    try:
        t0 = time.perf_counter()
        sim = simulate_day(day, n_symbols=args.symbols, seed=7, trades_per_symbol=args.trades_per_symbol,
                           quotes_per_symbol=2 * args.trades_per_symbol)
        print(f"simulated {args.symbols} symbols: {sim.trades['ts_ns'].size:,} trades, "
              f"{sim.quotes['ts_ns'].size:,} quotes in {time.perf_counter() - t0:.1f}s")
        starts = ("09:30", "15:30")
        ends = tuple((dt.datetime.strptime(s, "%H:%M") + dt.timedelta(minutes=args.window_min)).strftime("%H:%M")
                     for s in starts)
        # Each window's replay runs a minute past it: its last minute is closed by the next
        # minute's ticks, as every minute of a session but the last is (a feed that stops at
        # a window's end would add the wait for a boundary that never comes to that minute).
        sent = tuple((dt.datetime.strptime(e, "%H:%M") + dt.timedelta(minutes=1)).strftime("%H:%M") for e in ends)
        windows = [(ny_time_ms(day, s), ny_time_ms(day, e)) for s, e in zip(starts, ends, strict=True)]
        whole = (windows[0][0], windows[1][1])
        trades = minute_counts(sim.trades["ts_ns"], *whole)
        quotes = minute_counts(sim.quotes["ts_ns"], *whole)
        ms = sim.trades["ts_ns"] // 1_000_000
        vol: dict[int, float] = {}
        for m in trades:
            vol[m] = float(sim.trades["size"][(ms >= m) & (ms < m + MINUTE_MS)].sum())
        measured = sorted(m for m in trades if any(lo <= m < hi for lo, hi in windows))
        poller = Poller(settings.dsn, day, windows, trades, quotes, vol, env,
                        trade_numbers_needed(sim, day, measured), list(sim.symbols))
        print("waiting for the Dagster daemon and webserver ...")
        time.sleep(30)
        poller.start()
        acked: dict[int, float] = {}
        print(f"window 1: {starts[0]}-{ends[0]} New York at x{args.speed:g}")
        rep1 = replay(settings, sim, args.speed, start=starts[0], until=sent[0], report=ReplayReport(acked=poller.acked))
        poller.closed_before = windows[0][1]
        acked.update(rep1.acked)
        # The fast-forward below sends 5.8M messages at once; started at 09:45 it would land its
        # load on window 1's last minutes, still on their way through ingest and the live pass.
        # A real day has no such burst, so window 1 is let finish first (its minutes complete at
        # every stage, at most settle_s), and only then is the day fast-forwarded.
        w1 = [m for m in trades if m < windows[0][1]]
        t_wait = time.time()
        while time.time() < t_wait + args.settle_s and any(m not in poller.seen[s] for s in STAGES for m in w1):
            time.sleep(1)
        print(f"window 1 complete at every stage {time.time() - t_wait:.0f}s after its replay ended ({sent[0]})")
        print(f"window 2: {sent[0]}-{starts[1]} at once, then {starts[1]}-{sent[1]} at x{args.speed:g}")
        live2 = ReplayReport()
        poller.acked = live2.acked
        rep2 = replay(settings, sim, args.speed, start=starts[1], until=sent[1], catch_up=True,
                      skip_before=sent[0], report=live2)
        poller.closed_before = windows[1][1]
        acked.update({m: t for m, t in rep2.acked.items() if m >= windows[1][0]})
        deadline = time.time() + args.settle_s
        while time.time() < deadline and any(m not in poller.seen[s] for s in STAGES for m in measured):
            time.sleep(5)
        poller.stop.set()
        poller.join(10)
        # run statuses before the stack stops (stopping it interrupts the live session run)
        from dagster import DagsterInstance as _Instance

        os.environ.update(env)
        with _Instance.get() as inst:
            status_at_end = {r.run_id: r.status for r in inst.get_runs()}
    finally:
        stop_pid(dev.pid, timeout=30)
        log.close()

    # ---- figures
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    os.environ.update(env)
    instance = DagsterInstance.get()
    records = [r for r in instance.get_run_records(RunsFilter(created_after=dt.datetime.fromtimestamp(t_start, dt.UTC)))]
    runs = {"ingest": [], "derived": [], "live": [], "other": []}  # type: dict[str, list]
    for r in records:
        runs[r.dagster_run.tags.get("tickflow/queue", "other")].append(r)
    failed = [r for r in records if status_at_end.get(r.dagster_run.run_id) == DagsterRunStatus.FAILURE]
    print(f"\nmachine: {os.cpu_count()} cores, load {os.getloadavg()}")
    print(f"replay: window 1 {rep1.messages:,} msgs, max {rep1.max_behind_s:.2f}s behind schedule; window 2 "
          f"{rep2.caught_up:,} at once + {rep2.messages - rep2.caught_up:,} paced, max {rep2.max_behind_s:.2f}s behind")
    for kind, rs in runs.items():
        waits = [(r.start_time or 0) - r.create_timestamp.timestamp() for r in rs if r.start_time]
        p50, p95, mx = stats(waits)
        print(f"runs {kind:8s} {len(rs):4d}   queue wait p50 {p50:6.1f}s p95 {p95:6.1f}s max {mx:6.1f}s")
    print(f"failed runs {len(failed)}; most derived runs queued at once {poller.max_derived_queued}")
    follows: dict[str, int] = {}  # why each ingest run stopped following the feed (tickflow.ingest_follow)
    began: list[str] = []  # where each follow loop began: a handover (its start-up and first seconds)
    for r in runs["ingest"]:
        for rec in instance.all_logs(r.dagster_run.run_id, of_type=DagsterEventType.STEP_OUTPUT):
            data = rec.dagster_event.event_specific_data if rec.dagster_event else None
            follow = getattr(data, "metadata", {}).get("follow")
            why = str(getattr(follow, "value", {}).get("stopped", "did not follow"))
            follows[why] = follows.get(why, 0) + 1
            if follow is not None:
                at = dt.datetime.fromisoformat(follow.value["began_at"]).timestamp()
                began.append(window_minute(at, windows, acked, args.speed))
    print(f"ingest runs by how following ended: {follows}")
    print(f"follow loops began (window.minute, 1-based, or outside the windows): {', '.join(sorted(began))}")
    for r in runs["live"]:  # the live session run is stopped with the stack (it would run to the close)
        print(f"live session run {r.dagster_run.run_id[:8]}: {status_at_end.get(r.dagster_run.run_id)} before the "
              f"stack stopped, {r.dagster_run.status.value} after")
    if poller.errors:
        print(f"poller errors ({len(poller.errors)}): {poller.errors[:3]}")
    print(f"\n{'window':8s} {'stage':9s} {'minutes':>7s} {'p50 s':>7s} {'p95 s':>7s} {'max s':>7s} {'slope s/min':>11s} "
          f"{'last5/first5':>12s} {'last5-first5 s':>14s}")
    p95s: dict[str, list[float]] = {s: [] for s in STAGES}
    per_minute: list[str] = []
    growth = 0.0
    for i, (lo, hi) in enumerate(windows):
        mins = sorted(m for m in trades if lo <= m < hi)
        for stage in STAGES:
            lag = [(m, poller.seen[stage][m] - acked[m]) for m in mins if m in poller.seen[stage] and m in acked]
            vals = [v for _, v in lag]
            p50, p95, mx = stats(vals)
            p95s[stage] += vals
            slope = float(np.polyfit([(m - lo) / MINUTE_MS for m, _ in lag], vals, 1)[0]) if len(lag) > 2 else float("nan")
            g = d = float("nan")
            if len(vals) >= 10:
                g = stats(vals[-5:])[1] / max(stats(vals[:5])[1], 1e-9)
                d = stats(vals[-5:])[1] - stats(vals[:5])[1]  # the same growth in seconds
                if stage != "features":
                    growth = max(growth, g)
            print(f"{i + 1:<8d} {stage:9s} {len(lag):4d}/{len(mins):<2d} {p50:7.1f} {p95:7.1f} {mx:7.1f} {slope:11.2f} "
                  f"{g:12.2f} {d:14.1f}")
            per_minute.append(f"{i + 1:<8d} {stage:9s} " + " ".join(f"{v:.1f}"
                                                                   for v in vals))
    print("\nlag per minute of each window, s (in order)\n" + "\n".join(per_minute))
    from dagster import AssetKey

    def by(records, field: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
        out: dict[str, int] = {}
        for event in records:
            value = str(getattr(event.metadata.get(field) if event else None, "value", "-"))
            out[value] = out.get(value, 0) + 1
        return out

    mats = [r.asset_materialization for r in instance.fetch_materializations(AssetKey("bars_1m"), 10_000).records]
    passes = [r.asset_observation for r in instance.fetch_observations(AssetKey("bars_1m"), 10_000).records]
    trade = [r.asset_observation for r in instance.fetch_observations(AssetKey("trade_signals"), 10_000).records]
    print(f"bars_1m updates by path (tickflow.derive.intraday): runs {by(mats, 'update')}, "
          f"live passes {by(passes, 'update')}; trade signals of live passes computed from the tail: "
          f"{by(trade, 'computed_from_tail')}")
    shapes = [getattr(o.metadata.get("live_pass"), "value", None) for o in passes if o is not None]
    print("\n" + explain([x for x in shapes if x], poller, windows, acked))
    overall = {s: stats(v)[1] for s, v in p95s.items()}
    print(f"RESULT freshness raw_p95_s={overall['raw']:.1f} bars_p95_s={overall['bars']:.1f} "
          f"signals_p95_s={overall['signals']:.1f} growth={growth:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
