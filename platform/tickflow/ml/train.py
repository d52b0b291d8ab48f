"""XGBoost training, walk-forward validation and the metrics a model is judged by.

Data split of a training window of trading days ``d_1 .. d_W`` (rows ordered by time):

- **holdout**: the last ``holdout_days`` days. Never used to fit or to stop; a model's
  reported metrics and the champion decision (:mod:`tickflow.ml.registry`) are on it.
- **fit / early stopping**: the earlier days; the last ``valid_fraction`` of their bar
  times is the early-stopping set (time-ordered, never shuffled: a random split would let
  the booster stop on rows interleaved with the ones it fitted).
- **walk-forward**: on the fit days, for each of the last ``walk_forward_folds`` days ``d_i``,
  a model fitted on ``d_1 .. d_{i-1}`` (same early stopping) is scored on ``d_i``; the mean
  over folds estimates how the procedure does on days it has not seen, beyond one holdout.

Metrics (:func:`evaluate`), each next to the naive baselines *zero return* (predict 0) and
*last return* (predict the last ``horizon``-bar return, ``baseline_last``):
RMSE; directional accuracy (share of rows with a non-zero realized return whose sign is
predicted; a zero prediction counts as wrong); information coefficient (Spearman rank
correlation of prediction and realized return).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from tickflow.ml.device import training_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    window_days: int = 5
    holdout_days: int = 1
    valid_fraction: float = 0.2
    walk_forward_folds: int = 2
    num_boost_round: int = 400
    early_stopping_rounds: int = 30
    max_depth: int = 4
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 50.0
    reg_lambda: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window_days < self.holdout_days + 1:
            raise ValueError("window_days must leave at least one day to fit on besides the holdout")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ValueError("valid_fraction must be in (0, 1)")

    def booster_params(self, device: str) -> dict[str, Any]:
        return {"objective": "reg:squarederror", "tree_method": "hist", "device": device,
                "max_depth": self.max_depth, "eta": self.learning_rate, "subsample": self.subsample,
                "colsample_bytree": self.colsample_bytree, "min_child_weight": self.min_child_weight,
                "lambda": self.reg_lambda, "seed": self.seed, "eval_metric": "rmse", "nthread": 0}


@dataclass
class TrainResult:
    booster: xgb.Booster
    features: list[str]
    fit_days: list[Any]
    holdout_days: list[Any]
    metrics: dict[str, float]  # on the holdout
    walk_forward: dict[str, float]
    importance: dict[str, float]
    best_iteration: int
    device: str
    rows: dict[str, int] = field(default_factory=dict)
    holdout_pred: np.ndarray = field(default_factory=lambda: np.empty(0))
    holdout_true: np.ndarray = field(default_factory=lambda: np.empty(0))
    calibration: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3:
        return math.nan
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _direction(pred: np.ndarray, y: np.ndarray) -> float:
    live = y != 0
    return float(np.mean(np.sign(pred[live]) == np.sign(y[live]))) if live.any() else math.nan


def evaluate(y: np.ndarray, pred: np.ndarray, last: np.ndarray) -> dict[str, float]:
    """RMSE, directional accuracy and IC of ``pred`` and of the two naive baselines, on the
    rows where the target is defined (the last-return baseline counts as 0 where undefined)."""
    ok = np.isfinite(y)
    y, pred, last = y[ok], pred[ok], np.nan_to_num(last[ok])
    if y.size == 0:
        return {"rows": 0.0}
    out = {"rows": float(y.size),
           "rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
           "rmse_zero": float(np.sqrt(np.mean(y**2))),
           "rmse_last": float(np.sqrt(np.mean((last - y) ** 2))),
           "directional_accuracy": _direction(pred, y),
           "directional_accuracy_last": _direction(last, y),
           "ic": _spearman(pred, y),
           "ic_last": _spearman(last, y)}
    out["rmse_vs_zero"] = out["rmse"] / out["rmse_zero"] if out["rmse_zero"] > 0 else math.nan
    return out


def _fit(x: np.ndarray, y: np.ndarray, ts: np.ndarray, features: list[str], params: TrainParams,
         device: str, purge_ns: int) -> tuple[xgb.Booster, int, float]:
    """Fit rows ``x``/``y`` (float32) with early stopping on the last ``valid_fraction`` of
    their bar times ``ts``; fitted rows whose target reaches into that set (``ts`` within
    ``purge_ns`` of it) are dropped, so the stopping rows are truly unseen. Returns the booster, its best round and the seconds spent in
    XGBoost itself (DMatrix construction and ``xgboost.train``: what plain XGBoost on an
    in-memory matrix would spend; the rest of a training run is our overhead)."""
    if ts.size == 0:
        raise ValueError("no rows with a realized target to fit on")
    times = np.unique(ts)
    cut = times[int(len(times) * (1.0 - params.valid_fraction))] if len(times) > 1 else times[-1] + 1
    early = ts < cut - purge_ns
    late = ts >= cut
    if not early.any():
        early, late = ts < cut, np.zeros(ts.size, dtype=bool)  # too few bar times to split: no stopping
    x_fit, y_fit, x_valid, y_valid = x[early], y[early], x[late], y[late]
    t0 = time.perf_counter()
    dfit = xgb.DMatrix(x_fit, label=y_fit, feature_names=features)
    evals = [(dfit, "fit")]
    if len(y_valid):
        evals.append((xgb.DMatrix(x_valid, label=y_valid, feature_names=features), "valid"))
    booster = xgb.train(params.booster_params(device), dfit, num_boost_round=params.num_boost_round, evals=evals,
                        early_stopping_rounds=params.early_stopping_rounds if len(evals) > 1 else None,
                        verbose_eval=False)
    spent = time.perf_counter() - t0
    best = int(getattr(booster, "best_iteration", params.num_boost_round - 1))
    # keep the trees up to the best round only: the stored artifact then predicts as validated
    return booster[: best + 1], best, spent


def _predict(booster: xgb.Booster, x: np.ndarray, features: list[str]) -> np.ndarray:
    if x.shape[0] == 0:
        return np.empty(0)
    return booster.predict(xgb.DMatrix(x, feature_names=features)).astype(np.float64)


def predict(booster: xgb.Booster, df: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Predictions of ``booster`` on the rows of ``df``."""
    return _predict(booster, df[features].to_numpy(np.float32), features)


def calibrate(pred: np.ndarray, y: np.ndarray, bins: int = 5) -> dict[str, list[float]]:
    """Directional hit rate on the holdout per quantile bin of ``|pred|``: the basis of a
    prediction's confidence (:func:`confidence`)."""
    live = np.isfinite(y) & (y != 0)
    a, hit = np.abs(pred[live]), (np.sign(pred[live]) == np.sign(y[live])).astype(np.float64)
    if a.size < bins:
        return {"edges": [], "hit_rate": [float(hit.mean()) if a.size else 0.5]}
    edges = np.quantile(a, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, a, side="right")
    rate = [float(hit[which == b].mean()) if np.any(which == b) else 0.5 for b in range(bins)]
    return {"edges": [float(e) for e in edges], "hit_rate": rate}


def confidence(pred: np.ndarray, calibration: dict[str, list[float]]) -> np.ndarray:
    """Confidence of each prediction's direction: the holdout hit rate of the model's
    predictions of similar magnitude (same ``|pred|`` quantile bin, :func:`calibrate`).
    0.5 means a coin flip; a zero prediction (no direction) gets 0."""
    edges = np.asarray(calibration.get("edges", []), dtype=np.float64)
    rate = np.asarray(calibration.get("hit_rate", [0.5]), dtype=np.float64)
    which = np.searchsorted(edges, np.abs(pred), side="right") if edges.size else np.zeros(pred.size, np.int64)
    out = rate[np.minimum(which, rate.size - 1)]
    return np.where(pred == 0, 0.0, out)


def train_model(df: pd.DataFrame, features: list[str], params: TrainParams, device: str | None = None,
                purge_ns: int = 0) -> TrainResult:
    """Walk-forward validation, the final fit and its holdout metrics, on the window ``df``
    (columns day, ts, ``features``, target, baseline_last). ``purge_ns``: how far a target
    reaches past its row's ``ts`` (horizon x bar length), for the early-stopping split."""
    t0 = time.perf_counter()
    device = device or training_device()
    days = sorted(df["day"].unique())
    if len(days) < params.holdout_days + 1:
        raise ValueError(f"{len(days)} day(s) of features; training needs at least {params.holdout_days + 1}")
    hold_days, fit_days = days[-params.holdout_days:], days[: -params.holdout_days]
    # one float32 matrix, then boolean masks: no DataFrame copy per split
    x = df[features].to_numpy(np.float32)
    y = df["target"].to_numpy(np.float64)
    ts = df["ts"].to_numpy(np.int64)
    last = df["baseline_last"].to_numpy(np.float64)
    day = df["day"]
    is_fit = day.isin(fit_days).to_numpy() & np.isfinite(y)
    is_hold = day.isin(hold_days).to_numpy()

    folds = []
    for d in fit_days[1:][-params.walk_forward_folds:] if params.walk_forward_folds > 0 else []:
        before = is_fit & (day < d).to_numpy()
        on = is_fit & (day == d).to_numpy()
        if not before.any() or not on.any():
            continue
        b, _, _ = _fit(x[before], y[before], ts[before], features, params, device, purge_ns)
        folds.append(evaluate(y[on], _predict(b, x[on], features), last[on]))
    walk = {k: float(np.nanmean([f[k] for f in folds])) for k in folds[0]} if folds else {}
    if walk:
        walk["folds"] = float(len(folds))
    t1 = time.perf_counter()
    if not is_fit.any():
        raise ValueError(f"no realized targets on the fit days {fit_days[0]}..{fit_days[-1]}")
    booster, best, in_xgboost = _fit(x[is_fit], y[is_fit], ts[is_fit], features, params, device, purge_ns)
    t2 = time.perf_counter()
    y_hold = y[is_hold]
    pred = _predict(booster, x[is_hold], features)
    metrics = evaluate(y_hold, pred, last[is_hold])
    gain = {k: float(v) for k, v in booster.get_score(importance_type="gain").items()}  # type: ignore[arg-type]
    total = sum(gain.values()) or 1.0
    importance = {f: gain.get(f, 0.0) / total for f in features}
    return TrainResult(booster=booster, features=list(features), fit_days=fit_days, holdout_days=hold_days,
                       metrics=metrics, walk_forward=walk, importance=importance, best_iteration=best, device=device,
                       rows={"fit": int(is_fit.sum()), "holdout": int(np.isfinite(y_hold).sum())},
                       holdout_pred=pred, holdout_true=y_hold, calibration=calibrate(pred, y_hold),
                       seconds={"walk_forward": t1 - t0, "fit": t2 - t1, "fit_in_xgboost": in_xgboost,
                                "holdout": time.perf_counter() - t2})
