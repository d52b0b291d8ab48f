"""Derived tables: typed binary COPY (NaN as NULL, codes as text), and replacing a day is
atomic and idempotent, on both storage backends."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import psycopg

from tickflow.store import derived

DAY = dt.date(2024, 6, 21)


def _anomalies(n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {"sym": np.arange(n) % 2, "ts": 1_718_976_600_000_000_000 + np.arange(n, dtype=np.int64) * 60 * 10**9,
            "kind": np.arange(n) % 4, "value": np.where(np.arange(n) == 1, np.nan, np.arange(n) + shift),
            "threshold": np.full(n, 0.05)}


def test_replace_day_round_trips_types_and_replaces(store_dsn: str) -> None:
    derived.ensure_derived_schema(store_dsn)
    derived.ensure_derived_schema(store_dsn)  # idempotent
    with psycopg.connect(store_dsn) as conn, conn.transaction():
        assert derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA", "BB"], _anomalies(6)) == 6
    got = derived.read_day(store_dsn, derived.ANOMALIES, DAY)
    assert len(got) == 6
    assert set(got["sym"]) == {"AAA", "BB"}
    assert set(got["kind"]) == set(derived.VOCABULARIES[("anomalies", "kind")])
    row = got[(got["sym"] == "BB") & (got["kind"] == "volume_surge")].iloc[0]
    assert row["value"] is None or math.isnan(row["value"])  # NaN is stored as NULL
    assert row["ts"] == dt.datetime(2024, 6, 21, 13, 31, tzinfo=dt.UTC)
    assert row["day"] == DAY
    with psycopg.connect(store_dsn) as conn:
        nulls = conn.execute("SELECT count(*) FROM anomalies WHERE value IS NULL").fetchone()[0]  # type: ignore[index]
    assert nulls == 1
    # Recomputing the day replaces it; another day is untouched.
    with psycopg.connect(store_dsn) as conn, conn.transaction():
        derived.replace_day(conn, derived.ANOMALIES, DAY - dt.timedelta(days=1), ["AAA"], _anomalies(1))
        derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA", "BB"], _anomalies(4, shift=100.0))
    got = derived.read_day(store_dsn, derived.ANOMALIES, DAY)
    assert len(got) == 4 and got["value"].dropna().min() >= 100.0
    assert len(derived.read_day(store_dsn, derived.ANOMALIES, DAY - dt.timedelta(days=1))) == 1


def test_failed_replace_keeps_the_old_day(store_dsn: str) -> None:
    derived.ensure_derived_schema(store_dsn)
    with psycopg.connect(store_dsn) as conn, conn.transaction():
        derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA", "BB"], _anomalies(3))
    bad = _anomalies(3)
    bad["value"] = bad["value"][:2]
    try:
        with psycopg.connect(store_dsn) as conn, conn.transaction():
            derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA", "BB"], bad)
        raise AssertionError("a short column must be refused")
    except ValueError as e:
        assert "rows, expected" in str(e)
    assert len(derived.read_day(store_dsn, derived.ANOMALIES, DAY)) == 3
