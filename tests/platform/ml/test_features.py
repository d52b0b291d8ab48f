"""Features against an independent pandas version, and the no-look-ahead property: changing
any input after time t leaves every feature at t unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tickflow.ml.features import FEATURE_NAMES, MEASURES, PREVIOUS_DAY, FeatureParams, compute_features

MIN = 60_000_000_000
OPEN = 1_718_976_600_000_000_000  # 2024-06-21 13:30 UTC
N_MIN = 390
SYMS = ["AAA", "BBB", "CCC"]


def _inputs(seed: int = 0, interval: int = 1) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_bins = N_MIN // interval
    rows = []
    for s in SYMS:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n_bins)))
        rows.append(pd.DataFrame({"sym": s, "ts": OPEN + np.arange(n_bins) * interval * MIN, "close": close,
                                  "volume": rng.integers(0, 5000, n_bins).astype(float),
                                  "twap_spread": rng.uniform(0.01, 0.03, n_bins), "close_mid": close}))
    bars = pd.concat(rows, ignore_index=True)
    ind = []
    for s in SYMS:
        ts = OPEN + np.arange(N_MIN) * MIN
        c = 100 + rng.normal(0, 1, N_MIN)
        ind.append(pd.DataFrame({"sym": s, "ts": ts, "close": c, "rsi_14": rng.uniform(0, 100, N_MIN),
                                 "macd_hist": rng.normal(0, 0.1, N_MIN), "bb_upper": c + 1, "bb_lower": c - 1}))
    indicators = pd.concat(ind, ignore_index=True)
    tb = bars[["sym", "ts"]].sample(frac=0.8, random_state=seed).reset_index(drop=True)  # some bars have no trades
    n = len(tb)
    tb["lm_max_abs"] = rng.uniform(0, 5, n)
    tb["volume"] = rng.uniform(100, 1000, n)
    tb["lr_volume"] = tb["volume"] * rng.uniform(-1, 1, n)
    tb["tick_volume"] = tb["volume"] * rng.uniform(-1, 1, n)
    tb["intensity_z_last"] = rng.normal(0, 1, n)
    ms = []
    for s in SYMS:
        k = N_MIN // 15
        m = pd.DataFrame({"sym": s, "ts": OPEN + np.arange(k) * 15 * MIN, "interval_min": 15})
        for name in MEASURES:
            m[name] = rng.normal(0, 1, k)
        ms.append(m)
    prev = pd.DataFrame({"sym": SYMS[:2], **{c: rng.normal(0, 1, 2) for c in PREVIOUS_DAY}})  # CCC: no history
    return {"bars": bars, "indicators": indicators, "trade_bins": tb, "measures": pd.concat(ms, ignore_index=True),
            "previous_day": prev}


def _features(inp: dict[str, pd.DataFrame], params: FeatureParams | None = None) -> pd.DataFrame:
    return compute_features(inp["bars"], inp["indicators"], inp["trade_bins"], inp["measures"], inp["previous_day"], OPEN,
                            OPEN + N_MIN * MIN, params)


def test_matches_a_pandas_reference() -> None:
    inp = _inputs()
    got = _features(inp)
    b = inp["bars"].copy()
    g = b.groupby("sym")["close"]
    r = np.log(g.shift(0) / g.shift(1))
    b["r"] = r
    gr = b.groupby("sym")["r"]
    ref = pd.DataFrame({"ret_lag_1": r, "ret_lag_2": gr.shift(1), "ret_lag_3": gr.shift(2), "ret_lag_5": gr.shift(4)})
    for w in (5, 10, 20):
        ref[f"ma_gap_{w}"] = b["close"] / g.transform(lambda x, w=w: x.rolling(w).mean()) - 1
    gv = b.groupby("sym")["volume"]
    ref["volume_z"] = (b["volume"] - gv.transform(lambda x: x.rolling(20).mean())) / gv.transform(
        lambda x: x.rolling(20).std())
    ref["realized_vol"] = np.sqrt(gr.transform(lambda x: (x**2).rolling(20).sum()))
    ref["target"] = np.log(g.shift(-1) / b["close"])
    for col in ref.columns:
        np.testing.assert_allclose(got[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=col)
    # bar t's own trades; a bar without trades has none (NaN)
    tb = inp["trade_bins"].set_index(["sym", "ts"])
    key = pd.MultiIndex.from_frame(got[["sym", "ts"]])
    has = key.isin(tb.index)
    t = tb.reindex(key[has])
    np.testing.assert_allclose(got.loc[has, "tick_imbalance"], t["tick_volume"] / t["volume"])
    np.testing.assert_allclose(got.loc[has, "lm_max_abs"], t["lm_max_abs"])
    assert (~has).any() and got.loc[~has, ["lr_imbalance", "lm_max_abs", "intensity_z"]].isna().all().all()
    # the previous day's measures, the same on every bar; none for a symbol without history
    prev = inp["previous_day"].set_index("sym")
    assert (got.loc[got.sym == "AAA", "prev_vpin"] == prev.loc["AAA", "vpin"]).all()
    assert got.loc[got.sym == "CCC", "prev_rv"].isna().all()
    # the measure bar in force at a bar's end: the one that ended at or before it
    m = inp["measures"]
    at = got[(got.sym == "BBB") & (got.ts == OPEN + 29 * MIN)].iloc[0]  # ends 30 min after the open
    assert at.m_rv == m[(m.sym == "BBB") & (m.ts == OPEN + 15 * MIN)].rv.iloc[0]
    before = got[(got.sym == "BBB") & (got.ts == OPEN + 13 * MIN)].iloc[0]  # no measure bar has ended yet
    assert np.isnan(before.m_rv)
    assert list(got.columns) == ["sym", "ts", *FEATURE_NAMES, "target", "baseline_last"]


@pytest.mark.parametrize("interval", [1, 5])
def test_no_look_ahead(interval: int) -> None:
    params = FeatureParams(interval_min=interval)
    inp = _inputs(seed=1, interval=interval)
    base = _features(inp, params)
    step = interval * MIN
    rng = np.random.default_rng(9)
    for cut_bar in (0, 7, 40, N_MIN // interval - 2):
        t = OPEN + (cut_bar + 1) * step  # the end of bar cut_bar: what is known by then
        changed = {k: v.copy() for k, v in inp.items()}
        b = changed["bars"]
        late = b["ts"] + step > t
        for c in ("close", "volume", "twap_spread", "close_mid"):
            b.loc[late, c] = b.loc[late, c] * rng.uniform(0.5, 2.0, late.sum())
        ind = changed["indicators"]
        late = ind["ts"] + MIN > t
        for c in ("close", "rsi_14", "macd_hist", "bb_upper"):
            ind.loc[late, c] = ind.loc[late, c] * rng.uniform(0.5, 2.0, late.sum())
        tb = changed["trade_bins"]
        late = tb["ts"] + step > t
        for c in ("lm_max_abs", "lr_volume", "tick_volume", "volume", "intensity_z_last"):
            tb.loc[late, c] = tb.loc[late, c] * rng.uniform(0.5, 2.0, late.sum()) + 1
        ms = changed["measures"]
        late = ms["ts"] + 15 * MIN > t
        for c in MEASURES:
            ms.loc[late, c] = ms.loc[late, c] + rng.normal(0, 5, late.sum())
        after = _features(changed, params)
        known = base["ts"] + step <= t
        pd.testing.assert_frame_equal(base.loc[known, ["sym", "ts", *FEATURE_NAMES]],
                                      after.loc[known, ["sym", "ts", *FEATURE_NAMES]])
        # ... while the future did change them (the test would catch a leak)
        assert not base.loc[~known, list(FEATURE_NAMES)].equals(after.loc[~known, list(FEATURE_NAMES)])


def test_edge_days() -> None:
    # no measure bar and no earlier day stored; a horizon longer than the session
    inp = _inputs()
    inp["measures"] = inp["measures"].iloc[:0]
    inp["previous_day"] = inp["previous_day"].iloc[:0]
    got = _features(inp, FeatureParams(horizon=N_MIN))
    assert got["m_rv"].isna().all() and got["prev_rv"].isna().all() and got["target"].isna().all()
    assert got["ret_lag_1"].notna().sum() == 3 * (N_MIN - 1)


def test_rejects_partial_grid_and_bad_params() -> None:
    inp = _inputs()
    inp["bars"] = inp["bars"].iloc[:-1]
    with pytest.raises(ValueError, match="session grid"):
        _features(inp)
    with pytest.raises(ValueError, match="interval_min"):
        FeatureParams(interval_min=2)
