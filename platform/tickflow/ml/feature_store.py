"""The ``features`` and ``predictions`` tables, and one day's feature inputs from the store.

Both tables follow :mod:`tickflow.store.derived`: keyed by (day, interval_min, sym, ts) and
replaced a whole day (and bar interval) at a time. ``features`` holds one horizon at a time
(the ``horizon`` column says which); recomputing with another horizon replaces the day.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg

from tickflow import sessions
from tickflow.ml.features import (
    FEATURE_NAMES,
    MEASURES,
    PREVIOUS_DAY,
    FeatureParams,
    compute_features,
    trade_bins,
)
from tickflow.store import derived

FEATURES = derived.Table(
    "features",
    derived.DAY_SYM + (("interval_min", "int2"), ("ts", "timestamptz"), ("horizon", "int2"))
    + tuple((n, "float8") for n in (*FEATURE_NAMES, "target", "baseline_last")),
    ("day", "interval_min", "sym", "ts"))

PREDICTIONS = derived.Table(
    "predictions",
    derived.DAY_SYM + (("interval_min", "int2"), ("ts", "timestamptz"), ("horizon", "int2"), ("model_version", "int4"),
                ("predicted_return", "float8"), ("direction", "int2"), ("confidence", "float8")),
    ("day", "interval_min", "sym", "ts"))

ML_TABLES = (FEATURES, PREDICTIONS)

_NS_SQL = "(extract(epoch FROM {}) * 1000000000)::int8"


# The same rows as ``features``, one block per (day, interval, symbol) in ``feature_blocks``:
# the bar times and the row-major float64 matrix of ``names`` as raw little-endian bytes.
# Training reads whole windows of days; from here that is one memcpy per block on the server
# and one np.frombuffer per block here, where the row table would cost a conversion per value
# (bench/train.py). Written in the same transaction as ``features``, so the two agree.
_BLOCK_VALUES = (*FEATURE_NAMES, "target", "baseline_last")


def _frame(conn: psycopg.Connection, query: str, params: tuple, columns: list[str]) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame(conn.execute(query, params).fetchall(), columns=columns)


def load_inputs(conn: psycopg.Connection, day: dt.date, interval_min: int,
                with_trade_bins: bool = True) -> dict[str, pd.DataFrame]:
    """The stored bars, indicators, per-bar trade-signal aggregates (unless the caller has
    them: ``with_trade_bins=False``) and measure bars of ``day``."""
    # The reads hold their tables' locks to the transaction's end. A day writer swaps its
    # partitions in under each parent's ACCESS EXCLUSIVE lock, in table-name order
    # (store/derived.py); reading in another order could leave this transaction and a
    # writer each waiting for the other, so the parents are locked first, in that order.
    if not conn.autocommit:
        conn.execute("LOCK TABLE ONLY bar_measures, bars, daily_measures, indicators, trade_signals "
                     "IN ACCESS SHARE MODE")
    ts = _NS_SQL.format("ts")
    open_ns, close_ns = sessions.session_bounds_ns(day)
    open_ts = pd.Timestamp(open_ns, tz="UTC").to_pydatetime()
    close_ts = pd.Timestamp(close_ns, tz="UTC").to_pydatetime()
    bars = _frame(conn, f"SELECT sym, {ts}, close, volume, twap_spread, close_mid FROM bars "  # noqa: S608
                  "WHERE day = %s AND interval_min = %s ORDER BY sym, ts", (day, interval_min),
                  ["sym", "ts", "close", "volume", "twap_spread", "close_mid"])
    ind = _frame(conn, f"SELECT sym, {ts}, close, rsi_14, macd_hist, bb_upper, bb_lower FROM indicators "  # noqa: S608
                 "WHERE day = %s", (day,), ["sym", "ts", "close", "rsi_14", "macd_hist", "bb_upper", "bb_lower"])
    # Aggregated in the database: a day of trade_signals has a row per trade.
    bin_ts = _NS_SQL.format("date_bin(make_interval(mins => %s), ts, %s::timestamptz)")
    trade_bins = pd.DataFrame() if not with_trade_bins else _frame(
        conn,
        f"SELECT sym, {bin_ts} AS bin, max(abs(lm_stat)), sum(lr_sign * size), sum(tick_sign * size), "  # noqa: S608
        "sum(size), (array_agg(intensity_z ORDER BY trade_no DESC))[1] "
        "FROM trade_signals WHERE day = %s AND ts >= %s AND ts < %s GROUP BY 1, 2",
        (interval_min, open_ts, day, open_ts, close_ts),
        ["sym", "ts", "lm_max_abs", "lr_volume", "tick_volume", "volume", "intensity_z_last"])
    measures = _frame(conn, f"SELECT sym, {ts}, interval_min, {', '.join(MEASURES)} FROM bar_measures "  # noqa: S608
                      "WHERE day = %s", (day,), ["sym", "ts", "interval_min", *MEASURES])
    # the last earlier day with daily measures (normally the previous session)
    previous = _frame(conn, f"SELECT sym, {', '.join(PREVIOUS_DAY)} FROM daily_measures "  # noqa: S608
                      "WHERE day = (SELECT max(day) FROM daily_measures WHERE day < %s AND day >= %s)",
                      (day, day - dt.timedelta(days=10)), ["sym", *PREVIOUS_DAY])
    for df in (bars, ind, trade_bins, measures, previous):
        for c in df.columns:
            if c not in ("sym", "ts", "interval_min"):
                df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
    return {"bars": bars, "indicators": ind, "trade_bins": trade_bins, "measures": measures, "previous_day": previous}


def features_for_day(conn: psycopg.Connection, day: dt.date, params: FeatureParams,
                     signals: tuple[list[str], dict[str, np.ndarray]] | None = None) -> pd.DataFrame:
    """Compute ``day``'s features from the stored inputs (empty frame when it has no bars).
    ``signals``: the day's symbols and stored trade-signal columns, when the caller holds them
    (the live session): their per-bar aggregates are then made here, not read."""
    inputs = load_inputs(conn, day, params.interval_min, with_trade_bins=signals is None)
    if inputs["bars"].empty:
        return pd.DataFrame(columns=["sym", "ts", *FEATURE_NAMES, "target", "baseline_last"])
    open_ns, close_ns = sessions.session_bounds_ns(day)
    bins = inputs["trade_bins"] if signals is None else trade_bins(signals[1], signals[0], open_ns, close_ns,
                                                                   params.interval_min)
    return compute_features(inputs["bars"], inputs["indicators"], bins, inputs["measures"],
                            inputs["previous_day"], open_ns, close_ns, params)


def write_features(conn: psycopg.Connection, day: dt.date, frame: pd.DataFrame, params: FeatureParams) -> int:
    symbols = sorted(frame["sym"].unique().tolist())
    codes = pd.Categorical(frame["sym"], categories=symbols).codes.astype(np.int64)
    n = len(frame)
    cols: dict[str, np.ndarray] = {"sym": codes, "ts": frame["ts"].to_numpy(np.int64),
                                   "interval_min": np.full(n, params.interval_min, np.int64),
                                   "horizon": np.full(n, params.horizon, np.int64)}
    for name in _BLOCK_VALUES:
        cols[name] = frame[name].to_numpy(np.float64)
    rows = derived.replace_day(conn, FEATURES, day, symbols, cols, interval_min=params.interval_min)
    conn.execute("DELETE FROM feature_blocks WHERE day = %s AND interval_min = %s", (day, params.interval_min))
    matrix = np.column_stack([cols[name] for name in _BLOCK_VALUES]) if n else np.empty((0, len(_BLOCK_VALUES)))
    order = np.argsort(codes, kind="stable")
    ts_sorted, m_sorted = cols["ts"][order].astype("<i8"), np.ascontiguousarray(matrix[order], dtype="<f8")
    codes_sorted = codes[order]
    starts = np.searchsorted(codes_sorted, np.arange(len(symbols) + 1))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO feature_blocks (day, interval_min, horizon, sym, names, ts, matrix) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(day, params.interval_min, params.horizon, sym, list(_BLOCK_VALUES),
              ts_sorted[starts[i]:starts[i + 1]].tobytes(), m_sorted[starts[i]:starts[i + 1]].tobytes())
             for i, sym in enumerate(symbols)])
    return rows


def read_features(dsn: str, days: list[dt.date], interval_min: int, horizon: int,
                  columns: tuple[str, ...] = FEATURE_NAMES) -> pd.DataFrame:
    """Stored feature rows of ``days`` (day, sym, ts [ns], ``columns``, target, baseline_last),
    ordered by time then symbol; only rows computed for ``horizon``. Read from
    ``feature_blocks``: raw float64 blocks straight into numpy, no Python object per value."""
    for c in columns:  # names go into SQL: only known feature columns
        if c not in FEATURE_NAMES:
            raise ValueError(f"unknown feature column {c!r}")
    values = (*columns, "target", "baseline_last")
    keys: list[tuple[dt.date, str, int]] = []
    ts_parts, blocks = [], []
    with psycopg.connect(dsn) as conn, conn.cursor(binary=True) as cur:
        cur.execute("SELECT day, sym, names, ts, matrix FROM feature_blocks "
                    "WHERE day = ANY(%s) AND interval_min = %s AND horizon = %s", (list(days), interval_min, horizon))
        for day, sym, names, ts_b, m_b in cur:
            ts = np.frombuffer(ts_b, dtype="<i8")
            m = np.frombuffer(m_b, dtype="<f8").reshape(ts.size, len(names))
            index = {n: j for j, n in enumerate(names)}
            missing = [v for v in values if v not in index]
            if missing:
                raise RuntimeError(f"features of {day} lack {missing}: recompute them")
            blocks.append((m, [index[v] for v in values]))
            ts_parts.append(ts)
            keys.append((day, sym, ts.size))
    if not blocks:
        return pd.DataFrame(columns=["day", "sym", "ts", *values])
    # small integer codes per block, expanded to rows: no Python object built per row
    day_list = sorted({k[0] for k in keys})
    sym_list = sorted({k[1] for k in keys})
    sizes = np.array([k[2] for k in keys])
    day_index = {d: i for i, d in enumerate(day_list)}
    sym_index = {s: i for i, s in enumerate(sym_list)}
    day_code = np.repeat(np.array([day_index[k[0]] for k in keys]), sizes)
    sym_code = np.repeat(np.array([sym_index[k[1]] for k in keys]), sizes)
    ts = np.concatenate(ts_parts).astype(np.int64)
    order = np.lexsort((sym_code, ts))
    dest = np.empty(order.size, dtype=np.int64)
    dest[order] = np.arange(order.size)
    # Each block's columns go straight to their sorted rows of one column-major array, which
    # becomes the frame without another copy.
    out = np.empty((len(values), ts.size))
    start = 0
    for m, cols in blocks:
        out[:, dest[start:start + m.shape[0]]] = m[:, cols].T
        start += m.shape[0]
    df = pd.DataFrame(out.T, columns=list(values), copy=False)
    df.insert(0, "ts", ts[order])
    df.insert(0, "sym", np.array(sym_list, dtype=object)[sym_code[order]])
    df.insert(0, "day", np.array(day_list, dtype=object)[day_code[order]])
    return df


def feature_days(conn: psycopg.Connection, through: dt.date, n: int, interval_min: int, horizon: int) -> list[dt.date]:
    """The last ``n`` days up to ``through`` (inclusive) that have stored features, oldest first."""
    rows = conn.execute("SELECT DISTINCT day FROM feature_blocks WHERE day <= %s AND interval_min = %s AND horizon = %s "
                        "ORDER BY day DESC LIMIT %s", (through, interval_min, horizon, n)).fetchall()
    return sorted(r[0] for r in rows)
