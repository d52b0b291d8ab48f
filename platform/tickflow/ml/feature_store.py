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
from tickflow.ml.features import FEATURE_NAMES, MEASURES, FeatureParams, compute_features
from tickflow.store import derived

_DAY_SYM = (("day", "date"), ("sym", "text"))

FEATURES = derived.Table(
    "features",
    _DAY_SYM + (("interval_min", "int2"), ("ts", "timestamptz"), ("horizon", "int2"))
    + tuple((n, "float8") for n in (*FEATURE_NAMES, "target", "baseline_last")),
    ("day", "interval_min", "sym", "ts"))

PREDICTIONS = derived.Table(
    "predictions",
    _DAY_SYM + (("interval_min", "int2"), ("ts", "timestamptz"), ("horizon", "int2"), ("model_version", "int4"),
                ("predicted_return", "float8"), ("direction", "int2"), ("confidence", "float8")),
    ("day", "interval_min", "sym", "ts"))

ML_TABLES = (FEATURES, PREDICTIONS)

_NS_SQL = "(extract(epoch FROM {}) * 1000000000)::int8"


def ensure_ml_tables(dsn: str) -> None:
    derived.ensure_derived_schema(dsn, ML_TABLES)


def _frame(conn: psycopg.Connection, query: str, params: tuple, columns: list[str]) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame(conn.execute(query, params).fetchall(), columns=columns)


def load_inputs(conn: psycopg.Connection, day: dt.date, interval_min: int) -> dict[str, pd.DataFrame]:
    """The stored bars, indicators, per-bar trade-signal aggregates and measure bars of ``day``."""
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
    trade_bins = _frame(
        conn,
        f"SELECT sym, {bin_ts} AS bin, count(*), count(*) FILTER (WHERE jump), sum(signal), "  # noqa: S608
        "sum(lr_sign * size), sum(size), (array_agg(intensity_z ORDER BY trade_no DESC))[1], avg(acd_surprise) "
        "FROM trade_signals WHERE day = %s AND ts >= %s AND ts < %s GROUP BY 1, 2",
        (interval_min, open_ts, day, open_ts, close_ts),
        ["sym", "ts", "trades", "jumps", "signal_sum", "lr_volume", "volume", "intensity_z_last", "acd_surprise_mean"])
    measures = _frame(conn, f"SELECT sym, {ts}, interval_min, {', '.join(MEASURES)} FROM bar_measures "  # noqa: S608
                      "WHERE day = %s", (day,), ["sym", "ts", "interval_min", *MEASURES])
    for df in (bars, ind, trade_bins, measures):
        for c in df.columns:
            if c not in ("sym", "ts", "interval_min"):
                df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
    return {"bars": bars, "indicators": ind, "trade_bins": trade_bins, "measures": measures}


def features_for_day(conn: psycopg.Connection, day: dt.date, params: FeatureParams) -> pd.DataFrame:
    """Compute ``day``'s features from the stored inputs (empty frame when it has no bars)."""
    inputs = load_inputs(conn, day, params.interval_min)
    if inputs["bars"].empty:
        return pd.DataFrame(columns=["sym", "ts", *FEATURE_NAMES, "target", "baseline_last"])
    open_ns, close_ns = sessions.session_bounds_ns(day)
    return compute_features(inputs["bars"], inputs["indicators"], inputs["trade_bins"], inputs["measures"],
                            open_ns, close_ns, params)


def write_features(conn: psycopg.Connection, day: dt.date, frame: pd.DataFrame, params: FeatureParams) -> int:
    symbols = sorted(frame["sym"].unique().tolist())
    codes = pd.Categorical(frame["sym"], categories=symbols).codes.astype(np.int64)
    n = len(frame)
    cols: dict[str, np.ndarray] = {"sym": codes, "ts": frame["ts"].to_numpy(np.int64),
                                   "interval_min": np.full(n, params.interval_min, np.int64),
                                   "horizon": np.full(n, params.horizon, np.int64)}
    for name in (*FEATURE_NAMES, "target", "baseline_last"):
        cols[name] = frame[name].to_numpy(np.float64)
    return derived.replace_day(conn, FEATURES, day, symbols, cols, interval_min=params.interval_min)


def read_features(conn: psycopg.Connection, days: list[dt.date], interval_min: int, horizon: int,
                  columns: tuple[str, ...] = FEATURE_NAMES) -> pd.DataFrame:
    """Stored feature rows of ``days`` (day, sym, ts [ns], ``columns``, target, baseline_last),
    ordered by time then symbol; only rows computed for ``horizon``."""
    for c in columns:  # names go into SQL: only known feature columns
        if c not in FEATURE_NAMES:
            raise ValueError(f"unknown feature column {c!r}")
    cols = ", ".join(columns)
    ts = _NS_SQL.format("ts")
    rows = conn.execute(
        f"SELECT day, sym, {ts}, {cols}, target, baseline_last FROM features "  # noqa: S608 (validated names)
        "WHERE day = ANY(%s) AND interval_min = %s AND horizon = %s ORDER BY ts, sym",
        (list(days), interval_min, horizon)).fetchall()
    df = pd.DataFrame(rows, columns=["day", "sym", "ts", *columns, "target", "baseline_last"])
    for c in (*columns, "target", "baseline_last"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
    return df


def feature_days(conn: psycopg.Connection, through: dt.date, n: int, interval_min: int, horizon: int) -> list[dt.date]:
    """The last ``n`` days up to ``through`` (inclusive) that have stored features, oldest first."""
    rows = conn.execute("SELECT DISTINCT day FROM features WHERE day <= %s AND interval_min = %s AND horizon = %s "
                        "ORDER BY day DESC LIMIT %s", (through, interval_min, horizon, n)).fetchall()
    return sorted(r[0] for r in rows)
