"""The live session sensor and run: a rehearsed day with stored ticks gets one live run (none
while a derived run of the day is in flight, none after one that ended with the day quiet
until ticks land again, none past the attempt limit), and that run logs
each pass of its loop as observations of the day's derived assets before its steps
recompute the day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
    evaluate_automation_conditions,
)
from dagster._core.definitions.declarative_automation.automation_condition_tester import (
    EvaluateAutomationConditionsResult,
)
from dagster._core.storage.dagster_run import DagsterRun

from resources.tickflow import TickflowResource
from sensors.live_session import DAY_TAG, live_session_job, live_session_sensor
from tests.dagster_env import use_settings
from tickflow.config import Settings
from tickflow.derive import live
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day

DAY = dt.date(2024, 6, 21)
KEY = DAY.isoformat()


def _evaluate(instance: DagsterInstance) -> SensorResult | SkipReason:
    ctx = build_sensor_context(instance=instance, resources={"tickflow": TickflowResource()})
    return live_session_sensor(ctx)  # type: ignore[no-any-return]


def _add_run(instance: DagsterInstance, status: DagsterRunStatus, tags: dict[str, str]) -> DagsterRun:
    return instance.run_storage.add_run(DagsterRun(job_name=live_session_job.name, status=status, tags=tags))


def test_a_rehearsed_day_gets_one_live_run_at_a_time(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    monkeypatch.setenv("TICKFLOW_REHEARSAL_DAYS", KEY)
    with DagsterInstance.ephemeral() as instance:
        empty = _evaluate(instance)
        assert isinstance(empty, SkipReason) and "no ticks stored" in str(empty.skip_message)
        write_simulated_day(settings.dsn, simulate_day(DAY, n_symbols=2, seed=3, trades_per_symbol=300,
                                                       quotes_per_symbol=300))
        first = _evaluate(instance)
        assert isinstance(first, SensorResult)
        (req,) = first.run_requests
        assert isinstance(req, RunRequest) and req.partition_key == KEY and req.run_key == f"live-{KEY}-0"
        assert req.tags[DAY_TAG] == KEY
        # a derived run of the day in flight (the automation sensor's, or the live run itself)
        derived = _add_run(instance, DagsterRunStatus.STARTED, {"dagster/partition": KEY, "tickflow/queue": "derived"})
        held = _evaluate(instance)
        assert isinstance(held, SkipReason) and "in flight" in str(held.skip_message)
        instance.delete_run(derived.run_id)
        # a live run that ended with the day quiet (the replay stopped): none again until ticks land
        _add_run(instance, DagsterRunStatus.SUCCESS, {"dagster/partition": KEY, "tickflow/queue": "live", DAY_TAG: KEY})
        quiet = _evaluate(instance)
        assert isinstance(quiet, SkipReason) and "no tick has landed since" in str(quiet.skip_message)
        instance.report_runless_asset_event(AssetMaterialization("raw_quotes", partition=KEY))
        resumed = _evaluate(instance)
        assert isinstance(resumed, SensorResult) and resumed.run_requests[0].run_key == f"live-{KEY}-1"
        for _ in range(live.LiveParams().max_attempts):
            _add_run(instance, DagsterRunStatus.FAILURE, {"dagster/partition": KEY, "tickflow/queue": "live",
                                                          DAY_TAG: KEY})
        spent = _evaluate(instance)
        assert isinstance(spent, SkipReason) and "live runs" in str(spent.skip_message)


def test_the_live_run_logs_each_pass_then_recomputes_the_day(settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A real run of the job (in this process): one pass over the stored ticks, the loop ends
    after the idle limit, then the steps run as a derived run of the rehearsed day would."""
    import definitions

    use_settings(monkeypatch, settings)
    monkeypatch.setenv("TICKFLOW_REHEARSAL_DAYS", KEY)
    monkeypatch.setenv("TICKFLOW_LIVE_IDLE_EXIT_S", "2")
    write_simulated_day(settings.dsn, simulate_day(DAY, n_symbols=3, seed=5, trades_per_symbol=800,
                                                   quotes_per_symbol=800))
    with psycopg.connect(settings.dsn) as conn:  # an ingest commit: what the loop waits for
        conn.execute("INSERT INTO offset_ledger (topic, partition, start_offset, end_offset, messages, trades, "
                     "quotes, duplicates, dead_letters) VALUES ('t', 0, 0, 1, 1, 1, 0, 0, 0)")
    job = definitions.defs.resolve_job_def("live_session")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(partition_key=KEY, instance=instance)
        assert result.success
        for name in live.ASSETS:
            observed = instance.fetch_observations(AssetKey(name), limit=10).records
            assert len(observed) == 1, name  # the loop's one pass
            meta = observed[0].asset_observation.metadata  # type: ignore[union-attr]
            assert meta["live_session"].value is True and observed[0].partition_key == KEY
            done = instance.fetch_materializations(AssetKey(name), limit=10).records
            assert [r.partition_key for r in done] == [KEY], name  # the step's own, after the loop
        logs = [e.message for e in result.all_events if e.event_type == DagsterEventType.ENGINE_EVENT] + [
            r.user_message for r in instance.all_logs(result.run_id)]
        assert any("live session 2024-06-21: 1 passes" in m and "no ingest commit for 2s" in m for m in logs), logs


EARLIER = DAY - dt.timedelta(days=1)
LIVE_JOB_ASSETS = ("bars_1m", "bars_5m", "bars_15m", "indicators", "trade_signals", "bar_measures",
                   "jump_events", "anomalies", "features")


def _land_ticks(instance: DagsterInstance, *days: dt.date) -> None:
    """What a following ingest run records when it stores ticks of these days."""
    for key in ("raw_trades", "raw_quotes"):
        for d in days:
            instance.report_runless_asset_event(AssetMaterialization(key, partition=d.isoformat()))


def _requested(result: EvaluateAutomationConditionsResult) -> dict[str, set[str]]:
    return {k: set(result.get_requested_partitions(AssetKey(k))) for k in LIVE_JOB_ASSETS}


def test_the_automation_sensor_leaves_a_live_day_to_the_live_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A rehearsed day's first ticks land beside an earlier day's late ones: the automation
    condition asks for the earlier day's derived run only, so the live run comes first to the
    live day. Once the day's live runs are spent, the day is the automation sensor's again."""
    import definitions

    monkeypatch.setenv("TICKFLOW_REHEARSAL_DAYS", KEY)
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        first = evaluate_automation_conditions(defs=definitions.defs, instance=instance)
        _land_ticks(instance, EARLIER, DAY)
        held = evaluate_automation_conditions(defs=definitions.defs, instance=instance, cursor=first.cursor)
        assert _requested(held) == {k: {EARLIER.isoformat()} for k in LIVE_JOB_ASSETS}
        for _ in range(live.LiveParams().max_attempts - 1):
            _add_run(instance, DagsterRunStatus.FAILURE, {DAY_TAG: KEY})
        still = evaluate_automation_conditions(defs=definitions.defs, instance=instance, cursor=held.cursor)
        assert _requested(still) == {k: set() for k in LIVE_JOB_ASSETS}  # a live run is left
        _add_run(instance, DagsterRunStatus.FAILURE, {DAY_TAG: KEY})
        spent = evaluate_automation_conditions(defs=definitions.defs, instance=instance, cursor=still.cursor)
        assert _requested(spent) == {k: {KEY} for k in LIVE_JOB_ASSETS}


@pytest.mark.parametrize("how", ["stopped", "failing"])
def test_a_live_session_sensor_that_is_off_leaves_live_days_to_the_automation(
        how: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A live-session sensor stopped in the UI, or whose latest tick failed, hands its days
    back: nothing waits for a live run that will not come. (An instance with sensor state:
    the ephemeral one has none.)"""
    import time

    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteInstigatorOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        TickData,
        TickStatus,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._utils.error import SerializableErrorInfo

    import definitions

    monkeypatch.setenv("TICKFLOW_REHEARSAL_DAYS", KEY)
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        repo = RemoteRepositoryOrigin(InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="definitions")),
                                      "__repository__")
        state = InstigatorState(RemoteInstigatorOrigin(repo, live_session_sensor.name), InstigatorType.SENSOR,
                                InstigatorStatus.STOPPED if how == "stopped" else InstigatorStatus.RUNNING)
        instance.add_instigator_state(state)
        tick = instance.create_tick(TickData(
            instigator_origin_id=state.instigator_origin_id, instigator_name=state.instigator_name,
            instigator_type=InstigatorType.SENSOR, status=TickStatus.SKIPPED, timestamp=time.time(),
            selector_id=state.selector_id))
        first = evaluate_automation_conditions(defs=definitions.defs, instance=instance)
        _land_ticks(instance, DAY)
        on = evaluate_automation_conditions(defs=definitions.defs, instance=instance, cursor=first.cursor)
        expected = {k: {KEY} if how == "stopped" else set() for k in LIVE_JOB_ASSETS}
        assert _requested(on) == expected  # a running sensor whose ticks succeed keeps the day
        if how == "failing":
            instance.update_tick(tick.with_status(TickStatus.FAILURE, error=SerializableErrorInfo("boom", [], "E")))
            off = evaluate_automation_conditions(defs=definitions.defs, instance=instance, cursor=on.cursor)
            assert _requested(off) == {k: {KEY} for k in LIVE_JOB_ASSETS}
