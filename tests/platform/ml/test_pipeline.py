"""The model pipeline on the real store: features per day, training with the registry and
the champion rule, point-in-time predictions and their evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.conftest import ML_DAYS as DAYS
from tickflow import sessions
from tickflow.derive.entry_points import run_bars, run_indicators, run_signals
from tickflow.ml import pipeline, registry
from tickflow.ml.feature_store import features_for_day, read_features
from tickflow.ml.features import FEATURE_NAMES, FeatureParams
from tickflow.ml.train import evaluate, predict

MIN_NS = 60_000_000_000


def _all_features(dsn: str) -> None:
    for d in DAYS:
        pipeline.run_features(dsn, d)


def test_features_are_stored_per_day(ml_dsn: str) -> None:
    meta = pipeline.run_features(ml_dsn, DAYS[0])
    assert meta["rows"] == 3 * 390 and meta["labelled_rows"] == 3 * 389 and meta["symbols"] == 3
    pipeline.run_features(ml_dsn, DAYS[0])  # a re-run replaces the day
    with psycopg.connect(ml_dsn) as conn:
        stored = read_features(ml_dsn, [DAYS[0]], 1, 1)
        fresh = features_for_day(conn, DAYS[0], FeatureParams()).sort_values(["ts", "sym"], ignore_index=True)
    assert len(stored) == 3 * 390
    np.testing.assert_allclose(stored[list(FEATURE_NAMES)].to_numpy(), fresh[list(FEATURE_NAMES)].to_numpy(),
                               rtol=1e-12, equal_nan=True)
    # the row table (for SQL users) holds the same values as the blocks training reads
    with psycopg.connect(ml_dsn) as conn:
        rows = conn.execute("SELECT ret_lag_1, volume_z, m_ofi, prev_rv, target FROM features WHERE day = %s "
                            "ORDER BY ts, sym", (DAYS[0],)).fetchall()
    table = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float64)
    np.testing.assert_array_equal(table, stored[["ret_lag_1", "volume_z", "m_ofi", "prev_rv", "target"]].to_numpy())
    # the signals made it in: every bar has a spread, most have trade aggregates and a measure bar
    assert stored["spread_rel"].notna().all() and stored["lr_imbalance"].notna().mean() > 0.9
    assert stored["m_rv"].notna().mean() > 0.9


def test_changing_ticks_after_t_leaves_features_at_t_unchanged(ml_dsn: str) -> None:
    """No look-ahead end to end: raw ticks after t are changed, the day's bars, indicators,
    signals and features are derived again, and every feature of a bar ending by t is the
    same (the per-day fits the signals assets make are kept out of the features for this)."""
    day = DAYS[3]
    pipeline.run_features(ml_dsn, day)
    before = read_features(ml_dsn, [day], 1, 1)
    open_ns, close_ns = sessions.session_bounds_ns(day)
    t_ns = open_ns + 200 * MIN_NS
    t, end = (pd.Timestamp(x, tz="UTC").to_pydatetime() for x in (t_ns, close_ns))
    with psycopg.connect(ml_dsn) as conn, conn.transaction():
        moved = conn.execute("UPDATE trades SET price = price * (1.01 + 0.02 * random()), size = size * 3 "
                             "WHERE ts >= %s AND ts < %s", (t, end)).rowcount
        conn.execute("UPDATE quotes SET bid_price = bid_price * 1.015, ask_price = ask_price * 1.015, "
                     "bid_size = bid_size + 100 WHERE ts >= %s AND ts < %s", (t, end))
    assert moved > 1000
    run_bars(ml_dsn, day)
    run_indicators(ml_dsn, day)
    run_signals(ml_dsn, day)
    pipeline.run_features(ml_dsn, day)
    after = read_features(ml_dsn, [day], 1, 1)
    known = (before["ts"] + MIN_NS <= t_ns).to_numpy()
    assert known.sum() == 3 * 200
    cols = list(FEATURE_NAMES)
    np.testing.assert_array_equal(after.loc[known, cols].to_numpy(), before.loc[known, cols].to_numpy())
    changed = ~np.isclose(after.loc[~known, cols].to_numpy(), before.loc[~known, cols].to_numpy(), equal_nan=True)
    assert changed.any(axis=0).sum() > len(cols) // 2  # the later rows did move: the test can fail


def test_registry_and_champion_rule(ml_dsn: str) -> None:
    _all_features(ml_dsn)
    first = pipeline.run_training(ml_dsn, DAYS[4])
    assert first["champion"] and first["decision"]["reason"] == "no champion yet"
    assert first["fit_days"] == [d.isoformat() for d in DAYS[:4]]
    assert first["decision"]["holdout_days"] == [DAYS[4].isoformat()]
    assert first["decision"]["effective_day"] == DAYS[5].isoformat()
    # the same window again: an identical model does not beat the champion on the same holdout
    second = pipeline.run_training(ml_dsn, DAYS[4])
    d = second["decision"]
    assert not second["champion"] and d["incumbent_version"] == first["version"]
    assert d["challenger"]["rmse"] == pytest.approx(d["incumbent"]["rmse"]) and ">=" in d["reason"]
    with psycopg.connect(ml_dsn) as conn:
        rows = conn.execute("SELECT version, status, feature_hash, features, fit_start, fit_end, holdout_end, "
                            "metrics -> 'holdout' ->> 'rmse', params -> 'features' ->> 'horizon' "
                            "FROM model_registry ORDER BY version").fetchall()
        assert [(r[0], r[1]) for r in rows] == [(first["version"], "champion"), (second["version"], "rejected")]
        v, _, fhash, feats, fit_start, fit_end, holdout_end, rmse, horizon = rows[0]
        assert (fit_start, fit_end, holdout_end) == (DAYS[0], DAYS[3], DAYS[4]) and horizon == "1"
        assert feats == list(FEATURE_NAMES) and fhash == first["feature_hash"]
        assert float(rmse) == pytest.approx(first["metrics"]["rmse"], rel=1e-5)
        # the stored artifact predicts the holdout as the trained model did
        hold = read_features(ml_dsn, [DAYS[4]], 1, 1)
        stored = predict(registry.load_booster(conn, v), hold, feats)
        np.testing.assert_allclose(stored, first["holdout_pred"], rtol=1e-6)
        assert registry.current_champion(conn, pipeline.MODEL_NAME).version == v  # type: ignore[union-attr]


def test_predictions_use_the_champion_in_force_at_the_day_start(ml_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _all_features(ml_dsn)
    v1 = pipeline.run_training(ml_dsn, DAYS[4])["version"]  # saw DAYS[0..4]: champion from DAYS[5]
    monkeypatch.setattr(registry, "challenge", lambda *_: registry.Challenge(True, "promoted for the test", None, False))
    v2 = pipeline.run_training(ml_dsn, DAYS[6])["version"]  # saw DAYS[2..6]: champion from DAYS[7]
    # backfill every day after both models exist, newest first
    metas = {d: pipeline.run_predictions(ml_dsn, d) for d in reversed(DAYS)}
    assert all(metas[d]["rows"] == 0 and "no price_model champion" in metas[d]["note"] for d in DAYS[:5])
    assert [metas[d]["model_version"] for d in DAYS[5:]] == [v1, v1, v2]
    with psycopg.connect(ml_dsn) as conn:
        used = conn.execute("SELECT p.day, p.model_version, m.holdout_end, count(*) FROM predictions p "
                            "JOIN model_registry m ON m.version = p.model_version GROUP BY 1, 2, 3 ORDER BY 1").fetchall()
        assert [(r[0], r[1], r[3]) for r in used] == [(DAYS[5], v1, 3 * 390), (DAYS[6], v1, 3 * 390),
                                                      (DAYS[7], v2, 3 * 390)]
        assert all(holdout_end < day for day, _, holdout_end, _ in used)  # never a model that saw the day
        feats = read_features(ml_dsn, [DAYS[6]], 1, 1)
        expect = predict(registry.load_booster(conn, v1), feats, list(FEATURE_NAMES))
        got = conn.execute("SELECT predicted_return, direction, confidence FROM predictions WHERE day = %s "
                           "ORDER BY ts, sym", (DAYS[6],)).fetchall()
        calib = conn.execute("SELECT metrics -> 'calibration' FROM model_registry WHERE version = %s",
                             (v1,)).fetchone()[0]  # type: ignore[index]
    pred = np.array([g[0] for g in got])
    np.testing.assert_allclose(pred, expect, rtol=1e-6)
    assert all(g[1] == int(np.sign(g[0])) for g in got)
    rates = set(calib["hit_rate"]) | {0.0}
    assert all(round(g[2], 9) in {round(r, 9) for r in rates} for g in got)


def test_evaluation_scores_the_day(ml_dsn: str) -> None:
    _all_features(ml_dsn)
    version = pipeline.run_training(ml_dsn, DAYS[4])["version"]
    pipeline.run_predictions(ml_dsn, DAYS[5])
    meta = pipeline.run_evaluation(ml_dsn, DAYS[5])
    with psycopg.connect(ml_dsn) as conn:
        feats = read_features(ml_dsn, [DAYS[5]], 1, 1)
        pred = np.array([r[0] for r in conn.execute("SELECT predicted_return FROM predictions WHERE day = %s "
                                                    "ORDER BY ts, sym", (DAYS[5],))])
        stored = conn.execute("SELECT model_version, metrics FROM model_evaluations WHERE day = %s",
                              (DAYS[5],)).fetchall()
    expect = evaluate(feats["target"].to_numpy(), pred, feats["baseline_last"].to_numpy())
    assert meta["model_version"] == version and stored[0][0] == version
    for k in ("rmse", "rmse_zero", "rmse_last", "directional_accuracy", "ic"):
        assert meta[k] == pytest.approx(expect[k], abs=1e-6) and stored[0][1][k] == pytest.approx(expect[k])
    assert meta["rows"] == 3 * 389  # the day's last bar has no realized next return


def test_training_backfilled_out_of_order(ml_dsn: str) -> None:
    """A model trained later for an earlier day is judged against the champion in force where
    it would take over, and is in force only until the next promotion."""
    _all_features(ml_dsn)
    newer = pipeline.run_training(ml_dsn, DAYS[6])  # in force from DAYS[7]
    older = pipeline.run_training(ml_dsn, DAYS[4])  # backfilled: would take over at DAYS[5]
    assert older["champion"] and older["decision"]["incumbent_version"] is None  # none was in force there
    with psycopg.connect(ml_dsn) as conn:
        in_force = {d: registry.champion_for_day(conn, pipeline.MODEL_NAME, d) for d in DAYS[4:]}
        status = dict(conn.execute("SELECT version, status FROM model_registry").fetchall())
        current = registry.current_champion(conn, pipeline.MODEL_NAME)
    assert in_force[DAYS[4]] is None
    assert [in_force[d].version for d in DAYS[5:]] == [older["version"], older["version"],  # type: ignore[union-attr]
                                                        newer["version"]]
    assert status == {newer["version"]: "champion", older["version"]: "retired"}
    assert current is not None and current.version == newer["version"]
