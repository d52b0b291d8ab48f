"""Intraday derived updates: while a day's session is open, bars and indicators rewrite only its tail.

A full update of a day reads every tick of it (the day so far), so during the session its
cost grows with the day. Bars and indicators are causal: a minute's bar depends only on
the ticks of that minute and the price carried into it, an indicator only on the closes up
to its minute. So while the session is open an update starts at ``tail_from``, a
15-minute boundary (the coarsest bar: a whole 5- or 15-minute bar is rebuilt) a margin
before the newest stored tick, and

- reads only the ticks from ``tail_from`` on, plus each symbol's quote prevailing at
  ``tail_from`` (one indexed look-up per symbol) and the stored 1-minute close before it
  (the price carried into the tail);
- computes the bars of the tail with the same kernels as the full day
  (:func:`tickflow.derive.bars.compute_bars` with that carried price as its seed);
- replaces the day's bar rows from ``tail_from`` on (:func:`replace_tail`: DELETE and COPY
  of the tail in one transaction, with the new :class:`Mark`);
- marks the indicators dirty from ``tail_from``; their update computes on the stored closes
  (390 per symbol at most, the previous days' warm-up included) and rewrites only the rows
  from the dirty minute on.

The stored rows before ``tail_from`` stay valid as long as the ticks before it are those
the mark counted. Every update checks that in the same snapshot as its load (two counts
over the day's ticks before ``tail_from``, done by the server); any difference -- late
data, a re-ingest, a backfill -- and anything else the tail cannot reproduce (a symbol new
to the day, a symbol whose first quote arrives in the tail: the full day would carry that
mid back to the open) makes it a full update. A full update of an open day records a new
mark, so the next one can be incremental again; after the close every update is full
(the closing run recomputes the day, and with it the whole-day fits, which stay
provisional until then: :mod:`tickflow.derive.provisional`). The full update and the
incremental one give equal rows (tests/platform/derive/test_intraday.py).

Why inside the existing assets and not a separate intraday job: the automation sensor
already runs one derived run per day at a time on the derived queue as ticks land, and the
asset keys, checks and lineage stay the same whichever path wrote the rows; a separate job
would write the same tables outside the assets' materializations and need its own
exclusion against them. The decision is a pure function of the store (the mark and the
ticks), so a retried or concurrent run can never take the tail path on stale state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from tickflow import sessions
from tickflow.derive import bars as bars_mod
from tickflow.derive.entry_points import DayReport, DayWrites, _ns, _timed
from tickflow.derive.provisional import open_days
from tickflow.derive.signals import suite_fits
from tickflow.quality.expectations import bar_checks, signal_checks, volume_reconciliation
from tickflow.store import derived
from tickflow.store.day_ticks import (
    QUOTE_COLUMNS,
    TRADE_COLUMNS,
    DayTicks,
    _align,
    _fetch_columns,
    begin_in_snapshot,
    day_snapshot,
    load_day_ticks,
    newest_ns,
    quote_columns,
    ticks_from,
    trade_columns,
    ts_literal,
)

MIN_NS = 60_000_000_000
ALIGN_MIN = 15  # the coarsest bar interval: a tail from its boundary rebuilds whole 5/15-minute bars
# Per-trade signal rows have no bar to keep whole: their tail starts at a minute, so an update
# in the session's first quarter hour rewrites a minute or two of trades, not all of them.
SIGNALS_ALIGN_MIN = 1
# Ticks of different Kafka partitions land out of step by a few seconds; a tick this much
# older than the newest stored one is still in the next tail (an older one forces a full update).
LATE_MARGIN_NS = 60 * 1_000_000_000


@dataclass(frozen=True)
class Mark:
    """What the stored bars of an open day cover: rows before ``tail_from`` were computed
    from ``trades_before`` / ``quotes_before`` session ticks before it, over ``symbols``;
    the indicators are stale from ``dirty_from`` on (None: up to date)."""

    tail_from: int
    trades_before: int
    quotes_before: int
    symbols: list[str]
    dirty_from: int | None = None



def read_mark(conn: psycopg.Connection, day: dt.date, lock: bool = False, asset: str = "bars") -> Mark | None:
    query = sql.SQL("SELECT tail_from, trades_before, quotes_before, symbols, dirty_from FROM intraday_marks "
                    "WHERE day = %s AND asset = %s{}").format(sql.SQL(" FOR UPDATE" if lock else ""))
    row = conn.execute(query, (day, asset)).fetchone()
    return None if row is None else Mark(int(row[0]), int(row[1]), int(row[2]), list(row[3]),
                                         None if row[4] is None else int(row[4]))


def write_mark(conn: psycopg.Connection, day: dt.date, mark: Mark, asset: str = "bars") -> None:
    """Record ``mark``; the indicators' dirty minute only moves back (the earliest unwritten change)."""
    conn.execute(
        "INSERT INTO intraday_marks AS m (day, asset, tail_from, trades_before, quotes_before, symbols, dirty_from) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (day, asset) DO UPDATE SET "
        "tail_from = excluded.tail_from, trades_before = excluded.trades_before, "
        "quotes_before = excluded.quotes_before, symbols = excluded.symbols, updated_at = now(), "
        "dirty_from = least(m.dirty_from, excluded.dirty_from)",
        (day, asset, mark.tail_from, mark.trades_before, mark.quotes_before, mark.symbols, mark.dirty_from))


def forget_mark(dsn: str, day: dt.date) -> None:
    """A closed (or fully recomputed and closed) day needs no mark."""
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM intraday_marks WHERE day = %s", (day,))


def next_tail_from(newest_ns: int, open_ns: int, close_ns: int, align_min: int = ALIGN_MIN) -> int:
    """The ``align_min``-minute boundary at or before ``newest_ns - LATE_MARGIN_NS``, within the session."""
    t = min(max(newest_ns - LATE_MARGIN_NS, open_ns), close_ns)
    step = align_min * MIN_NS
    return open_ns + (t - open_ns) // step * step


def mark_of_full_day(ticks: DayTicks, align_min: int = ALIGN_MIN) -> Mark:
    """The mark of bars (or, with ``align_min=SIGNALS_ALIGN_MIN``, trade signals) just
    computed from the whole stored day ``ticks``."""
    t, q = ticks.trades["ts_ns"], ticks.quotes["ts_ns"]
    newest = max(int(t.max()) if t.size else ticks.open_ns, int(q.max()) if q.size else ticks.open_ns)
    tail_from = next_tail_from(newest, ticks.open_ns, ticks.close_ns, align_min)
    return Mark(tail_from, int((t < tail_from).sum()), int((q < tail_from).sum()), list(ticks.symbols),
                dirty_from=ticks.open_ns)


def is_open(day: dt.date, now_ns: int | None = None, live: bool = False) -> bool:
    """Whether ``day``'s session is open at ``now_ns`` (default: now); ``live``: it counts as
    open whatever the clock (a rehearsal of a past day, ``Settings.rehearsal_days``)."""
    return live or bool(open_days([day], now_ns))


def record_full_day(dsn: str, ticks: DayTicks, now_ns: int | None = None, live: bool = False) -> None:
    """After a full bars update of ``ticks.day`` was written: a mark while the session is
    open (the next update can take the tail path), none once it has closed."""
    with psycopg.connect(dsn) as conn:
        if is_open(ticks.day, now_ns, live):
            write_mark(conn, ticks.day, mark_of_full_day(ticks))
        else:
            conn.execute("DELETE FROM intraday_marks WHERE day = %s", (ticks.day,))


@dataclass
class Tail:
    """The stored day from ``ticks.open_ns`` (= the mark's ``tail_from``) on, with each
    symbol's quote prevailing then prepended, and what the next mark counts."""

    ticks: DayTicks
    seed: np.ndarray  # the 1-minute close before the tail, per symbol (NaN: none yet)
    counts_now: tuple[int, int]  # session trades / quotes before tail_from in this snapshot
    newest_ns: int


def load_tail(conn: psycopg.Connection, day: dt.date, mark: Mark, held: DayTicks | None = None) -> Tail | str:
    """The tail of ``day`` after ``mark``, or why it cannot be used (a string). Runs in the
    caller's (repeatable read) transaction.

    ``held``: the day as the caller read it in the snapshot its checks sum the store in
    (the live session's :func:`~tickflow.store.day_ticks.refresh_day_ticks` in a
    :func:`~tickflow.store.day_ticks.day_snapshot`). The tail is then taken from it, not read
    again, and its counts before the tail stand in for the store's, which would cost a scan
    of the day per update: a tick stored before the tail since an earlier read makes the
    caller's next refresh read the day whole, and the mark written here then fails this
    check, so that update is full."""
    open_ns, close_ns = sessions.session_bounds_ns(day)
    lo, hi, frm = ts_literal(open_ns), ts_literal(close_ns), mark.tail_from
    if held is not None:
        counts: tuple[int, int] | None = (int((held.trades["ts_ns"] < frm).sum()),
                                          int((held.quotes["ts_ns"] < frm).sum()))
    else:
        counts = conn.execute(sql.SQL(
            "SELECT (SELECT count(*) FROM trades WHERE ts >= {lo} AND ts < {hi} AND ts < {up} AND ts_ns < {frm}), "
            "(SELECT count(*) FROM quotes WHERE ts >= {lo} AND ts < {hi} AND ts < {up} AND ts_ns < {frm})").format(
            lo=lo, hi=hi, up=ts_literal(frm + 1000), frm=sql.Literal(frm))).fetchone()
    assert counts is not None
    if (int(counts[0]), int(counts[1])) != (mark.trades_before, mark.quotes_before):
        return (f"ticks before the tail changed (late data or a re-ingest): trades {mark.trades_before} -> "
                f"{counts[0]}, quotes {mark.quotes_before} -> {counts[1]}")
    symbols = mark.symbols
    if held is not None:
        if held.symbols != symbols:
            return f"symbols new to the day: {sorted(set(held.symbols) - set(symbols))[:5]}"
        ticks, has_quote_in_tail = ticks_from(held, frm)
        newest = max(frm, newest_ns(held))
    else:
        tail = _read_tail(conn, day, mark)
        if isinstance(tail, str):
            return tail
        ticks, has_quote_in_tail, newest = tail
    closes: dict[str, float | None] = dict(conn.execute("SELECT sym, close FROM bars WHERE day = %s AND interval_min = 1 AND ts = %s",
                               (day, dt.datetime.fromtimestamp((frm - MIN_NS) / 1e9, tz=dt.UTC))).fetchall())
    if set(closes) != set(symbols):
        return "the stored bars do not hold the minute before the tail"
    seed = np.array([closes[s] for s in symbols], dtype=np.float64)  # NULL -> NaN
    if np.any(np.isnan(seed) & has_quote_in_tail):
        return "a symbol's first quote is in the tail (the full day carries its mid back to the open)"
    return Tail(ticks, seed, (int(counts[0]), int(counts[1])), newest)


def _read_tail(conn: psycopg.Connection, day: dt.date, mark: Mark) -> tuple[DayTicks, np.ndarray, int] | str:
    """The stored ticks from the mark's ``tail_from`` on, each symbol's quote prevailing then
    first in its rows; per symbol whether it has a quote in the tail; the newest tick's time."""
    open_ns, close_ns = sessions.session_bounds_ns(day)
    lo, hi, frm = ts_literal(open_ns), ts_literal(close_ns), mark.tail_from
    # ``ts`` (microseconds) bounds the scan to the right partitions; ``ts_ns`` decides.
    pad = sql.SQL("ts >= {} AND ts_ns >= {}").format(ts_literal(frm - 1000), sql.Literal(frm))
    t_syms, t_starts, t_vals = _fetch_columns(conn, "trades", TRADE_COLUMNS, lo, hi, pad)
    q_syms, q_starts, q_vals = _fetch_columns(conn, "quotes", QUOTE_COLUMNS, lo, hi, pad)
    symbols = mark.symbols
    new = (set(t_syms) | set(q_syms)) - set(symbols)
    if new:
        return f"symbols new to the day: {sorted(new)[:5]}"
    prev = conn.execute(
        "SELECT s.sym, q.ts_ns, q.bid_price, q.bid_size, q.ask_price, q.ask_size FROM unnest(%s::text[]) s(sym) "
        "CROSS JOIN LATERAL (SELECT ts_ns, bid_price, bid_size, ask_price, ask_size FROM quotes "
        "WHERE sym = s.sym AND ts >= %s AND ts < %s AND ts_ns < %s ORDER BY ts DESC, ts_ns DESC, seq DESC LIMIT 1) q",
        (symbols, dt.datetime.fromtimestamp(open_ns / 1e9, tz=dt.UTC),
         dt.datetime.fromtimestamp((frm // 1000 + 1) / 1e6, tz=dt.UTC), frm)).fetchall()
    trades, quotes = trade_columns(t_vals), quote_columns(q_vals)
    q_starts = _align(q_syms, q_starts, symbols)
    has_quote_in_tail = q_starts[1:] > q_starts[:-1]
    newest = max([frm] + [int(v[0].max()) for v in (t_vals, q_vals) if v[0].size])
    if prev:  # the quote prevailing at tail_from goes first in its symbol's rows
        index = {s: i for i, s in enumerate(symbols)}
        at = np.array([q_starts[index[r[0]]] for r in prev], dtype=np.int64)
        names = ("ts_ns", "bid", "bid_size", "ask", "ask_size")
        for k, name in enumerate(names):
            quotes[name] = np.insert(quotes[name], at, np.array([r[k + 1] for r in prev], dtype=quotes[name].dtype))
        bump = np.zeros(len(symbols) + 1, dtype=np.int64)
        bump[[index[r[0]] + 1 for r in prev]] = 1
        q_starts = q_starts + np.cumsum(bump)
    ticks = DayTicks(day, symbols, frm, close_ns, trades, _align(t_syms, t_starts, symbols), quotes, q_starts)
    return ticks, has_quote_in_tail, newest


def replace_tail(conn: psycopg.Connection, table: derived.Table, day: dt.date, ts_from_ns: int,
                 symbols: list[str], frame: dict[str, np.ndarray]) -> int:
    """Replace ``day``'s rows of ``table`` with ``ts >= ts_from_ns`` by ``frame``, in the
    caller's transaction. The day's partition is not swapped: the tail is a bounded slice
    of a small table, where a swap would copy the whole day (the design's
    swap-not-delete rule is for whole days)."""
    derived.lock_tables(conn, [table])
    part = derived.partition_name(table, day)
    if derived._relkind(conn, table.name) == "p" and derived._relkind(conn, part) is None:
        conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(part), sql.Identifier(table.name), sql.Literal(day),
            sql.Literal(day + dt.timedelta(days=1))))
    conn.execute(sql.SQL("DELETE FROM {} WHERE day = %s AND ts >= %s").format(sql.Identifier(table.name)),
                 (day, dt.datetime.fromtimestamp(ts_from_ns / 1e9, tz=dt.UTC)))
    return derived._copy_frame(conn, table, table.name, day, symbols, frame)


def _tail_volume(conn: psycopg.Connection, day: dt.date, ts_from_ns: int) -> pd.Series:
    """Counted volume per symbol of the stored session trades from ``ts_from_ns`` on (the
    reconciliation's raw side for a tail)."""
    from tickflow.conditions import VOLUME, counted_sql

    lo, hi = (dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC) for x in sessions.session_bounds_ns(day))
    query = (f"SELECT sym, coalesce(sum(size) FILTER (WHERE {counted_sql(VOLUME)}), 0) FROM trades "  # noqa: S608
             "WHERE ts >= %s AND ts < %s AND ts >= %s AND ts_ns >= %s GROUP BY sym ORDER BY sym")
    rows = conn.execute(query, (lo, hi, dt.datetime.fromtimestamp((ts_from_ns - 1000) / 1e9, tz=dt.UTC),
                                ts_from_ns)).fetchall()
    return pd.Series([float(v) for _, v in rows], index=[s for s, _ in rows], dtype=np.float64)


def _tail_volume_in(dsn: str, snapshot: str, day: dt.date, ts_from_ns: int) -> pd.Series:
    """:func:`_tail_volume` as of ``snapshot``."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        begin_in_snapshot(conn, snapshot)
        return _tail_volume(conn, day, ts_from_ns)


def update_bars(dsn: str, day: dt.date, now_ns: int | None = None, live: bool = False,
                held: DayTicks | None = None, snapshot: str | None = None) -> DayReport | str:
    """The tail update of ``day``'s bars, or why it must be a full one (a string): the day
    is closed, has no mark, or its tail cannot reproduce the full day. ``held``: the day as
    read in ``snapshot`` (:func:`~tickflow.store.day_ticks.day_snapshot`, still open), whose
    tail is used as is (:func:`load_tail`); the volume reconciliation sums the store in that
    snapshot, so an ingest commit since the read cannot tell the two sides apart."""
    if (held is None) != (snapshot is None):
        raise ValueError("held ticks go with the snapshot they were read in")
    if not is_open(day, now_ns, live):
        return "the session has closed"
    report = DayReport(day, [])
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        mark = read_mark(conn, day, lock=True)
        if mark is None:
            return "no intraday mark for the day"
        open_ns, _ = sessions.session_bounds_ns(day)
        if mark.tail_from <= open_ns:
            return "the tail starts at the open"
        with _timed(report, "load"):
            tail = load_tail(conn, day, mark, held)
            if isinstance(tail, str):
                return tail
            raw_volume = (_tail_volume(conn, day, mark.tail_from) if snapshot is None
                          else _tail_volume_in(dsn, snapshot, day, mark.tail_from))
        ticks = tail.ticks
        report.symbols = ticks.symbols
        with _timed(report, "compute"):
            all_bars = bars_mod.compute_bars(ticks, seed=tail.seed)
        with _timed(report, "checks"):
            for interval, b in all_bars.items():
                name = f"bars_{interval}m"
                frame = bars_mod.bars_frame(b, ticks.symbols)
                report.frames[name] = frame
                report.rows[name] = int(b["ts"].shape[0])
                outcomes = bar_checks(frame, len(ticks.symbols), ticks.n_minutes // interval)
                outcomes.append(volume_reconciliation(frame.groupby("sym")["volume"].sum(), raw_volume))
                report.checks[name] = outcomes
                report.extra[name] = {"interval_min": interval, "update": "tail",
                                      "tail_from": pd.Timestamp(mark.tail_from, tz="UTC").isoformat(),
                                      "trades": int(ticks.trades["ts_ns"].size)}
        if report.blocked:
            return report
        with _timed(report, "write"):
            whole = {c: np.concatenate([b[c] for b in all_bars.values()]) for c in next(iter(all_bars.values()))}
            replace_tail(conn, derived.BARS, day, mark.tail_from, ticks.symbols, whole)
            nxt = next_tail_from(tail.newest_ns, open_ns, ticks.close_ns)
            t_ts = ticks.trades["ts_ns"]
            q_ts = ticks.quotes["ts_ns"]
            write_mark(conn, day, Mark(
                nxt, mark.trades_before + int(((t_ts >= mark.tail_from) & (t_ts < nxt)).sum()),
                mark.quotes_before + int(((q_ts >= mark.tail_from) & (q_ts < nxt)).sum()), mark.symbols,
                dirty_from=mark.tail_from))
    return report


def update_indicators(dsn: str, day: dt.date, now_ns: int | None = None, live: bool = False) -> DayReport | str:
    """Indicators of an open day rewritten from the minute the bars were last changed from
    (the mark's ``dirty_from``), computed on the stored closes; or why it must be a full one."""
    if not is_open(day, now_ns, live):
        return "the session has closed"
    report = DayReport(day, [])
    with psycopg.connect(dsn) as conn, conn.transaction():
        mark = read_mark(conn, day, lock=True)  # held to COMMIT: a bars update waits, so no change is missed
        if mark is None:
            return "no intraday mark for the day"
        if mark.dirty_from is None:
            report.symbols = mark.symbols
            report.rows["indicators"] = 0
            report.extra["indicators"] = {"update": "unchanged"}
            report.checks["indicators"] = []
            return report
        with _timed(report, "load"):
            rows = conn.execute("SELECT sym, ts, close FROM bars WHERE day = %s AND interval_min = 1 "
                                "ORDER BY sym, ts", (day,)).fetchall()
            b = pd.DataFrame(rows, columns=["sym", "ts", "close"])
            symbols = sorted(b["sym"].unique().tolist())
            warmup = bars_mod.previous_closes(conn, day, symbols) if symbols else None
        if symbols != mark.symbols:
            return "the stored bars' symbols differ from the mark's"
        report.symbols = symbols
        n_sym = len(symbols)
        with _timed(report, "compute"):
            close = b["close"].to_numpy(dtype=np.float64)
            ind = bars_mod.compute_indicators(close, n_sym, warmup)
            ts = _ns(b["ts"])
            keep = ts >= mark.dirty_from
            frame = {"sym": np.repeat(np.arange(n_sym), len(b) // n_sym)[keep], "ts": ts[keep], "close": close[keep],
                     **{k: v[keep] for k, v in ind.items()}}
        df = pd.DataFrame({k: v for k, v in frame.items() if k != "sym"})
        df.insert(0, "sym", b["sym"].to_numpy()[keep])
        report.frames["indicators"] = df
        report.rows["indicators"] = len(df)
        report.extra["indicators"] = {"update": "tail",
                                      "tail_from": pd.Timestamp(mark.dirty_from, tz="UTC").isoformat()}
        with _timed(report, "checks"):
            report.checks["indicators"] = signal_checks(df, [c for c in df.columns if c not in ("sym", "ts")], [])
        if report.blocked:
            return report
        with _timed(report, "write"):
            replace_tail(conn, derived.INDICATORS, day, mark.dirty_from, symbols, frame)
            conn.execute("UPDATE intraday_marks SET dirty_from = NULL WHERE day = %s AND asset = 'bars'", (day,))
    return report


def _full_because(report: DayReport, tables: tuple[str, ...], reason: str) -> DayReport:
    for name in tables:
        report.extra.setdefault(name, {}).update({"update": "full", "full_because": reason})
    return report


BAR_TABLES = ("bars_1m", "bars_5m", "bars_15m")


def bars_tail_or_full(dsn: str, day: dt.date, run_id: str | None = None, force_full: str | None = None,
                      now_ns: int | None = None, live: bool = False, ticks: DayTicks | None = None,
                      snapshot: str | None = None) -> DayReport:
    """``day``'s bars by the tail update when it applies, else by the full one (then a mark
    is recorded for an open day). ``force_full``: the reason to skip the tail (a backfill).
    ``ticks``: the day as the caller read it in ``snapshot`` (both or neither; see
    :func:`update_bars`), else the day is read if needed, in a snapshot its volume
    reconciliation sums the store in: while the day's feed is live, an ingest commit between
    the read and the sum would fail the check on rows the bars never saw."""
    from tickflow.derive.entry_points import run_bars

    reason = force_full or update_bars(dsn, day, now_ns, live, held=ticks, snapshot=snapshot)
    if isinstance(reason, DayReport):
        return reason
    if ticks is None:
        with day_snapshot(dsn) as snap:
            ticks = load_day_ticks(dsn, day, snap)
            report = run_bars(dsn, day, ticks=ticks, run_id=run_id, snapshot=snap)
    else:
        report = run_bars(dsn, day, ticks=ticks, run_id=run_id, snapshot=snapshot)
    if not report.blocked:
        record_full_day(dsn, ticks, now_ns, live)
    return _full_because(report, BAR_TABLES, reason)


def indicators_tail_or_full(dsn: str, day: dt.date, force_full: str | None = None,
                            now_ns: int | None = None, live: bool = False) -> DayReport:
    """``day``'s indicators from the bars' dirty minute when the day has a mark, else all of them."""
    from tickflow.derive.entry_points import run_indicators

    reason = force_full or update_indicators(dsn, day, now_ns, live)
    if isinstance(reason, DayReport):
        return reason
    return _full_because(run_indicators(dsn, day), ("indicators",), reason)


def signals_tail_or_full(dsn: str, day: dt.date, ticks: DayTicks, run_id: str | None = None,
                         force_full: str | None = None, now_ns: int | None = None, live: bool = False,
                         writes: DayWrites | None = None, prev_suite: dict[str, np.ndarray] | None = None,
                         ) -> DayReport:
    """``day``'s signal tables from its whole stored day so far (``ticks``); while the session
    is open and the day's ``signals`` mark still holds, only the trade signals from the
    mark's ``tail_from`` on are written (the per-trade rows are most of the day's bytes; the
    measure tables are small and swapped whole: ``bar_measures`` has whole-day columns that
    move for every bar as the day fills, :data:`~tickflow.derive.provisional.WHOLE_DAY_COLUMNS`).
    Causal columns of the earlier trades cannot have changed; their whole-day columns (ACD, jump, signal) keep the value of the update that
    wrote them, provisional until the full recompute after the close. ``writes`` (a range
    run's :class:`~tickflow.derive.entry_points.DayWrites`) lets a closed day's write overlap the
    next day's work; an open day is written before return (its mark follows the write).

    ``prev_suite``: the trade-signal columns an earlier update of this open day left
    (``report.suite``, which an open day's report keeps): with it the tail's trades are
    computed from a look-back slice, not the whole day
    (:func:`~tickflow.derive.signals.trade_suite`)."""
    from tickflow.derive.entry_points import run_signals

    reason = force_full or ("" if is_open(day, now_ns, live) else "the session has closed")
    mark = None
    if not reason:
        with psycopg.connect(dsn) as conn:
            mark = read_mark(conn, day, asset="signals")
        t, q = ticks.trades["ts_ns"], ticks.quotes["ts_ns"]
        if mark is None:
            reason = "no intraday mark for the day"
        elif mark.tail_from <= ticks.open_ns:
            reason = "the tail starts at the open"
        elif mark.symbols != ticks.symbols:
            reason = "the day's symbols changed"
        elif (int((t < mark.tail_from).sum()), int((q < mark.tail_from).sum())) != (mark.trades_before,
                                                                                   mark.quotes_before):
            reason = "ticks before the tail changed (late data or a re-ingest)"
    if reason:
        is_live = is_open(day, now_ns, live)
        report = run_signals(dsn, day, ticks=ticks, run_id=run_id, writes=None if is_live else writes,
                             keep_suite=is_live)
        if not report.blocked:
            with psycopg.connect(dsn) as conn:
                if is_live:
                    write_mark(conn, day, mark_of_full_day(ticks, SIGNALS_ALIGN_MIN), asset="signals")
                else:
                    conn.execute("DELETE FROM intraday_marks WHERE day = %s AND asset = 'signals'", (day,))
        report.extra.setdefault("trade_signals", {}).update({"update": "full", "full_because": reason})
        return report
    assert mark is not None
    if prev_suite is not None and not suite_fits(prev_suite, ticks, mark.tail_from):
        prev_suite = None
    nxt = mark_of_full_day(ticks, SIGNALS_ALIGN_MIN)
    written: list[int] = []

    def write_tail(conn: psycopg.Connection, frame: dict[str, np.ndarray]) -> None:
        written.append(replace_tail(conn, derived.TRADE_SIGNALS, day, mark.tail_from, ticks.symbols, frame))
        write_mark(conn, day, nxt, asset="signals")

    report = run_signals(dsn, day, ticks=ticks, run_id=run_id, trade_tail=(mark.tail_from, write_tail),
                         prev_suite=prev_suite, keep_suite=True)
    report.extra.setdefault("trade_signals", {}).update({
        "update": "tail", "tail_from": pd.Timestamp(mark.tail_from, tz="UTC").isoformat(),
        "rows_written": written[0] if written else 0, "computed_from_tail": prev_suite is not None})
    return report
