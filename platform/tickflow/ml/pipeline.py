"""One step of the model pipeline against the store; the Dagster ``ml`` assets call these.

- :func:`run_features`: a day's features from its bars, indicators and signals;
- :func:`run_training`: train on the window ending at an as-of day, register the model and
  apply the champion rule (:mod:`tickflow.ml.registry`);
- :func:`run_predictions`: a day's predictions by the champion in force at that day's start;
- :func:`run_evaluation`: a day's predictions against the realized returns, and baselines.

Each returns a plain dict of metadata (and the plots, for training).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

import numpy as np
import psycopg

from tickflow import sessions
from tickflow.ml import registry
from tickflow.ml.feature_store import (
    PREDICTIONS,
    feature_days,
    features_for_day,
    read_features,
    write_features,
)
from tickflow.ml.features import FEATURE_NAMES, FeatureParams, feature_hash
from tickflow.ml.train import TrainParams, confidence, evaluate, predict, train_model
from tickflow.store import derived
from tickflow.store.locks import Lock

MODEL_NAME = "price_model"


def _round(d: dict[str, float], digits: int = 8) -> dict[str, float]:
    """Significant digits (returns are ~1e-3: fixed decimals would lose them)."""
    return {k: (float(f"{float(v):.{digits}g}") if np.isfinite(v) else float("nan")) for k, v in d.items()}


def run_features(dsn: str, day: dt.date, params: FeatureParams | None = None,
                 signals: tuple[list[str], dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """``signals``: see :func:`~tickflow.ml.feature_store.features_for_day`."""
    p = params or FeatureParams()
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        frame = features_for_day(conn, day, p, signals)
        t1 = time.perf_counter()
        with conn.transaction():
            rows = write_features(conn, day, frame, p)
    labelled = int(np.isfinite(frame["target"].to_numpy(np.float64)).sum()) if rows else 0
    return {"day": day.isoformat(), "rows": rows, "symbols": int(frame["sym"].nunique()) if rows else 0,
            "labelled_rows": labelled, "features": len(FEATURE_NAMES), "interval_min": p.interval_min,
            "horizon": p.horizon, "feature_hash": feature_hash(FEATURE_NAMES, p),
            "seconds_compute": round(t1 - t0, 4), "seconds_write": round(time.perf_counter() - t1, 4)}


def run_training(dsn: str, as_of_day: dt.date, fparams: FeatureParams | None = None,
                 tparams: TrainParams | None = None, model_name: str = MODEL_NAME,
                 device: str | None = None) -> dict[str, Any]:
    """Train on the ``window_days`` feature days ending at ``as_of_day``, register, decide."""
    fp, tp = fparams or FeatureParams(), tparams or TrainParams()
    features = list(FEATURE_NAMES)
    fhash = feature_hash(FEATURE_NAMES, fp)
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        days = feature_days(conn, as_of_day, tp.window_days, fp.interval_min, fp.horizon)
        if not days or days[-1] != as_of_day:
            raise RuntimeError(f"no features stored for {as_of_day} (interval {fp.interval_min} min, horizon "
                               f"{fp.horizon}): materialize features for it first")
        if len(days) < tp.holdout_days + 1:
            raise RuntimeError(f"only {len(days)} day(s) of features up to {as_of_day}; training needs at least "
                               f"{tp.holdout_days + 1} (window {tp.window_days})")
        df = read_features(dsn, days, fp.interval_min, fp.horizon)
    t_load = time.perf_counter() - t0
    result = train_model(df, features, tp, device, purge_ns=fp.horizon * fp.interval_min * 60_000_000_000)
    hold = df[df["day"].isin(result.holdout_days)]
    t1 = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(Lock.CHAMPION_DECISION),))
        effective = sessions.next_trading_day(result.holdout_days[-1])
        # the incumbent is the champion in force where this model would take over: with
        # training backfilled out of order, not necessarily the newest champion
        incumbent = registry.champion_for_day(conn, model_name, effective)

        def score(model: registry.ModelRecord) -> dict[str, float]:
            booster = registry.load_booster(conn, model.version)
            return evaluate(hold["target"].to_numpy(), predict(booster, hold, model.features),
                            hold["baseline_last"].to_numpy())

        verdict = registry.challenge(incumbent, result.holdout_days[0], fhash,
                                     result.metrics.get("rmse", float("nan")), score)
        promote, reason = verdict.promote, verdict.reason
        incumbent_metrics, saw_holdout = verdict.incumbent_metrics, verdict.incumbent_saw_holdout
        decision = {"promoted": promote, "reason": reason, "effective_day": effective.isoformat(),
                    "holdout_days": [d.isoformat() for d in result.holdout_days],
                    "challenger": _round(result.metrics),
                    "incumbent_version": incumbent.version if incumbent else None,
                    "incumbent": _round(incumbent_metrics) if incumbent_metrics else None,
                    "incumbent_saw_holdout": saw_holdout}
        metrics = {"holdout": _round(result.metrics), "walk_forward": _round(result.walk_forward),
                   "importance": _round(result.importance), "calibration": result.calibration,
                   "best_iteration": result.best_iteration, "rows": result.rows}
        params = {"train": dataclasses.asdict(tp), "features": dataclasses.asdict(fp),
                  "booster": tp.booster_params(result.device)}
        version = registry.register(conn, model_name=model_name, as_of_day=as_of_day, fit_days=result.fit_days,
                                    holdout_days=result.holdout_days, params=params, features=features,
                                    feature_hash=fhash, metrics=metrics, device=result.device,
                                    booster=result.booster, promote=promote, decision=decision,
                                    effective_day=effective)
    t_registry = time.perf_counter() - t1
    return {"version": version, "champion": promote, "decision": decision, "metrics": result.metrics,
            "walk_forward": result.walk_forward, "importance": result.importance, "rows": result.rows,
            "device": result.device, "fit_days": [d.isoformat() for d in result.fit_days],
            "feature_hash": fhash, "best_iteration": result.best_iteration,
            "holdout_pred": result.holdout_pred, "holdout_true": result.holdout_true,
            "seconds": {"load": t_load, **result.seconds, "registry": t_registry}}


def run_predictions(dsn: str, day: dt.date, model_name: str = MODEL_NAME) -> dict[str, Any]:
    """Predict ``day`` with the champion in force at its start (point in time); the model's
    own feature parameters (bar interval, horizon) select the feature rows."""
    with psycopg.connect(dsn) as conn:
        model = registry.champion_for_day(conn, model_name, day)
        if model is None:
            with conn.transaction():
                derived.replace_day(conn, PREDICTIONS, day, [], {})  # the day holds no predictions
            return {"day": day.isoformat(), "rows": 0, "model_version": None,
                    "note": f"no {model_name} champion in force at the start of {day}"}
        if model.holdout_end >= day:  # impossible by construction; never predict with a model that saw the day
            raise RuntimeError(f"model v{model.version} saw data through {model.holdout_end}; cannot predict {day}")
        fp = FeatureParams(**model.params["features"])
        df = read_features(dsn, [day], fp.interval_min, fp.horizon, tuple(model.features))
        booster = registry.load_booster(conn, model.version)
        pred = predict(booster, df, model.features)
        conf = confidence(pred, model.metrics.get("calibration", {}))
        symbols = sorted(df["sym"].unique().tolist())
        n = len(df)
        cols = {"sym": np.searchsorted(symbols, df["sym"].to_numpy()).astype(np.int64),
                "ts": df["ts"].to_numpy(np.int64), "interval_min": np.full(n, fp.interval_min, np.int64),
                "horizon": np.full(n, fp.horizon, np.int64), "model_version": np.full(n, model.version, np.int64),
                "predicted_return": pred, "direction": np.sign(pred).astype(np.int64), "confidence": conf}
        with conn.transaction():  # the whole day: rows of an earlier model's bar interval go too
            rows = derived.replace_day(conn, PREDICTIONS, day, symbols, cols)
    return {"day": day.isoformat(), "rows": rows, "symbols": len(symbols), "model_version": model.version,
            "model_trained_as_of": model.as_of_day.isoformat(), "model_saw_through": model.holdout_end.isoformat(),
            "up": int((pred > 0).sum()), "down": int((pred < 0).sum()),
            "mean_confidence": float(conf.mean()) if n else float("nan")}


def run_evaluation(dsn: str, day: dt.date, model_name: str = MODEL_NAME) -> dict[str, Any]:
    """Score ``day``'s stored predictions against the realized returns, per model version."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT p.model_version, p.interval_min, p.horizon, p.predicted_return, f.target, f.baseline_last "
            "FROM predictions p JOIN features f USING (day, interval_min, sym, ts) "
            "WHERE p.day = %s AND f.horizon = p.horizon", (day,)).fetchall()
        out: dict[str, Any] = {"day": day.isoformat(), "rows": len(rows)}
        with conn.transaction():
            conn.execute("DELETE FROM model_evaluations WHERE day = %s AND model_name = %s", (day, model_name))
            if rows:
                arr = np.array([[np.nan if v is None else float(v) for v in r] for r in rows])
                for version in np.unique(arr[:, 0]).astype(int):
                    sel = arr[arr[:, 0] == version]
                    m = evaluate(sel[:, 4], sel[:, 3], sel[:, 5])
                    conn.execute("INSERT INTO model_evaluations (day, model_name, model_version, interval_min, horizon, "
                                 "metrics) VALUES (%s, %s, %s, %s, %s, %s)",
                                 (day, model_name, int(version), int(sel[0, 1]), int(sel[0, 2]),
                                  registry.to_json(m)))
                    out["model_version"] = int(version)
                    out.update(_round(m))
    return out
