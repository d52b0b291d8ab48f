"""Derived tables: typed binary COPY (NaN as NULL, codes as text), and replacing a day is
atomic and idempotent, on both storage backends."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import psycopg

from tests.platform.derived_reading import read_day
from tickflow.store import derived

DAY = dt.date(2024, 6, 21)


def _anomalies(n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {"sym": np.arange(n) % 2, "ts": 1_718_976_600_000_000_000 + np.arange(n, dtype=np.int64) * 60 * 10**9,
            "kind": np.arange(n) % 4, "value": np.where(np.arange(n) == 1, np.nan, np.arange(n) + shift),
            "threshold": np.full(n, 0.05)}


def test_replace_day_round_trips_types_and_replaces(store_dsn: str) -> None:
    with psycopg.connect(store_dsn) as conn, conn.transaction():
        assert derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA", "BB"], _anomalies(6)) == 6
    got = read_day(store_dsn, derived.ANOMALIES, DAY)
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
    got = read_day(store_dsn, derived.ANOMALIES, DAY)
    assert len(got) == 4 and got["value"].dropna().min() >= 100.0
    assert len(read_day(store_dsn, derived.ANOMALIES, DAY - dt.timedelta(days=1))) == 1


def test_failed_replace_keeps_the_old_day(store_dsn: str) -> None:
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
    assert len(read_day(store_dsn, derived.ANOMALIES, DAY)) == 3


def _version(n: int, v: float) -> dict[str, np.ndarray]:
    """``n`` anomaly rows whose value is the version ``v`` (so a mix of two versions shows)."""
    return {"sym": np.zeros(n, np.int64), "ts": 1_718_976_600_000_000_000 + np.arange(n, dtype=np.int64) * 1000,
            "kind": np.zeros(n, np.int64), "value": np.full(n, v), "threshold": np.full(n, 0.05)}


def _day_state(dsn: str, day: dt.date) -> tuple[int, float | None, float | None]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT count(*), min(value), max(value) FROM anomalies WHERE day = %s",  # type: ignore[return-value]
                            (day,)).fetchone()


def test_days_are_partitions_and_a_reader_sees_a_day_whole(store_dsn: str) -> None:
    """While a day is replaced again and again, a reader polling it sees exactly one
    committed version each time (its row count and its value), never a mix or an empty day."""
    import threading

    sizes = {float(v): 40_000 + 7_000 * v for v in range(1, 7)}
    with psycopg.connect(store_dsn) as conn, conn.transaction():
        derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA"], _version(sizes[1.0], 1.0))
        derived.replace_day(conn, derived.ANOMALIES, DAY + dt.timedelta(days=3), ["AAA"], _version(10, 9.0))
    with psycopg.connect(store_dsn) as conn:
        parted = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'anomalies'").fetchone()[0]  # type: ignore[index]
        hyper = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0]  # type: ignore[index]
        if hyper:
            chunks = conn.execute("SELECT count(*) FROM show_chunks('anomalies')").fetchone()[0]  # type: ignore[index]
            assert chunks == 2  # one chunk per day
        else:
            assert parted == "p"
            parts = [r[0] for r in conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                                                "ON c.oid = i.inhrelid WHERE i.inhparent = 'anomalies'::regclass")]
            assert sorted(parts) == ["anomalies_20240621", "anomalies_20240624"]
    seen: list[tuple[int, float | None, float | None]] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.append(_day_state(store_dsn, DAY))

    th = threading.Thread(target=reader)
    th.start()
    try:
        for v in range(2, 7):
            with psycopg.connect(store_dsn) as conn, conn.transaction():
                derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA"], _version(sizes[float(v)], float(v)))
    finally:
        done.set()
        th.join()
    assert len(seen) >= 5
    bad = [s for s in seen if not (s[1] == s[2] and s[1] in sizes and s[0] == sizes[s[1]])]
    assert not bad, bad[:5]
    assert len({s[1] for s in seen}) >= 2  # the reader did overlap the replacements
    assert _day_state(store_dsn, DAY) == (sizes[6.0], 6.0, 6.0)
    assert _day_state(store_dsn, DAY + dt.timedelta(days=3)) == (10, 9.0, 9.0)  # another day untouched


_KILLED_WRITER = """
import datetime as dt, os, signal, sys
import numpy as np, psycopg
from tickflow.store import derived
n = 30000
frame = {"sym": np.zeros(n, np.int64), "ts": 1_718_976_600_000_000_000 + np.arange(n, dtype=np.int64) * 1000,
         "kind": np.zeros(n, np.int64), "value": np.full(n, 2.0), "threshold": np.full(n, 0.05)}
conn = psycopg.connect(sys.argv[1])
with conn.transaction():
    derived.replace_day(conn, derived.ANOMALIES, dt.date(2024, 6, 21), ["AAA"], frame)
    # the new day is swapped in; the process dies before COMMIT
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_before_commit_leaves_the_previous_day(store_dsn: str) -> None:
    import subprocess
    import sys

    with psycopg.connect(store_dsn) as conn, conn.transaction():
        derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA"], _version(1000, 1.0))
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, store_dsn], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert _day_state(store_dsn, DAY) == (1000, 1.0, 1.0)
    # Nothing is left behind that would stop the next replacement.
    with psycopg.connect(store_dsn) as conn, conn.transaction():
        derived.replace_day(conn, derived.ANOMALIES, DAY, ["AAA"], _version(500, 3.0))
    assert _day_state(store_dsn, DAY) == (500, 3.0, 3.0)


def test_replacing_one_interval_keeps_the_others(store_dsn: str) -> None:
    """``interval_min`` replaces only that interval's rows of the day (a derived table left
    unpartitioned by an earlier release: tests/platform/store/test_schema.py)."""

    def bars(n: int, interval: int, close: float) -> dict[str, np.ndarray]:
        cols = {c: np.full(n, close) for c in derived.BARS.value_columns}
        cols.update(sym=np.zeros(n, np.int64), ts=1_718_976_600_000_000_000 + np.arange(n, dtype=np.int64) * 60 * 10**9,
                    interval_min=np.full(n, interval, np.int64), trades=np.ones(n, np.int64),
                    quotes=np.ones(n, np.int64))
        return cols

    with psycopg.connect(store_dsn) as conn, conn.transaction():
        derived.replace_day(conn, derived.BARS, DAY, ["AAA"], {k: np.concatenate([bars(6, 1, 1.0)[k], bars(2, 5, 5.0)[k]])
                                                               for k in bars(1, 1, 1.0)})
        derived.replace_day(conn, derived.BARS, DAY, ["AAA"], bars(2, 5, 7.0), interval_min=5)
    assert len(read_day(store_dsn, derived.BARS, DAY, interval_min=1)) == 6
    five = read_day(store_dsn, derived.BARS, DAY, interval_min=5)
    assert list(five["close"]) == [7.0, 7.0]


def test_two_writers_of_one_table_on_different_days_do_not_deadlock(store_dsn: str) -> None:
    """Two runs replacing different days of one table at once (a UI backfill beside a CLI
    one): the second waits for the first instead of both waiting for each other's swap."""
    import threading

    other = DAY - dt.timedelta(days=1)
    for day in (DAY, other):  # both days exist, so each swap detaches an old partition
        with psycopg.connect(store_dsn) as conn, conn.transaction():
            derived.replace_day(conn, derived.ANOMALIES, day, ["AAA"], _version(5, 1.0))
    first_staged, go_on = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_before_swap() -> bool:
        first_staged.set()
        return go_on.wait(30)

    def write(day: dt.date, before_swap) -> None:  # type: ignore[no-untyped-def]
        try:
            with psycopg.connect(store_dsn) as conn, conn.transaction():
                derived.replace_days(conn, [derived.DayRows(derived.ANOMALIES, day, ["AAA"], _version(7, 2.0))],
                                     before_swap=before_swap)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    first = threading.Thread(target=write, args=(DAY, hold_before_swap))
    first.start()
    assert first_staged.wait(30)
    second = threading.Thread(target=write, args=(other, None))
    second.start()
    second.join(2.5)  # time for the second to stage and reach its swap (deadlock_timeout is 1 s)
    go_on.set()
    first.join(60)
    second.join(60)
    assert errors == []
    assert _day_state(store_dsn, DAY) == (7, 2.0, 2.0)
    assert _day_state(store_dsn, other) == (7, 2.0, 2.0)
