"""The model registry in the store, the champion rule and point-in-time model lookup.

``model_registry``: one row per trained model: ``version``, the as-of trading day it was
trained for, its fit and holdout days, parameters, feature list and hash, metrics (holdout,
walk-forward, baselines), the XGBoost model as UBJ bytes, the device it trained on, its
``status`` (``champion``, ``retired`` = a former champion, ``rejected`` = lost its challenge)
and the ``decision`` (both models' numbers on the same holdout, and why).

Champion rule (:func:`challenge`, the whole of it, and nowhere else): a new
model becomes champion only if its RMSE on its own holdout days is below the RMSE on *those
same rows* of the champion in force where it would take over. With none in force it becomes
champion; against a champion fitted on the holdout (no fair comparison) it is rejected; against
a champion with another feature set (not comparable) it replaces it.

Point in time: a promotion takes effect from ``effective_day``, the first trading day after
the model's holdout (the last day whose data it saw). ``champion_history`` keeps every
promotion, and :func:`champion_for_day` returns the model in force at the start of a day:
the promotion with the latest ``effective_day <= day`` (the later promotion if two share
it). A model is therefore never used on a day it saw, however late it was trained or a
prediction backfilled.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import xgboost as xgb

log = logging.getLogger(__name__)
@dataclass(frozen=True)
class ModelRecord:
    version: int
    model_name: str
    as_of_day: dt.date
    fit_end: dt.date
    holdout_start: dt.date
    holdout_end: dt.date
    features: list[str]
    feature_hash: str
    metrics: dict[str, Any]
    status: str
    params: dict[str, Any]


_COLS = "version, model_name, as_of_day, fit_end, holdout_start, holdout_end, features, feature_hash, metrics, status, params"


def _record(row: tuple) -> ModelRecord:  # type: ignore[type-arg]
    return ModelRecord(*row)


def get(conn: psycopg.Connection, version: int) -> ModelRecord:
    row = conn.execute(f"SELECT {_COLS} FROM model_registry WHERE version = %s", (version,)).fetchone()  # noqa: S608
    if row is None:
        raise LookupError(f"no model version {version}")
    return _record(row)


def load_booster(conn: psycopg.Connection, version: int) -> xgb.Booster:
    row = conn.execute("SELECT artifact FROM model_registry WHERE version = %s", (version,)).fetchone()
    if row is None:
        raise LookupError(f"no model version {version}")
    booster = xgb.Booster()
    booster.load_model(bytearray(row[0]))
    return booster


def current_champion(conn: psycopg.Connection, model_name: str) -> ModelRecord | None:
    """The champion of the latest promotion (in force from its effective day on)."""
    row = conn.execute("SELECT version FROM champion_history WHERE model_name = %s "
                       "ORDER BY effective_day DESC, promoted_at DESC LIMIT 1", (model_name,)).fetchone()
    return get(conn, row[0]) if row else None


def champion_for_day(conn: psycopg.Connection, model_name: str, day: dt.date) -> ModelRecord | None:
    """The champion in force at the start of ``day`` (module docstring), or None."""
    row = conn.execute("SELECT version FROM champion_history WHERE model_name = %s AND effective_day <= %s "
                       "ORDER BY effective_day DESC, promoted_at DESC LIMIT 1", (model_name, day)).fetchone()
    return get(conn, row[0]) if row else None


@dataclass(frozen=True)
class Challenge:
    promote: bool
    reason: str
    incumbent_metrics: dict[str, float] | None  # the incumbent on the challenger's holdout rows
    incumbent_saw_holdout: bool


def challenge(incumbent: ModelRecord | None, holdout_start: dt.date, feature_hash: str, challenger_rmse: float,
              score: Callable[[ModelRecord], dict[str, float]]) -> Challenge:
    """The champion rule (module docstring): ``incumbent`` is the champion in force where the
    challenger would take over; ``score`` evaluates it on the challenger's holdout rows (called
    only when the two are comparable)."""
    if incumbent is None:
        return Challenge(True, "no champion yet", None, False)
    if incumbent.fit_end >= holdout_start:
        return Challenge(False, f"champion v{incumbent.version} in force was fitted on data through "
                                f"{incumbent.fit_end}, which includes this holdout: no fair comparison", None, True)
    if incumbent.feature_hash != feature_hash:
        log.warning("champion v%d has other features (%s != %s): not comparable, the new model replaces it",
                    incumbent.version, incumbent.feature_hash, feature_hash)
        return Challenge(True, "champion's features differ from the current feature set", None, False)
    metrics = score(incumbent)
    incumbent_rmse = metrics.get("rmse", float("nan"))
    if not math.isfinite(challenger_rmse):
        return Challenge(False, "challenger RMSE undefined on the holdout", metrics, False)
    if not math.isfinite(incumbent_rmse) or challenger_rmse < incumbent_rmse:
        return Challenge(True, f"holdout RMSE {challenger_rmse:.6g} < champion's {incumbent_rmse:.6g}", metrics, False)
    return Challenge(False, f"holdout RMSE {challenger_rmse:.6g} >= champion's {incumbent_rmse:.6g}", metrics, False)


def to_json(obj: Any) -> str:
    """JSON with non-finite floats as null (PostgreSQL's jsonb has no NaN)."""
    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x
    return json.dumps(clean(obj), default=str)


def register(conn: psycopg.Connection, *, model_name: str, as_of_day: dt.date, fit_days: list[dt.date],
             holdout_days: list[dt.date], params: dict[str, Any], features: list[str], feature_hash: str,
             metrics: dict[str, Any], device: str, booster: xgb.Booster, promote: bool, decision: dict[str, Any],
             effective_day: dt.date) -> int:
    """Store a trained model with its decision; if ``promote``, make it champion from
    ``effective_day``. Statuses follow ``champion_history``: ``champion`` for the model of the
    latest promotion, ``retired`` for other promoted ones, ``rejected`` for the rest (a model
    promoted by a backfill for an earlier day is in force there, not after a later one).
    Runs in the caller's transaction."""
    status = "rejected"  # set below from champion_history when promoted
    row = conn.execute(
        "INSERT INTO model_registry (model_name, as_of_day, fit_start, fit_end, holdout_start, holdout_end, params, "
        "features, feature_hash, metrics, device, artifact, status, decision) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING version",
        (model_name, as_of_day, fit_days[0], fit_days[-1], holdout_days[0], holdout_days[-1], to_json(params),
         to_json(features), feature_hash, to_json(metrics), device, bytes(booster.save_raw("ubj")), status,
         to_json(decision)),
    ).fetchone()
    assert row is not None
    version = int(row[0])
    if promote:
        conn.execute("INSERT INTO champion_history (model_name, effective_day, version) VALUES (%s, %s, %s)",
                     (model_name, effective_day, version))
        conn.execute(
            "UPDATE model_registry SET status = CASE "
            " WHEN version = (SELECT version FROM champion_history WHERE model_name = %(m)s"
            "                 ORDER BY effective_day DESC, promoted_at DESC LIMIT 1) THEN 'champion'"
            " WHEN version IN (SELECT version FROM champion_history WHERE model_name = %(m)s) THEN 'retired'"
            " ELSE 'rejected' END WHERE model_name = %(m)s", {"m": model_name})
    return version
