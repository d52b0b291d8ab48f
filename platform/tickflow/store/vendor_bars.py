"""The vendor's own 1-minute bars (``raw_vendor_bars``) and their reconciliation with ours.

``vendor_bars`` holds one row per symbol-minute as the vendor sent it: from the live feed's
minute-aggregate events (``ev: AM`` on the ``minute_aggs`` topic) or from the
``minute_aggs_v1`` flat file. ``ts`` is the minute's start. The flat file is the vendor's
final word, so a flat-file row replaces a live one for the same minute; writing the same
source again changes nothing (``source`` ranks them: 1 live feed, 2 flat file).
``vwap`` and ``avg_size`` come only with live events, ``transactions`` only with flat
files (NULL otherwise). The table is plain, keyed by (sym, ts): a day is ~4M rows for the
whole US market, small next to its ticks.

Reconciliation (:func:`reconcile`) joins the day's regular-session vendor minutes with
``bars`` at 1 minute and compares per symbol-minute, with the tolerances stated in
``TOLERANCE``: volume and trade count equal (where the vendor gives a count), open, high,
low and close equal up to float noise (both are the same trades' prices), VWAP within half
a unit of the vendor's fourth decimal (the live feed rounds ``vw``). A vendor minute
missing from ``bars_1m`` (or a traded bar the vendor lacks) is a mismatch too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from tickflow import sessions
from tickflow.store.pgcopy import encode_columns

SOURCE_FEED, SOURCE_FLATFILE = 1, 2

# (column, COPY type) in table order
COLUMNS = (("day", "date"), ("sym", "text"), ("ts", "timestamptz"), ("open", "float8"), ("high", "float8"),
           ("low", "float8"), ("close", "float8"), ("volume", "float8"), ("vwap", "float8"),
           ("transactions", "float8"), ("avg_size", "float8"), ("source", "int2"), ("src_partition", "int4"),
           ("src_offset", "int8"))

TOLERANCE = {
    "volume": 0.0, "trades": 0.0,  # equal
    "price_rel": 1e-9,  # open, high, low, close: |ours - vendor| <= 1e-9 * |vendor|
    "vwap_abs": 5e-5 + 1e-9,  # the feed's vw has 4 decimals
}


def write_bars(conn: psycopg.Connection, cols: dict[str, np.ndarray], symbols: list[str]) -> int:
    """Upsert rows (``cols``: every COLUMNS name except ``day``, ``sym`` as codes into
    ``symbols``, ``ts`` in ns) inside the caller's transaction; returns the rows inserted or
    replaced by a higher-ranked source."""
    n = int(cols["ts"].shape[0])
    if n == 0:
        return 0
    data = dict(cols)
    data["day"] = sessions.ny_day(np.asarray(cols["ts"], dtype=np.int64)).astype(np.int64)
    payload = encode_columns([(t, data[c]) for c, t in COLUMNS], symbols)
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in COLUMNS)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _stage_vendor_bars (LIKE vendor_bars) ON COMMIT DELETE ROWS")
    conn.execute("TRUNCATE _stage_vendor_bars")
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY _stage_vendor_bars ({}) FROM STDIN (FORMAT BINARY)")
                                        .format(names)) as copy:
        copy.write(payload)
    updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                                 for c, _ in COLUMNS if c not in ("sym", "ts"))
    # DISTINCT ON: a minute repeated within one write keeps one row (the last offset).
    cur = conn.execute(sql.SQL(
        "INSERT INTO vendor_bars ({n}) SELECT DISTINCT ON (sym, ts) {n} FROM _stage_vendor_bars "
        "ORDER BY sym, ts, source DESC, src_offset DESC "
        "ON CONFLICT (sym, ts) DO UPDATE SET {u} WHERE vendor_bars.source < EXCLUDED.source").format(
        n=names, u=updates))
    return int(cur.rowcount)


def day_counts(dsn: str, day: dt.date) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT sym), min(ts), max(ts) FROM vendor_bars WHERE day = %s",
                           (day,)).fetchone()
    assert row is not None
    return {"rows": int(row[0]), "symbols": int(row[1]),
            "first_ts": row[2].isoformat() if row[2] else "", "last_ts": row[3].isoformat() if row[3] else ""}


@dataclass
class Reconciliation:
    day: dt.date
    compared: int = 0
    mismatches: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.compared > 0 and not any(self.mismatches.values())

    def metadata(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "symbol_minutes_compared": self.compared,
                "mismatches": dict(self.mismatches), "examples": self.examples[:5],
                "tolerance": dict(TOLERANCE)}


# One row per symbol-minute of either side, with a flag per compared field.
_FLAGGED = """
SELECT coalesce(v.sym, b.sym) AS sym, coalesce(v.ts, b.ts) AS ts,
       v.sym IS NULL AS missing_in_vendor,
       b.sym IS NULL AND v.sym IS NOT NULL AS missing_in_bars,
       v.sym IS NOT NULL AND b.sym IS NOT NULL AND b.volume <> v.volume AS volume,
       v.sym IS NOT NULL AND b.sym IS NOT NULL AND v.transactions IS NOT NULL
           AND b.trades <> round(v.transactions) AS trades,
       v.sym IS NOT NULL AND b.sym IS NOT NULL AND abs(b.open - v.open) > %(rel)s * abs(v.open) AS open,
       v.sym IS NOT NULL AND b.sym IS NOT NULL AND abs(b.high - v.high) > %(rel)s * abs(v.high) AS high,
       v.sym IS NOT NULL AND b.sym IS NOT NULL AND abs(b.low - v.low) > %(rel)s * abs(v.low) AS low,
       v.sym IS NOT NULL AND b.sym IS NOT NULL AND abs(b.close - v.close) > %(rel)s * abs(v.close) AS close,
       v.sym IS NOT NULL AND b.sym IS NOT NULL AND v.vwap IS NOT NULL
           AND abs(b.vwap - v.vwap) > %(vwap)s AS vwap,
       ARRAY[v.open, v.high, v.low, v.close, v.volume, v.vwap, v.transactions] AS vendor,
       ARRAY[b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades] AS ours
FROM (SELECT * FROM vendor_bars WHERE day = %(day)s AND ts >= %(lo)s AND ts < %(hi)s) v
FULL JOIN (SELECT * FROM bars WHERE day = %(day)s AND interval_min = 1 AND volume > 0) b
  ON b.sym = v.sym AND b.ts = v.ts
"""
_FIELDS = ("missing_in_bars", "missing_in_vendor", "volume", "trades", "open", "high", "low", "close", "vwap")


def reconcile(dsn: str, day: dt.date) -> Reconciliation:
    """Compare ``bars_1m`` with the vendor's minute bars of the regular session of ``day``
    (in the database: a day is millions of symbol-minutes)."""
    lo, hi = (dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC) for x in sessions.session_bounds_ns(day))
    params = {"day": day, "lo": lo, "hi": hi, "rel": TOLERANCE["price_rel"], "vwap": TOLERANCE["vwap_abs"]}
    counts = sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE {})").format(sql.Identifier(f)) for f in _FIELDS)
    any_bad = sql.SQL(" OR ").join(sql.Identifier(f) for f in _FIELDS)
    flagged = sql.SQL(_FLAGGED)  # noqa: S608 - fixed text, values bound as parameters
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql.SQL("SELECT count(*), {c} FROM ({f}) x").format(c=counts, f=flagged),
                           params).fetchone()
        examples = conn.execute(sql.SQL("SELECT sym, ts, {fl}, vendor, ours FROM ({f}) x WHERE {a} "
                                        "ORDER BY sym, ts LIMIT 5").format(
            fl=sql.SQL(", ").join(sql.Identifier(f) for f in _FIELDS), f=flagged, a=any_bad), params).fetchall()
    assert row is not None
    out = Reconciliation(day, compared=int(row[0]), mismatches=dict(zip(_FIELDS, map(int, row[1:]), strict=True)))
    for ex in examples:
        out.examples.append({"sym": ex[0], "ts": ex[1].isoformat(),
                             "fields": [f for f, bad in zip(_FIELDS, ex[2:2 + len(_FIELDS)], strict=True) if bad],
                             "vendor_ohlcv_vwap_n": [None if x is None else float(x) for x in ex[-2]],
                             "bars_1m_ohlcv_vwap_n": [None if x is None else float(x) for x in ex[-1]]})
    return out
