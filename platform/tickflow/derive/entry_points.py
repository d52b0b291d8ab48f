"""One trading day of each derived table: load from the store, compute, check, replace the day.

These are the functions the Dagster assets call (one per asset or asset group). Each
returns a :class:`DayReport` with the outcomes of the day's quality checks, the frames
they ran on and the metadata the asset reports (rows, symbols, time range, timings).

The checks run on the computed rows **before** the day is replaced: a day that fails an
(ERROR-severity) check is not written, the store keeps its previous rows and
``report.blocked`` names the failed checks, so nothing downstream is built on it.

Given a ``run_id``, a day's ticks are read from the store once per run
(:func:`day_ticks`): bars and signals of the same day in the same run share them, in
memory within a process and through a per-run file cache across the processes of one run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from tickflow import sessions
from tickflow.derive import bars as bars_mod
from tickflow.derive.signals import SignalParams, compute_signals
from tickflow.quality.expectations import CheckOutcome, bar_checks, signal_checks, volume_reconciliation
from tickflow.store import derived
from tickflow.store.day_ticks import DayTicks, begin_in_snapshot, load_day_ticks


@dataclass
class DayReport:
    day: dt.date
    symbols: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    checks: dict[str, list[CheckOutcome]] = field(default_factory=dict)
    # the day's trade-signal columns, kept by an intraday update for the next one (else None)
    suite: dict[str, np.ndarray] | None = None

    @property
    def blocked(self) -> list[str]:
        """``table.check`` of every failed check; non-empty means the day was not written."""
        return [f"{t}.{o.name}" for t, outs in self.checks.items() for o in outs if not o.passed]

    def metadata(self, table: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"day": self.day.isoformat(), "rows": self.rows.get(table, 0),
                                "symbols": len(self.symbols), "written": not self.blocked}
        meta.update({f"seconds_{k}": round(v, 4) for k, v in self.seconds.items()})
        meta.update(self.extra.get(table, {}))
        return meta


@contextmanager
def _timed(report: DayReport, name: str) -> Iterator[None]:
    t = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[name] = report.seconds.get(name, 0.0) + time.perf_counter() - t


def _time_range(ticks: DayTicks) -> dict[str, str]:
    ts = ticks.trades["ts_ns"]
    if ts.size == 0:
        return {}
    iso = [pd.Timestamp(int(x), tz="UTC").isoformat() for x in (ts.min(), ts.max())]
    return {"first_trade": iso[0], "last_trade": iso[1]}


_MEMO: dict[str, DayTicks] = {}  # this process's day of ticks, by cache key (one entry)
_CACHE_ROOT = Path(tempfile.gettempdir()) / "tickflow-day-ticks"
_CACHE_MAX_AGE_S = 6 * 3600
_CACHE_MAX_ENTRIES = 6


def _ledger_state(dsn: str) -> str:
    """What the offset ledger holds: every ingest commit changes it."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('offset_ledger')").fetchone()[0] is None:  # type: ignore[index]
            return ""
        row = conn.execute("SELECT count(*), coalesce(sum(end_offset), 0), coalesce(max(committed_at)::text, '') "
                           "FROM offset_ledger").fetchone()
    return repr(row)


def _cache_key(dsn: str, day: dt.date, run_id: str) -> str:
    return hashlib.sha1(f"{dsn}|{day.isoformat()}|{_ledger_state(dsn)}|{run_id}".encode()).hexdigest()


def day_ticks(dsn: str, day: dt.date, run_id: str | None = None) -> DayTicks:
    """``day``'s session ticks; with ``run_id``, read from the store once per run.

    The cache key is the database, the day, the offset ledger's state and the run: a day
    changed by an ingest commit since (late ticks) is read again, and nothing outlives the
    run that wrote it (entries of earlier runs are deleted after a few hours)."""
    if run_id is None:
        return load_day_ticks(dsn, day)
    key = _cache_key(dsn, day, run_id)
    if key in _MEMO:
        return _MEMO[key]
    path = _CACHE_ROOT / key
    ticks = _read_cached(path, day) if path.is_dir() else None
    if ticks is None:
        ticks = load_day_ticks(dsn, day)
        _write_cached(path, ticks)
    _MEMO.clear()
    _MEMO[key] = ticks
    return ticks


def forget_cached_ticks(dsn: str | None = None, day: dt.date | None = None, run_id: str | None = None) -> None:
    """Drop this process's in-memory day of ticks; given the day and run, also its file
    cache entry (its last reader, the signals, is done with it)."""
    _MEMO.clear()
    if dsn is not None and day is not None and run_id is not None:
        for entry in _CACHE_ROOT.glob("*"):
            if entry.name == _cache_key(dsn, day, run_id):
                shutil.rmtree(entry, ignore_errors=True)


def days_with_ticks(dsn: str, days: list[dt.date], run_id: str | None = None) -> Iterator[tuple[dt.date, DayTicks]]:
    """``(day, ticks)`` of each of ``days`` in order, the next day's ticks read in a thread
    while the caller works on the current one (a range backfill keeps both cores busy: the
    server and the decoder on one day, the kernels and the writer on the other)."""
    pending = _in_thread(day_ticks, dsn, days[0], run_id) if days else None
    for i, day in enumerate(days):
        assert pending is not None
        ticks = pending()
        pending = _in_thread(day_ticks, dsn, days[i + 1], run_id) if i + 1 < len(days) else None
        yield day, ticks


def _write_cached(path: Path, ticks: DayTicks) -> None:
    try:
        _CACHE_ROOT.mkdir(mode=0o700, exist_ok=True)
        now = time.time()
        entries = sorted(_CACHE_ROOT.iterdir(), key=lambda e: e.stat().st_mtime, reverse=True)
        for k, old in enumerate(entries):
            # a day is ~0.25 GB at 100 symbols: keep the newest few; a miss only costs a reload
            if k >= _CACHE_MAX_ENTRIES - 1 or now - old.stat().st_mtime > _CACHE_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=_CACHE_ROOT, prefix=".tmp-"))
        for kind, cols in (("trades", ticks.trades), ("quotes", ticks.quotes)):
            for name, arr in cols.items():
                np.save(tmp / f"{kind}.{name}.npy", arr)
        np.save(tmp / "trades.starts.npy", ticks.trade_starts)
        np.save(tmp / "quotes.starts.npy", ticks.quote_starts)
        (tmp / "symbols.txt").write_text("\n".join(ticks.symbols))
        tmp.rename(path)  # atomic: a reader sees a whole entry or none
    except OSError:
        shutil.rmtree(path, ignore_errors=True)  # a full disk only costs the next step a reload


def _read_cached(path: Path, day: dt.date) -> DayTicks | None:
    try:
        text = (path / "symbols.txt").read_text()
        symbols = text.split("\n") if text else []
        cols: dict[str, dict[str, np.ndarray]] = {"trades": {}, "quotes": {}}
        for f in path.glob("*.npy"):
            kind, name, _ = f.name.split(".")
            cols[kind][name] = np.load(f)
    except (OSError, ValueError):
        return None
    starts = {k: cols[k].pop("starts") for k in cols}
    o, c = sessions.session_bounds_ns(day)
    return DayTicks(day, symbols, o, c, cols["trades"], starts["trades"], cols["quotes"], starts["quotes"])


def _in_thread(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in a thread (the driver releases the GIL while the server works);
    returns a callable that joins it and returns the result or raises its error."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    th = threading.Thread(target=target)
    th.start()

    def join() -> Any:
        th.join()
        if "error" in box:
            raise box["error"]
        return box["value"]
    return join


class DayWrites:
    """The day writes of one range run, one transaction at a time and in day order, each
    overlapping the next day's work: the server fills and indexes day *n* on one core while
    the kernels and checks of day *n+1* run on the other. Two days' transactions never run
    at once (both would hold the parent tables' locks that each one's swap waits for).
    :meth:`drain` waits for them all and raises the first error."""

    def __init__(self) -> None:
        self._joins: list[Any] = []

    def after_previous(self, written: Any) -> Any:
        """Register a day's write join; returns the previous day's (``None`` for the first)."""
        previous = self._joins[-1] if self._joins else None
        self._joins.append(written)
        return previous

    def drain(self) -> None:
        error: BaseException | None = None
        for join in self._joins:
            try:
                join()
            except BaseException as e:  # noqa: BLE001 - the first one is raised below
                error = error or e
        self._joins.clear()
        if error is not None:
            raise error


def _write_when_checked(report: DayReport, dsn: str, items: list[derived.DayRows],
                        also: Callable[[psycopg.Connection], None] | None = None,
                        writes: DayWrites | None = None) -> tuple[Any, threading.Event]:
    """Stage ``items`` in a thread while the caller runs the day's checks; the swap waits
    for the returned event and happens only if ``report`` is not blocked by then. The join
    returns whether the day was written (the server fills and indexes the new partitions on
    one core while the checks run on the other). With ``writes``, the transaction starts
    when the run's previous day write has ended."""
    checked = threading.Event()
    previous: list[Any] = [None]
    waited = [0.0]

    def verdict() -> bool:
        t = time.perf_counter()
        checked.wait()
        waited[0] += time.perf_counter() - t  # the checks' time, not the write's
        return not report.blocked

    def work() -> bool:
        t = time.perf_counter()
        try:
            if previous[0] is not None:
                try:
                    previous[0]()
                except BaseException:  # noqa: BLE001 - the previous day reports its own error
                    pass
                waited[0] += time.perf_counter() - t
            with psycopg.connect(dsn) as conn, conn.transaction():
                derived.replace_days(conn, items, before_swap=verdict)
                if also is not None:  # e.g. an intraday tail, in the same transaction
                    also(conn)
            return True
        except derived.SwapRefused:
            return False
        finally:
            report.seconds["write"] = report.seconds.get("write", 0.0) + time.perf_counter() - t - waited[0]

    if writes is None:
        return _in_thread(work), checked
    gate = threading.Event()  # the thread must not start before it knows its predecessor

    def gated() -> bool:
        gate.wait()
        return work()

    written = _in_thread(gated)
    previous[0] = writes.after_previous(written)
    gate.set()
    return written, checked


def _stored_volume(dsn: str, day: dt.date, snapshot: str | None = None) -> pd.Series:
    with psycopg.connect(dsn) as conn, conn.transaction():
        if snapshot is not None:
            begin_in_snapshot(conn, snapshot)
        return bars_mod.stored_session_volume(conn, day)


def run_bars(dsn: str, day: dt.date, ticks: DayTicks | None = None, run_id: str | None = None,
             snapshot: str | None = None) -> DayReport:
    """Bars at 1, 5 and 15 minutes for ``day``, checked, then written as one day partition;
    frames ``bars_<n>m`` and ``raw_volume`` (the stored day's volume, summed in SQL, as of
    ``snapshot`` when ``ticks`` were read in one: :func:`~tickflow.store.day_ticks.day_snapshot`)."""
    report = DayReport(day, [])
    raw_volume = _in_thread(_stored_volume, dsn, day, snapshot)  # concurrent with the load
    with _timed(report, "load"):
        ticks = ticks or day_ticks(dsn, day, run_id)
    report.symbols = ticks.symbols
    with _timed(report, "compute"):
        all_bars = bars_mod.compute_bars(ticks)
    for interval, bars in all_bars.items():
        name = f"bars_{interval}m"
        report.frames[name] = bars_mod.bars_frame(bars, ticks.symbols)
        report.rows[name] = int(bars["ts"].shape[0])
        report.extra[name] = {"interval_min": interval, "bars_per_symbol": ticks.n_minutes // interval,
                              "trades": int(ticks.trades["ts_ns"].size), **_time_range(ticks)}
    # All three intervals are one day partition of ``bars``: one swap.
    whole = {c: np.concatenate([b[c] for b in all_bars.values()]) for c in next(iter(all_bars.values()))}
    written, checked = _write_when_checked(report, dsn, [derived.DayRows(derived.BARS, day, ticks.symbols, whole)])
    try:
        with _timed(report, "checks"):
            report.frames["raw_volume"] = raw_volume().to_frame("volume")
            for interval in all_bars:
                name = f"bars_{interval}m"
                frame = report.frames[name]
                outcomes = bar_checks(frame, len(report.symbols), report.extra[name]["bars_per_symbol"])
                outcomes.append(volume_reconciliation(frame.groupby("sym")["volume"].sum(),
                                                      report.frames["raw_volume"]["volume"]))
                report.checks[name] = outcomes
    except BaseException:
        report.checks["run_bars"] = [CheckOutcome("completed", False, "the checks raised")]
        raise
    finally:
        checked.set()
        written()
    return report


def _ns(ts: pd.Series) -> np.ndarray:
    """UTC timestamps (datetimes from the driver) as int64 ns since the epoch."""
    return pd.DatetimeIndex(pd.to_datetime(ts, utc=True)).as_unit("ns").asi8


def _day_bars(conn: psycopg.Connection, day: dt.date, interval: int) -> pd.DataFrame:
    cur = conn.execute("SELECT sym, ts, close, volume FROM bars WHERE day = %s AND interval_min = %s "
                       "ORDER BY sym, ts", (day, interval))
    return pd.DataFrame(cur.fetchall(), columns=["sym", "ts", "close", "volume"])


def run_indicators(dsn: str, day: dt.date) -> DayReport:
    """Indicators on the stored 1-minute bars of ``day``, warmed up by earlier days."""
    report = DayReport(day, [])
    with _timed(report, "load"), psycopg.connect(dsn) as conn:
        b = _day_bars(conn, day, 1)
        symbols = sorted(b["sym"].unique().tolist())
        warmup = bars_mod.previous_closes(conn, day, symbols) if symbols else None
    report.symbols = symbols
    n_sym = len(symbols)
    with _timed(report, "compute"):
        close = b["close"].to_numpy(dtype=np.float64)
        ind = bars_mod.compute_indicators(close, n_sym, warmup) if n_sym else {}
        frame = {"sym": np.repeat(np.arange(n_sym), len(b) // max(n_sym, 1)),
                 "ts": _ns(b["ts"]),
                 "close": close, **ind}
    df = pd.DataFrame({k: v for k, v in frame.items() if k != "sym"})
    df.insert(0, "sym", b["sym"].to_numpy())
    report.frames["indicators"] = df
    warm = int(np.isfinite(warmup[:, -1]).sum()) if warmup is not None and warmup.size else 0
    report.extra["indicators"] = {"warmed_up_symbols": warm}
    report.rows["indicators"] = len(df)
    with _timed(report, "checks"):
        report.checks["indicators"] = signal_checks(df, [c for c in df.columns if c not in ("sym", "ts")], [])
    if report.blocked:
        return report
    with _timed(report, "write"), psycopg.connect(dsn) as conn, conn.transaction():
        derived.replace_day(conn, derived.INDICATORS, day, symbols, frame)
    return report


def merge_metadata(metas: list[dict[str, Any]]) -> dict[str, Any]:
    """One asset's metadata over the days of a run (every asset, derived and ML alike).

    One day: that day's own. A range: the day count and the first and last day, rows summed,
    the most symbols of a day, the days not written, timings summed, and the last day's own
    values as one JSON object, ``last_day_values`` (a model version or its metrics hold for
    one day, not the range; NaN there becomes null, which JSON can hold). None values are
    left out (Dagster metadata has no null)."""
    if len(metas) <= 1:
        return {k: v for k, v in (metas[0] if metas else {}).items() if v is not None}
    out: dict[str, Any] = {"partitions": len(metas), "first_day": metas[0]["day"], "last_day": metas[-1]["day"],
                           "rows": sum(int(m.get("rows", 0)) for m in metas),
                           "symbols": max(int(m.get("symbols", 0)) for m in metas),
                           "last_day_values": {k: None if isinstance(v, float) and not np.isfinite(v) else v
                                               for k, v in metas[-1].items()}}
    not_written = [m["day"] for m in metas if m.get("written") is False]
    if not_written:
        out["not_written"] = not_written
    for k in {k for m in metas for k in m if k.startswith("seconds_")}:
        out[k] = round(sum(float(m.get(k, 0.0)) for m in metas), 4)
    return out


ANOMALY_KINDS = derived.VOCABULARIES[("anomalies", "kind")]


def run_anomalies(dsn: str, day: dt.date, spike: float = 0.05, volume_mult: float = 3.0,
                  volume_window: int = 20) -> DayReport:
    """Bars whose return exceeds ``spike``, whose volume exceeds ``volume_mult`` times the
    trailing ``volume_window``-bar average, or whose RSI is above 70 / below 30."""
    from tickflow.kernels.anomalies import bar_anomalies

    report = DayReport(day, [])
    with _timed(report, "load"), psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT b.sym, b.ts, b.close, b.volume, i.rsi_14 FROM bars b JOIN indicators i "
            "ON i.day = b.day AND i.sym = b.sym AND i.ts = b.ts WHERE b.day = %s AND b.interval_min = 1 "
            "ORDER BY b.sym, b.ts", (day,)).fetchall()
    b = pd.DataFrame(rows, columns=["sym", "ts", "close", "volume", "rsi"])
    symbols = sorted(b["sym"].unique().tolist())
    report.symbols = symbols
    n_sym = len(symbols)
    with _timed(report, "compute"):
        per = len(b) // max(n_sym, 1)
        res = bar_anomalies(b["close"].to_numpy(np.float64), b["volume"].to_numpy(np.float64),
                            b["rsi"].to_numpy(np.float64), per, spike=spike, volume_mult=volume_mult,
                            volume_window=volume_window) if n_sym else {}
        sym_codes = np.repeat(np.arange(n_sym), per)
        ts = _ns(b["ts"])
        value = {"price_spike": res.get("ret"), "volume_surge": res.get("volume_ratio"),
                 "rsi_overbought": b["rsi"].to_numpy(), "rsi_oversold": b["rsi"].to_numpy()}
        threshold = {"price_spike": spike, "volume_surge": volume_mult, "rsi_overbought": 70.0, "rsi_oversold": 30.0}
        parts = []
        for k, kind in enumerate(ANOMALY_KINDS):
            if not n_sym:
                break
            hit = np.flatnonzero(res[kind])
            parts.append({"sym": sym_codes[hit], "ts": ts[hit], "kind": np.full(hit.size, k, np.int64),
                          "value": np.asarray(value[kind], dtype=np.float64)[hit],
                          "threshold": np.full(hit.size, threshold[kind])})
        frame = ({c: np.concatenate([p[c] for p in parts]) for c in parts[0]} if parts else
                 {c: np.zeros(0) for c in ("sym", "ts", "kind", "value", "threshold")})
    with _timed(report, "write"), psycopg.connect(dsn) as conn, conn.transaction():
        report.rows["anomalies"] = derived.replace_day(conn, derived.ANOMALIES, day, symbols, frame)
    counts = {kind: int(np.count_nonzero(frame["kind"] == k)) for k, kind in enumerate(ANOMALY_KINDS)}
    report.extra["anomalies"] = {f"count_{k}": v for k, v in counts.items()}
    report.frames["anomalies"] = pd.DataFrame({
        "sym": np.asarray(symbols, dtype=object)[frame["sym"].astype(np.int64)] if n_sym else [],
        "ts": pd.to_datetime(frame["ts"].astype(np.int64), utc=True),
        "kind": np.asarray(ANOMALY_KINDS, dtype=object)[frame["kind"].astype(np.int64)],
        "value": frame["value"], "threshold": frame["threshold"]})
    return report


SIGNAL_TABLES = ("trade_signals", "bar_measures", "daily_measures", "jump_events")


def run_signals(dsn: str, day: dt.date, params: SignalParams | None = None,
                ticks: DayTicks | None = None, run_id: str | None = None,
                trade_tail: tuple[int, Callable[..., None]] | None = None,
                writes: DayWrites | None = None, prev_suite: dict[str, np.ndarray] | None = None,
                keep_suite: bool = False) -> DayReport:
    """Trade signals, bar and daily measures and jump events of ``day``, checked, then
    written together (the four day partitions swapped in one transaction).

    ``trade_tail = (ts_from_ns, write)``: only the trade signals from ``ts_from_ns`` on are
    written, by ``write(conn, frame)`` in the same transaction (the intraday path,
    :mod:`tickflow.derive.intraday`). With ``writes`` (a range run), the write may still be
    running on return: the report's checks are final, ``writes.drain()`` waits for it (and
    its ``seconds["write"]``).

    ``prev_suite`` (with ``trade_tail``): the day's trade signals as an earlier update left
    them; the trades before the tail keep their causal columns and only the tail is computed
    (:func:`~tickflow.derive.signals.trade_suite`). ``keep_suite``: the report keeps this
    update's trade-signal columns (``report.suite``) for the next one."""
    report = DayReport(day, [])
    with _timed(report, "load"):
        ticks = ticks or day_ticks(dsn, day, run_id)
        with psycopg.connect(dsn) as conn:
            b = _day_bars(conn, day, 1)
    report.symbols = ticks.symbols
    n_sym = ticks.n_symbols
    if sorted(b["sym"].unique().tolist()) != ticks.symbols or len(b) != n_sym * ticks.n_minutes:
        raise RuntimeError(f"1-minute bars of {day} do not match its ticks: materialize bars_1m first")
    with _timed(report, "compute"):
        prev = None if prev_suite is None or trade_tail is None else (prev_suite, trade_tail[0])
        out = compute_signals(ticks, b["close"].to_numpy(np.float64), b["volume"].to_numpy(np.float64), params,
                              prev)
    if keep_suite:
        report.suite = out["trade_signals"]
    for name in SIGNAL_TABLES:
        report.rows[name] = int(out[name]["sym"].shape[0])
    also = None
    checked_rows = out
    if trade_tail is not None:
        ts_from, write_tail = trade_tail
        keep = out["trade_signals"]["ts"] >= ts_from
        tail_frame = {k: v[keep] for k, v in out["trade_signals"].items()}
        # only the tail is written, so only the tail is checked (the rest passed when written)
        checked_rows = {**out, "trade_signals": tail_frame}

        def also(conn: psycopg.Connection) -> None:
            write_tail(conn, tail_frame)
    written, checked = _write_when_checked(report, dsn, [
        derived.DayRows(derived.TABLES[name], day, ticks.symbols, out[name]) for name in SIGNAL_TABLES
        if not (trade_tail is not None and name == "trade_signals")], also, writes)
    try:
        with _timed(report, "checks"):
            for name in FINITE_COLUMNS:
                cols = FINITE_COLUMNS[name] + P_VALUE_COLUMNS.get(name, [])
                # only the checked columns: a frame of the whole table would copy every column
                report.checks[name] = signal_checks(pd.DataFrame({c: checked_rows[name][c] for c in cols},
                                                                 copy=False),
                                                    FINITE_COLUMNS[name], P_VALUE_COLUMNS.get(name, []))
    except BaseException:
        report.checks["run_signals"] = [CheckOutcome("completed", False, "the checks raised")]
        raise
    finally:
        checked.set()
        if writes is None:
            written()
    if report.blocked:
        return report
    d, ev, sig = out["daily_measures"], out["jump_events"], out["trade_signals"]["signal"]
    report.extra["daily_measures"] = {
        "mean_rv": float(np.nanmean(d["rv"])) if d["rv"].size and np.isfinite(d["rv"]).any() else 0.0,
        "bns_days_flagged_1pct": int((d["bns_p"] < 0.01).sum()),
        "garch_converged": int(d["garch_converged"].sum()), "acd_converged": int(d["acd_converged"].sum())}
    report.extra["jump_events"] = {"lee_mykland": int((ev["test"] == 0).sum()), "bns": int((ev["test"] == 1).sum())}
    report.extra["trade_signals"] = {f"signal_{k}": int((sig == v).sum()) for k, v in (("buy", 1), ("sell", -1),
                                                                                       ("hold", 0))}
    for name in SIGNAL_TABLES:
        report.extra.setdefault(name, {}).update(_time_range(ticks))
    return report


# Columns whose defined values must be finite, and p-values, per checked signal table.
FINITE_COLUMNS = {
    "trade_signals": ["log_return", "std_return", "lm_stat", "bns_z", "intensity_z", "acd_duration", "acd_surprise"],
    "bar_measures": ["rv", "bv", "bns_rj", "bns_z", "garch_sigma", "ofi", "bvc_buy_share", "vpin", "roll_spread",
                     "kyle_lambda", "amihud", "effective_spread", "realized_spread"],
    "daily_measures": ["rv", "bv", "tq", "bns_z", "lm_critical", "garch_omega", "garch_alpha", "garch_beta",
                       "garch_loglik", "acd_omega", "acd_alpha", "acd_beta", "acd_loglik", "vpin", "roll_spread",
                       "kyle_lambda", "amihud", "effective_spread", "realized_spread"],
}
P_VALUE_COLUMNS = {"bar_measures": ["bns_p"], "daily_measures": ["bns_p"]}


def check_bars(report: DayReport, name: str) -> list[CheckOutcome]:
    """The quality suite of one bar table of a ``run_bars`` report (run before the write),
    the volume reconciliation with the stored day included."""
    return report.checks[name]


def check_indicators(report: DayReport) -> list[CheckOutcome]:
    return report.checks["indicators"]


def check_signals(report: DayReport, name: str) -> list[CheckOutcome]:
    """The quality suite of one signal table of a ``run_signals`` report (run before the write)."""
    return report.checks[name]
