"""Flat-file import: the vendor's CSV.gz into the raw tables through the ingest path's
validation, dead letters and idempotent writer; gap repair; minute aggregates and their
reconciliation with bars_1m."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.platform.conditions_reference import flags_of
from tickflow import conditions as C
from tickflow import sessions
from tickflow.config import Settings
from tickflow.derive.entry_points import run_bars
from tickflow.flatfiles.importer import dead_letter_topic, import_day, repair_gaps
from tickflow.simulate import to_flatfiles as vf
from tickflow.simulate.day import simulate_day
from tickflow.store import gaps
from tickflow.store.vendor_bars import reconcile

DAY = dt.date(2024, 3, 7)
OPEN_NS, CLOSE_NS = sessions.session_bounds_ns(DAY)
HEADER = ",".join(vf.TRADE_COLUMNS)


def _settings(tmp_path: Path, dsn: str) -> Settings:
    return Settings(home=tmp_path, pg_dsn=dsn, flatfiles_root=str(tmp_path / "flat"))


def _trade_line(sym: str, cond: str, tid: str, ts: int, price: str, size: str, x: int = 11) -> str:
    return f'{sym},"{cond}",0,{x},{tid},{ts - 1000},{price},{ts % 100000},{ts},{size},3,0,0'


def test_trades_file_rows_dead_letters_and_reimport(tmp_path: Path, plain_dsn: str) -> None:
    t0 = OPEN_NS + 5 * 60 * 10**9
    lines = [
        HEADER,
        _trade_line("AAPL", "", "1", t0, "170.25", "100"),
        _trade_line("AAPL", "12,37", "2", t0 + 1, "170.3", "7"),
        _trade_line("MSFT", "14,41", "3", t0 + 2, "401.5", "200"),
        _trade_line("MSFT", "", "4", t0 + 3, "abc", "100"),  # unparseable price
        _trade_line("msft", "", "5", t0 + 4, "401", "100"),  # invalid symbol
        _trade_line("MSFT", "", "6", t0 + 86_400 * 10**9, "401", "100"),  # another day
        _trade_line("MSFT", "", "7", t0 + 5, "-1", "100"),  # non-positive price
        "MSFT,,0,11,8,1,2",  # wrong number of fields
        _trade_line("MSFT", "x", "9", t0 + 6, "401", "100"),  # bad conditions
    ]
    path = tmp_path / "flat" / "trades_v1" / "2024" / "03" / "2024-03-07.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    s = _settings(tmp_path, plain_dsn)

    first = import_day(s, DAY, "trades")
    assert (first.rows_read, first.inserted, first.duplicates, first.dead_letters) == (8, 3, 0, 6)
    with psycopg.connect(plain_dsn) as conn:
        rows = conn.execute("SELECT sym, trade_id, price, size, conditions, ts_ns, src_partition, src_offset "
                            "FROM trades ORDER BY ts_ns").fetchall()
        dead = dict(conn.execute("SELECT \"offset\", reason FROM dead_letters WHERE topic = %s AND partition = 0",
                                 (dead_letter_topic("trades", DAY),)).fetchall())
        malformed = conn.execute("SELECT reason, payload FROM dead_letters WHERE topic = %s AND partition = 1",
                                 (dead_letter_topic("trades", DAY),)).fetchall()
    assert rows == [("AAPL", "1", 170.25, 100.0, [], t0, -1, 0), ("AAPL", "2", 170.3, 7.0, [12, 37], t0 + 1, -1, 1),
                    ("MSFT", "3", 401.5, 200.0, [14, 41], t0 + 2, -1, 2)]
    assert dead[3] == "unparseable price: 'abc'"
    assert dead[4].startswith("invalid symbol: 'msft'")
    assert dead[5].startswith(f"timestamp {t0 + 86_400 * 10**9} falls on 2024-03-08")
    assert dead[6] == "non-positive price: p=-1.0"
    assert dead[7] == "unparseable conditions: 'x'"
    assert malformed[0][0] == "malformed CSV row: expected 13 fields, got 7"
    assert bytes(malformed[0][1]) == b"MSFT,,0,11,8,1,2"

    again = import_day(s, DAY, "trades", str(path))  # the file itself as the source
    assert (again.inserted, again.duplicates) == (0, 3)
    with psycopg.connect(plain_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM trades").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (6,)


@pytest.fixture(scope="module")
def sim_day():  # type: ignore[no-untyped-def]
    return simulate_day(DAY, n_symbols=3, seed=5, trades_per_symbol=1500, quotes_per_symbol=2000)


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]  # noqa: S608


def test_gap_repair_fills_exactly_the_gap_windows(tmp_path: Path, plain_dsn: str, sim_day) -> None:  # type: ignore[no-untyped-def]
    s = _settings(tmp_path, plain_dsn)
    root = tmp_path / "flat"
    ts_t, ts_q = sim_day.trades["ts_ns"], sim_day.quotes["ts_ns"]
    sym_t = np.asarray(sim_day.symbols)[sim_day.trades["sym_idx"]]
    sym_q = np.asarray(sim_day.symbols)[sim_day.quotes["sym_idx"]]
    # gap 1: all symbols, trades and quotes, 10:00-10:20; gap 2: trades of one symbol, 14:00-14:05
    g1 = (OPEN_NS + 30 * 60 * 10**9, OPEN_NS + 50 * 60 * 10**9)
    g2 = (OPEN_NS + 270 * 60 * 10**9, OPEN_NS + 275 * 60 * 10**9)
    one = sim_day.symbols[1]
    in_t = ((ts_t >= g1[0]) & (ts_t < g1[1])) | ((ts_t >= g2[0]) & (ts_t < g2[1]) & (sym_t == one))
    in_q = (ts_q >= g1[0]) & (ts_q < g1[1])
    # what the live feed delivered: everything outside the gaps
    live = tmp_path / "live"
    vf.write_table(vf.trades_table(sim_day, ~in_t), live / "trades.csv.gz")
    vf.write_table(vf.quotes_table(sim_day, ~in_q), live / "quotes.csv.gz")
    import_day(s, DAY, "trades", str(live / "trades.csv.gz"))
    import_day(s, DAY, "quotes", str(live / "quotes.csv.gz"))
    # the vendor's full files for the day
    vf.write_flat_files(sim_day, root)

    utc = [dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC) for x in (*g1, *g2)]
    id1 = gaps.record_gap(plain_dsn, utc[0], utc[1], ["trades", "quotes"], None, "disconnect")
    id2 = gaps.record_gap(plain_dsn, utc[2], utc[3], ["trades"], [one], "buffer overflow")
    running = gaps.record_gap(plain_dsn, utc[3], None, ["quotes"], None, "still down")
    no_file = gaps.record_gap(plain_dsn, utc[0], utc[1], ["AM"], None, "disconnect")  # no minute_aggs file

    rep = repair_gaps(s, DAY)
    assert rep.repaired == {id1: int(in_t[(ts_t < g1[1])].sum() + in_q.sum()), id2: int(in_t[ts_t >= g2[0]].sum())}
    assert sorted(rep.left_open) == sorted([running, no_file])
    assert "no minute_aggs flat file" in rep.missing_files[0]
    # the vendor rows outside every gap window are skipped, and the import says how many
    skipped = {r.kind: r.metadata()["rows_skipped_outside_gaps"] for r in rep.imports}
    assert skipped == {"trades": int((~in_t).sum()), "quotes": int((~in_q).sum())}
    assert _count(plain_dsn, "trades") == ts_t.shape[0]
    assert _count(plain_dsn, "quotes") == ts_q.shape[0]
    assert sorted(g.id for g in gaps.open_gaps(plain_dsn, DAY)) == sorted([running, no_file])
    repaired = {g.id: g.repaired_rows for g in gaps.gaps_for_day(plain_dsn, DAY) if g.is_repaired}
    assert repaired == rep.repaired
    # a second repair finds nothing to do (the running gap is still skipped)
    again = repair_gaps(s, DAY)
    assert again.repaired == {} and _count(plain_dsn, "trades") == ts_t.shape[0]
    # a whole-day import over the repaired store adds nothing
    full = import_day(s, DAY, "trades")
    assert (full.inserted, full.duplicates) == (0, ts_t.shape[0])
    del sym_q


def reference_vendor_bars(day) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The vendor's minute aggregates of the simulated trades, computed independently of the
    bars kernel: pandas per symbol-minute, the rule table applied trade by trade."""
    t = day.trades
    codes = [t["cond"][s:s + n].tolist() for s, n in zip(t["cond_start"], t["cond_len"], strict=True)]
    f = np.array([flags_of(c) for c in codes])
    df = pd.DataFrame({"sym": np.asarray(day.symbols)[t["sym_idx"]], "ts": t["ts_ns"], "p": t["price"],
                       "s": t["size"], "last": f & C.LAST > 0, "hl": f & C.HIGH_LOW > 0, "vol": f & C.VOLUME > 0})
    df = df[(df.ts >= OPEN_NS) & (df.ts < CLOSE_NS)]
    df["minute"] = (df.ts - OPEN_NS) // 60_000_000_000 * 60_000_000_000 + OPEN_NS
    rows = []
    carry: dict[str, float] = {}
    for (sym, m), g in df.groupby(["sym", "minute"], sort=True):
        last, hl, vol = g[g["last"]], g[g.hl], g[g.vol]
        if not last.empty:
            o, c = last.p.iloc[0], last.p.iloc[-1]
            carry[sym] = c
        elif sym in carry:  # e.g. only odd lots: volume counts, the last price is carried
            o = c = carry[sym]
        else:
            continue  # no price yet (the store's bars seed it from quotes, absent here)
        hi = max([o, c, *hl.p]) if len(hl) else max(o, c)
        lo = min([o, c, *hl.p]) if len(hl) else min(o, c)
        rows.append({"ticker": sym, "volume": vol.s.sum(), "open": o, "close": c, "high": hi, "low": lo,
                     "window_start": int(m), "transactions": len(vol)})
    return pd.DataFrame(rows)


def test_minute_aggs_import_and_reconciliation(tmp_path: Path, plain_dsn: str, sim_day) -> None:  # type: ignore[no-untyped-def]
    s = _settings(tmp_path, plain_dsn)
    vf.write_table(vf.trades_table(sim_day), tmp_path / "flat/trades_v1/2024/03/2024-03-07.csv.gz")
    import_day(s, DAY, "trades")
    run_bars(plain_dsn, DAY)
    ref = reference_vendor_bars(sim_day)
    assert (sim_day.trades["cond_len"] > 0).any()  # odd lots and sweeps are in the data
    path = tmp_path / "flat/minute_aggs_v1/2024/03/2024-03-07.csv.gz"
    import pyarrow as pa

    vf.write_table(pa.Table.from_pandas(ref, preserve_index=False), path)
    rep = import_day(s, DAY, "minute_aggs")
    assert (rep.inserted, rep.dead_letters) == (len(ref), 0)
    ok = reconcile(plain_dsn, DAY)
    assert ok.compared == len(ref) and ok.passed, ok.metadata()

    # the rules matter here: ignoring them, some minute's high would be an odd lot's price
    t = sim_day.trades
    every = pd.DataFrame({"sym": np.asarray(sim_day.symbols)[t["sym_idx"]], "p": t["price"],
                          "window_start": (t["ts_ns"] - OPEN_NS) // 60_000_000_000 * 60_000_000_000 + OPEN_NS})
    naive_high = every.groupby(["sym", "window_start"]).p.max().rename("naive").reset_index()
    both = ref.merge(naive_high, left_on=["ticker", "window_start"], right_on=["sym", "window_start"])
    assert (both.naive > both.high).any()
    # break one vendor row and the check names it
    with psycopg.connect(plain_dsn) as conn:
        conn.execute("UPDATE vendor_bars SET volume = volume + 1, high = high + 0.01 "
                     "WHERE (sym, ts) = (SELECT sym, ts FROM vendor_bars ORDER BY sym, ts LIMIT 1)")
    bad = reconcile(plain_dsn, DAY)
    assert not bad.passed
    assert {k: v for k, v in bad.mismatches.items() if v} == {"volume": 1, "high": 1}
    assert bad.examples[0]["fields"] == ["volume", "high"]
    assert import_day(s, DAY, "minute_aggs").inserted == 0  # same source again: no change


def test_tick_from_live_feed_and_flat_file_is_stored_once(tmp_path: Path, plain_dsn: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The live feed stamps ms, the flat file ns: with flatfiles_ts_unit=ms the same trade
    from both sources has one key. Also drives the CLI."""
    import json

    from tickflow.cli import main
    from tickflow.feed.decode import decode_batch
    from tickflow.store.pgcopy import encode_trades
    from tickflow.store.schema import detect, ensure_day_partitions
    from tickflow.store.write import copy_rows

    t_ms = (OPEN_NS + 90 * 10**9) // 1_000_000
    live = decode_batch([json.dumps({"ev": "T", "sym": "AAPL", "t": t_ms, "p": 170.25, "s": 100, "x": 11,
                                     "i": "77", "c": [14], "z": 3, "q": 5}).encode()])
    with psycopg.connect(plain_dsn) as conn, conn.transaction():
        ensure_day_partitions(plain_dsn, detect(conn), [DAY])
        one = np.zeros(1, np.int64)
        copy_rows(conn, "trades", encode_trades(live.trades, live.text, live.cond, one, one), 1)
    sip = t_ms * 1_000_000 + 123_456  # the vendor's ns stamp of the same trade
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(f"{HEADER}\n{_trade_line('AAPL', '14', '77', sip, '170.25', '100')}\n".encode()))
    monkeypatch.setenv("TICKFLOW_PG_DSN", plain_dsn)
    monkeypatch.setenv("TICKFLOW_FLATFILES_TS_UNIT", "ms")
    assert main(["import", "flatfiles", "--date", DAY.isoformat(), "--source", str(path)]) == 0
    assert _count(plain_dsn, "trades") == 1
    monkeypatch.setenv("TICKFLOW_FLATFILES_TS_UNIT", "ns")  # full precision: a second key
    assert main(["import", "flatfiles", "--date", DAY.isoformat(), "--source", str(path)]) == 0
    assert _count(plain_dsn, "trades") == 2
    assert main(["import", "flatfiles", "--date", "2024-03-09", "--source", str(path)]) == 1  # a Saturday


def test_file_without_the_vendor_columns_is_a_clear_error(tmp_path: Path) -> None:
    import pyarrow as pa

    from tickflow.flatfiles.read import iter_batches

    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"ticker,price\nAAPL,1\n"))
    with pytest.raises(ValueError, match="not a trades flat file in the vendor's format"):
        list(iter_batches(pa.input_stream(str(path), compression="gzip"), "trades"))
