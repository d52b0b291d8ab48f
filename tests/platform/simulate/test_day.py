"""Tests of the trading-day simulator (tickflow.simulate.day)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from tickflow.simulate.day import (
    SimulatedDay,
    make_symbols,
    message_plan,
    render_messages,
    simulate_day,
    write_ground_truth,
)

NY = ZoneInfo("America/New_York")
SUMMER = dt.date(2024, 6, 21)  # EDT, UTC-4
WINTER = dt.date(2024, 1, 17)  # EST, UTC-5
NS = 1_000_000_000
KINDS: tuple[Literal["T", "Q"], ...] = ("T", "Q")


@pytest.fixture(scope="module")
def day() -> SimulatedDay:
    return simulate_day(SUMMER, n_symbols=20, seed=0)


@pytest.fixture(scope="module")
def small() -> SimulatedDay:
    return simulate_day(WINTER, n_symbols=3, seed=7, trades_per_symbol=3_000, quotes_per_symbol=6_000)


def _same(a: SimulatedDay, b: SimulatedDay) -> bool:
    for name in ("trades", "quotes"):
        x, y = getattr(a, name), getattr(b, name)
        if x.keys() != y.keys():
            return False
        for k in x:
            if x[k].shape != y[k].shape or not np.array_equal(x[k], y[k]):
                return False
    return a.symbols == b.symbols and a.jumps.equals(b.jumps)


def _rows(cols: dict[str, np.ndarray], i: int) -> np.ndarray:
    return np.flatnonzero(cols["sym_idx"] == i)


def test_deterministic_per_seed() -> None:
    a = simulate_day(SUMMER, n_symbols=3, seed=11, trades_per_symbol=2_000, quotes_per_symbol=4_000)
    b = simulate_day(SUMMER, n_symbols=3, seed=11, trades_per_symbol=2_000, quotes_per_symbol=4_000)
    c = simulate_day(SUMMER, n_symbols=3, seed=12, trades_per_symbol=2_000, quotes_per_symbol=4_000)
    assert _same(a, b)
    assert not _same(a, c)
    assert not np.array_equal(a.trades["price"][:100], c.trades["price"][:100])
    # symbol i's path does not depend on how many symbols are simulated
    d = simulate_day(SUMMER, seed=11, n_symbols=5, trades_per_symbol=2_000, quotes_per_symbol=4_000)
    assert d.symbols[:3] == a.symbols
    r_a, r_d = _rows(a.trades, 2), _rows(d.trades, 2)
    assert np.array_equal(a.trades["price"][r_a], d.trades["price"][r_d])


def test_symbols_are_distinct_tickers() -> None:
    syms = make_symbols(300)
    assert len(set(syms)) == 300
    assert all(s.isalpha() and s.isupper() and 1 <= len(s) <= 5 for s in syms)
    assert make_symbols(10) == syms[:10]


def test_u_shaped_intensity(day: SimulatedDay) -> None:
    rel_s = (day.trades["ts_ns"] - day.open_ns) / NS
    counts = np.histogram(rel_s, bins=13, range=(0, 23_400))[0]  # 30-minute buckets
    midday = counts[5:8].mean()  # 12:00-13:30
    print("trades per 30 min:", counts.tolist())
    assert counts[0] > 1.5 * midday
    assert counts[-1] > 1.5 * midday
    n_per_symbol = np.bincount(day.trades["sym_idx"])
    assert 15_000 < n_per_symbol.mean() < 35_000


def test_trades_inside_prevailing_quote(day: SimulatedDay) -> None:
    t, q = day.trades, day.quotes
    inside = 0
    for i in range(len(day.symbols)):
        rt, rq = _rows(t, i), _rows(q, i)
        ts, qs = t["ts_ns"][rt], q["ts_ns"][rq]
        assert np.all(np.diff(ts) > 0) and np.all(np.diff(qs) > 0)
        assert np.all(np.diff(t["seq"][rt]) > 0)
        assert np.unique(t["trade_id"][rt]).size == rt.size
        j = np.searchsorted(qs, ts, side="right") - 1
        assert j.min() >= 0
        bid, ask = q["bid_price"][rq][j], q["ask_price"][rq][j]
        p = t["price"][rt]
        inside += int(np.sum((p >= bid - 1e-9) & (p <= ask + 1e-9)))
    frac = inside / t["price"].size
    print(f"fraction of trades in [bid, ask]: {frac:.4f}")
    assert frac >= 0.95
    for arr in (t["price"], q["bid_price"], q["ask_price"]):
        assert np.allclose(arr * 100, np.rint(arr * 100), atol=1e-6)
    assert np.all(q["ask_price"] > q["bid_price"])
    assert np.all(t["size"] > 0) and np.all(q["bid_size"] > 0) and np.all(q["ask_size"] > 0)
    assert set(np.unique(t["side"]).tolist()) == {-1, 1}
    assert set(np.unique(t["tape"]).tolist()) <= {1, 2, 3}
    assert np.all((t["exchange"] >= 1) & (t["exchange"] <= 21))


@pytest.mark.parametrize(("date", "utc_open_hour"), [(SUMMER, 13), (WINTER, 14)])
def test_timestamps_in_new_york_session(date: dt.date, utc_open_hour: int) -> None:
    d = simulate_day(date, n_symbols=2, seed=3, trades_per_symbol=2_000, quotes_per_symbol=2_000)
    o = dt.datetime.fromtimestamp(d.open_ns / NS, tz=dt.UTC)
    assert (o.hour, o.minute) == (utc_open_hour, 30)
    assert d.close_ns - d.open_ns == 23_400 * NS
    for ts in (d.trades["ts_ns"], d.quotes["ts_ns"], d.jumps["ts_ns"].to_numpy()):
        assert ts.dtype == np.int64
        assert ts.min() >= d.open_ns and ts.max() < d.close_ns
        for v in (int(ts.min()), int(ts.max())):
            local = dt.datetime.fromtimestamp(v // NS, tz=NY)
            assert local.date() == date
            assert dt.time(9, 30) <= local.time() < dt.time(16, 0)


def test_jumps_show_in_one_minute_returns(day: SimulatedDay) -> None:
    j = day.jumps
    assert list(j.columns[:4]) == ["symbol", "ts_ns", "log_size", "size_sd"]
    assert len(j) >= 20
    assert j["size_sd"].between(4, 10).all()
    assert (np.sign(j["log_size"]) != 0).all()
    z = []
    for row in j.itertuples():
        r = _rows(day.trades, row.sym_idx)
        ts, p = day.trades["ts_ns"][r], day.trades["price"][r]
        a = np.searchsorted(ts, row.ts_ns - 30 * NS, side="right") - 1
        b = np.searchsorted(ts, row.ts_ns + 30 * NS, side="right") - 1
        local_sd = abs(row.log_size) / row.size_sd
        z.append(np.log(p[b] / p[a]) / local_sd * np.sign(row.log_size))
    z_arr = np.array(z)
    print("signed 1-minute return around jumps, in local SDs:", np.round(np.sort(z_arr), 1).tolist())
    assert np.mean(z_arr > 3) >= 0.8


def _events(msg: bytes) -> list[dict]:
    obj = json.loads(msg)
    return obj if isinstance(obj, list) else [obj]


@pytest.mark.parametrize(("batch", "batch_ms"), [(1, None), (50, None), (1, 250), (7, 1000)])
def test_render_round_trip(small: SimulatedDay, batch: int, batch_ms: int | None) -> None:
    batched = batch > 1 or batch_ms is not None
    for kind in KINDS:
        cols = small.trades if kind == "T" else small.quotes
        per_sym: dict[str, list[dict]] = {s: [] for s in small.symbols}
        last_ts = -1
        n_msgs = 0
        for key, value, ts_ms in render_messages(small, kind, batch=batch, batch_ms=batch_ms):
            n_msgs += 1
            obj = json.loads(value)
            assert isinstance(obj, list) == batched
            evs = _events(value)
            if batch > 1:
                assert 1 <= len(evs) <= batch
            elif batch_ms is None:
                assert len(evs) == 1  # one event object per message
            else:
                assert len(evs) >= 1  # however many the time window holds (checked below)
            assert {e["sym"] for e in evs} == {key.decode()}
            assert all(e["ev"] == kind for e in evs)
            assert ts_ms == evs[0]["t"] // 1_000_000
            assert ts_ms >= last_ts  # merged in time order
            last_ts = ts_ms
            if batch_ms is not None:
                assert len({e["t"] // (batch_ms * 1_000_000) for e in evs}) == 1
            per_sym[key.decode()].extend(evs)
        if not batched:
            assert n_msgs == cols["ts_ns"].size
        for i, sym in enumerate(small.symbols):
            r = _rows(cols, i)
            evs = per_sym[sym]
            assert len(evs) == r.size
            df = pd.DataFrame(evs)
            assert np.array_equal(df["t"].to_numpy(), cols["ts_ns"][r])
            assert np.array_equal(df["q"].to_numpy(), cols["seq"][r])
            assert np.array_equal(df["z"].to_numpy(), cols["tape"][r])
            starts, lens = cols["cond_start"][r], cols["cond_len"][r]
            conds = [cols["cond"][s : s + n].tolist() for s, n in zip(starts, lens, strict=True)]
            assert df["c"].tolist() == conds
            if kind == "T":
                assert np.array_equal(df["p"].to_numpy(), cols["price"][r])
                assert np.array_equal(df["s"].to_numpy(), cols["size"][r])
                assert np.array_equal(df["x"].to_numpy(), cols["exchange"][r])
                assert df["i"].tolist() == [str(v) for v in cols["trade_id"][r]]
            else:
                for f, c in (("bp", "bid_price"), ("ap", "ask_price"), ("bs", "bid_size"), ("as", "ask_size"),
                             ("bx", "bid_exchange"), ("ax", "ask_exchange")):
                    assert np.array_equal(df[f].to_numpy(), cols[c][r]), f


def test_render_text_format(small: SimulatedDay) -> None:
    key, value, _ = next(render_messages(small, "T"))
    text = value.decode()
    assert text.startswith('{"ev":"T","sym":"' + key.decode() + '","t":')
    p = json.loads(text)["p"]
    assert f'"p":{p:.2f},' in text  # exactly two decimals
    _, qv, _ = next(render_messages(small, "Q"))
    assert '"c":[' in qv.decode() and '"bp":' in qv.decode()


def test_message_plan_groups_by_symbol_and_count() -> None:
    sym = np.array([0, 0, 0, 0, 0, 1, 1], dtype=np.int32)
    ts = np.array([1, 2, 3, 4, 5, 2, 9], dtype=np.int64) * 1_000_000
    order, bounds, msym, mts = message_plan(sym, ts, batch=2)
    groups = [order[bounds[m] : bounds[m + 1]].tolist() for m in range(len(msym))]
    assert groups == [[0, 1], [5, 6], [2, 3], [4]]
    assert msym.tolist() == [0, 1, 0, 0]
    assert np.all(np.diff(mts) >= 0)


def test_write_ground_truth(small: SimulatedDay, tmp_path) -> None:  # type: ignore[no-untyped-def]
    csv_path, json_path = write_ground_truth(small, tmp_path / "truth" / "jumps.csv")
    back = pd.read_csv(csv_path)
    assert len(back) == len(small.jumps)
    assert back["ts_ns"].tolist() == small.jumps["ts_ns"].tolist()
    summary = json.loads(json_path.read_text())
    assert summary["symbols"] == small.symbols
    assert summary["n_trades"] == small.trades["ts_ns"].size
    assert summary["n_quotes"] == small.quotes["ts_ns"].size
    assert summary["date"] == WINTER.isoformat()


@pytest.mark.slow
def test_throughput_simulate_and_render() -> None:
    warm = simulate_day(SUMMER, n_symbols=1, seed=1, trades_per_symbol=200, quotes_per_symbol=200)
    for kind in KINDS:
        for _ in render_messages(warm, kind):
            pass
    t0 = time.perf_counter()
    d = simulate_day(SUMMER, n_symbols=20, seed=1)
    t1 = time.perf_counter()
    n_bytes = 0
    n_msgs = 0
    for kind in KINDS:
        for _, value, _ in render_messages(d, kind):
            n_bytes += len(value)
            n_msgs += 1
    t2 = time.perf_counter()
    n = d.n_events
    assert n_msgs == n
    sim_rate = n / (t1 - t0) * 60
    render_rate = n / (t2 - t1) * 60
    total_rate = n / (t2 - t0) * 60
    print(
        f"\n{n} events, {n_bytes / 1e6:.0f} MB JSON: simulate {t1 - t0:.2f}s ({sim_rate / 1e6:.1f}M ev/min), "
        f"render {t2 - t1:.2f}s ({render_rate / 1e6:.1f}M ev/min), total {total_rate / 1e6:.1f}M ev/min"
    )
    assert total_rate >= 1_000_000
