"""Live-path checks on raw_trades and raw_quotes: freshness, consumer lag, dead-letter share.

During the XNYS regular session the ``operations_checks_sensor`` evaluates every minute,
without launching a run (its evaluations are recorded as the checks' results):

- ``fresh_in_session`` (ERROR): the newest tick of today is at most TICKFLOW_FRESHNESS_LAG_S old;
- ``consumer_lag`` (WARN): Kafka's high watermarks minus the offset ledger's heads, summed over
  the topic's partitions, at most TICKFLOW_CONSUMER_LAG_MAX messages;
- ``dead_letter_share`` (WARN): each ingest run committed since the last evaluation dead-letters
  at most TICKFLOW_DEAD_LETTER_MAX_SHARE of its messages (the worst run is reported).

Outside the session the sensor skips and nothing fires. The same checks can be executed by
hand from the asset's Checks tab (outside the session they report "not evaluated" and pass).
The decisions live in tickflow.ops.health.
"""


import datetime as dt
from collections.abc import Iterator

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    multi_asset_check,
    sensor,
)

from resources.tickflow import TickflowResource
from tickflow.config import Settings
from tickflow.kafka.lag import consumer_lag
from tickflow.ops import health

FRESH, LAG, DEAD = "fresh_in_session", "consumer_lag", "dead_letter_share"
SEVERITY = {FRESH: AssetCheckSeverity.ERROR, LAG: AssetCheckSeverity.WARN, DEAD: AssetCheckSeverity.WARN}
_DESCRIPTIONS = {
    FRESH: "During the XNYS session, the newest tick is at most TICKFLOW_FRESHNESS_LAG_S old.",
    LAG: "Kafka high watermarks minus the offset ledger heads stay under TICKFLOW_CONSUMER_LAG_MAX messages.",
    DEAD: "No ingest run dead-letters more than TICKFLOW_DEAD_LETTER_MAX_SHARE of its messages.",
}
RAW = {"trades": "raw_trades", "quotes": "raw_quotes"}  # tick table -> asset
SPECS = [AssetCheckSpec(name, asset=asset, description=_DESCRIPTIONS[name], blocking=False)
         for asset in RAW.values() for name in (FRESH, LAG, DEAD)]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def evaluate(settings: Settings, now: dt.datetime, since: dt.datetime) -> list[tuple[str, str, health.Outcome]]:
    """(asset, check, outcome) for every check; dead letters over runs committed after ``since``."""
    out = []
    for table, asset in RAW.items():
        topic = settings.topic_trades if table == "trades" else settings.topic_quotes
        newest = health.newest_tick(settings.dsn, table, now)
        out.append((asset, FRESH, health.freshness(table, newest, now, settings.freshness_lag_s)))
        out.append((asset, LAG, health.lag_outcome(topic, consumer_lag(settings, (topic,))[topic],
                                                   settings.consumer_lag_max)))
        runs = health.run_dead_letters(settings.dsn, topic, since)
        if runs:
            outcomes = [health.dead_letter_outcome(f"run {r}", m, d, settings.dead_letter_max_share)
                        for r, m, d, _ in runs]
            worst = max(outcomes, key=lambda o: o.metadata["share"])
            worst.metadata["runs"] = len(runs)
            out.append((asset, DEAD, worst))
    return out


def _evaluation(asset: str, check: str, o: health.Outcome) -> AssetCheckEvaluation:
    return AssetCheckEvaluation(asset_key=AssetKey(asset), check_name=check, passed=o.passed,
                                severity=SEVERITY[check], description=o.description, metadata=o.metadata)


@multi_asset_check(specs=SPECS, can_subset=True, name="operations_checks",
                   description="Freshness, consumer lag and dead-letter share of the live path, by hand.")
def operations_checks(context: AssetCheckExecutionContext, tickflow: TickflowResource) -> Iterator[AssetCheckResult]:
    settings, now = tickflow.settings(), utcnow()
    selected = {(k.asset_key.path[-1], k.name) for k in context.selected_asset_check_keys}
    if health.session_of(now) is None:
        for asset, check in sorted(selected):
            yield AssetCheckResult(asset_key=asset, check_name=check, passed=True, severity=SEVERITY[check],
                                   description="outside the XNYS session: not evaluated", metadata={"evaluated": False})
        return
    done = set()
    for asset, check, o in evaluate(settings, now, now - dt.timedelta(days=1)):
        if (asset, check) in selected:
            done.add((asset, check))
            yield AssetCheckResult(asset_key=asset, check_name=check, passed=o.passed, severity=SEVERITY[check],
                                   description=o.description, metadata={"evaluated": True, **o.metadata})
    for asset, check in sorted(selected - done):  # no ingest run in the last day
        yield AssetCheckResult(asset_key=asset, check_name=check, passed=True, severity=SEVERITY[check],
                               description="no ingest run in the last day", metadata={"evaluated": False})


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="During the XNYS session: freshness, consumer lag and dead-letter share of raw_trades and "
                    "raw_quotes, recorded as their checks' results without a run. Skips outside the session.")
def operations_checks_sensor(context: SensorEvaluationContext, tickflow: TickflowResource) -> SensorResult | SkipReason:
    now = utcnow()
    session = health.session_of(now)
    if session is None:
        return SkipReason("outside the XNYS regular session: freshness, lag and dead-letter checks do not fire")
    # Dead letters: the runs committed since the last evaluation (at first, since the open).
    since = dt.datetime.fromisoformat(context.cursor) if context.cursor else session[0]
    results = evaluate(tickflow.settings(), now, since)
    for asset, check, o in results:
        if not o.passed:
            context.log.warning(f"{asset} {check}: {o.description}")
    return SensorResult(asset_events=[_evaluation(*r) for r in results], cursor=now.isoformat())
