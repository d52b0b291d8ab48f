"""`tickflow model list` and `tickflow model promote vN --who --why`: the champion by hand.

A manual promotion (a rollback to an earlier champion, or overruling the rule) is a recorded
decision: a ``champion_decisions`` row (who, why, when, the version it replaces) written in
the same transaction as the ``champion_history`` promotion, so the registry's point-in-time
rule (tickflow.ml.registry) still holds: the promoted model is in force from
``effective_day`` (default: the next trading day), and never on a day up to its own holdout,
which it has seen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import psycopg

from tickflow import sessions
from tickflow.ml import registry
from tickflow.store.locks import Lock

# The same status rule as registry.register: champion = latest promotion, retired = other
# promoted models, rejected = never promoted.
_STATUSES = (
    "UPDATE model_registry SET status = CASE "
    " WHEN version = (SELECT version FROM champion_history WHERE model_name = %(m)s"
    "                 ORDER BY effective_day DESC, promoted_at DESC LIMIT 1) THEN 'champion'"
    " WHEN version IN (SELECT version FROM champion_history WHERE model_name = %(m)s) THEN 'retired'"
    " ELSE 'rejected' END WHERE model_name = %(m)s")


@dataclass(frozen=True)
class ModelRow:
    version: int
    as_of_day: dt.date
    holdout_end: dt.date
    status: str
    holdout_rmse: float | None
    directional_accuracy: float | None
    device: str
    created_at: dt.datetime


def list_models(dsn: str, model_name: str) -> list[ModelRow]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT version, as_of_day, holdout_end, status, (metrics->'holdout'->>'rmse')::float8, "
            "(metrics->'holdout'->>'directional_accuracy')::float8, device, created_at FROM model_registry "
            "WHERE model_name = %s ORDER BY version", (model_name,)).fetchall()
    return [ModelRow(*r) for r in rows]


def decisions(dsn: str, model_name: str) -> list[tuple[int, int | None, dt.date, str, str, dt.datetime]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT version, replaced, effective_day, decided_by, reason, decided_at FROM champion_decisions "
            "WHERE model_name = %s ORDER BY id", (model_name,)).fetchall()]


def promote(dsn: str, model_name: str, version: int, who: str, why: str,
            effective_day: dt.date | None = None) -> tuple[int | None, dt.date]:
    """Make ``version`` champion from ``effective_day`` (default: the next trading day after
    today in New York); returns (the version it replaces, the effective day)."""
    if not who.strip() or not why.strip():
        raise ValueError("a promotion needs --who and --why (they are recorded)")
    today = dt.datetime.now(ZoneInfo(sessions.NY)).date()
    effective = effective_day or sessions.next_trading_day(today)
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(Lock.CHAMPION_DECISION),))  # as training's decisions
        rec = registry.get(conn, version)
        if rec.model_name != model_name:
            raise ValueError(f"v{version} is a {rec.model_name} model, not {model_name}")
        if effective <= rec.holdout_end:
            raise ValueError(f"v{version} saw data up to {rec.holdout_end}: it cannot be in force from {effective}")
        current = registry.current_champion(conn, model_name)
        conn.execute("INSERT INTO champion_history (model_name, effective_day, version) VALUES (%s, %s, %s)",
                     (model_name, effective, version))
        conn.execute("INSERT INTO champion_decisions (model_name, version, replaced, effective_day, decided_by, "
                     "reason) VALUES (%s, %s, %s, %s, %s, %s)",
                     (model_name, version, current.version if current else None, effective, who.strip(), why.strip()))
        conn.execute(_STATUSES, {"m": model_name})
    return (current.version if current else None), effective
