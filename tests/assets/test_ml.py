"""The ``ml`` group as real Dagster runs on the real store: lineage, a feature backfill as
one run, the training job with its champion metadata and plots, point-in-time predictions,
the retraining schedule and the alert on a failed training run."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    RunRequest,
    SkipReason,
    TimeWindowPartitionMapping,
    build_run_status_sensor_context,
    build_schedule_context,
    materialize,
)

import definitions
from assets.ml import features, model_evaluation, predictions
from resources.ml import MlResource
from resources.tickflow import TickflowResource
from sensors.alerts import run_failure_alert
from sensors.schedules import RETRAIN_CRON, retrain_schedule
from tests.conftest import ML_DAYS as DAYS
from tickflow import sessions
from tickflow.deploy.run_tags import GPU_RESOURCE, K8S_CONFIG_TAG

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
RESOURCES = {"tickflow": TickflowResource(), "ml": MlResource(walk_forward_folds=1)}


def test_ml_group_and_lineage() -> None:
    graph = definitions.defs.get_repository_def().asset_graph
    ml = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "ml"}
    assert ml == {"features", "price_model", "predictions", "model_evaluation"}
    parents = {k: {p.to_user_string() for p in graph.get(AssetKey(k)).parent_keys} for k in ml}
    assert {"bars_1m", "indicators", "trade_signals", "bar_measures", "daily_measures"} <= parents["features"]
    assert parents["price_model"] == {"features"} and parents["predictions"] == {"price_model", "features"}
    assert parents["model_evaluation"] == {"predictions", "features"}
    # predictions of day D hang off the model trained the day before: no look-ahead in the lineage
    mapping = graph.get_partition_mapping(AssetKey("predictions"), AssetKey("price_model"))
    assert isinstance(mapping, TimeWindowPartitionMapping) and (mapping.start_offset, mapping.end_offset) == (-1, -1)
    assert graph.get(AssetKey("price_model")).automation_condition is None  # trained by the schedule or on demand


def test_features_backfill_train_predict_evaluate(ml_dsn: str) -> None:
    with DagsterInstance.ephemeral() as instance:
        rng = {"dagster/asset_partition_range_start": DAYS[0].isoformat(),
               "dagster/asset_partition_range_end": DAYS[-1].isoformat()}
        res = materialize([features], instance=instance, tags=rng, resources=RESOURCES)
        assert res.success
        meta = res.asset_materializations_for_node("features")[0].metadata
        assert meta["rows"].value == len(DAYS) * 3 * 390 and meta["partitions"].value == len(DAYS)
        assert meta["last_day_values"].value["day"] == DAYS[-1].isoformat()

        train = definitions.defs.resolve_job_def("train_job")
        run = train.execute_in_process(partition_key=DAYS[4].isoformat(), instance=instance, resources=RESOURCES)
        assert run.success
        m = run.asset_materializations_for_node("price_model")[0].metadata
        assert m["champion"].value is True and m["model_version"].value == 1
        assert m["device"].value == "cpu" and m["holdout_days"].value == [DAYS[4].isoformat()]
        for plot in ("feature_importance", "predicted_vs_realized"):
            assert m[plot].value.startswith("![plot](data:image/png;base64,iVBOR")  # a PNG, shown by the UI
        assert {"rmse", "directional_accuracy", "ic"} <= set(m["walk_forward"].value)
        assert m["holdout_rmse_zero_return"].value > 0 and m["decision"].value["reason"] == "no champion yet"

        res = materialize([predictions, model_evaluation], partition_key=DAYS[5].isoformat(), instance=instance,
                          resources=RESOURCES)
        assert res.success
        p = res.asset_materializations_for_node("predictions")[0].metadata
        assert p["model_version"].value == 1 and p["rows"].value == 3 * 390
        e = res.asset_materializations_for_node("model_evaluation")[0].metadata
        assert e["rows"].value == 3 * 389 and e["rmse_zero"].value > 0
        # a day before any champion: no predictions, said so
        res = materialize([predictions], partition_key=DAYS[3].isoformat(), instance=instance, resources=RESOURCES)
        note = res.asset_materializations_for_node("predictions")[0].metadata["note"].value
        assert res.success and "no price_model champion" in note


def test_training_job_runs_on_the_gpu_pool_only() -> None:
    jobs = {j.name: j for j in definitions.defs.get_repository_def().get_all_jobs()}
    tags = jobs["train_job"].tags
    assert GPU_RESOURCE in tags[K8S_CONFIG_TAG] and tags["tickflow/kind"] == "training"
    for name, job in jobs.items():
        if name != "train_job":
            assert GPU_RESOURCE not in job.tags.get(K8S_CONFIG_TAG, ""), name


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(sessions.NY))


def test_retraining_schedule_fires_after_each_trading_day() -> None:
    assert retrain_schedule.cron_schedule == RETRAIN_CRON == "30 18 * * 1-5"
    assert retrain_schedule.execution_timezone == "America/New_York"
    friday = dt.date(2024, 6, 21)
    repo = definitions.defs.get_repository_def()
    ctx = build_schedule_context(scheduled_execution_time=_at(friday, 18, 30), repository_def=repo)
    [req] = retrain_schedule.evaluate_tick(ctx).run_requests or []  # validated against train_job's partitions
    assert isinstance(req, RunRequest) and req.partition_key == "2024-06-21"
    holiday = retrain_schedule(build_schedule_context(scheduled_execution_time=_at(dt.date(2024, 6, 19), 18, 30)))
    assert isinstance(holiday, SkipReason) and "not an XNYS trading day" in (holiday.skip_message or "")


def test_failed_training_run_is_alerted(ml_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    with DagsterInstance.ephemeral() as instance:
        train = definitions.defs.resolve_job_def("train_job")
        # no features were materialized in this store: training must fail, loudly
        res = train.execute_in_process(partition_key=DAYS[4].isoformat(), instance=instance, resources=RESOURCES,
                                       raise_on_error=False)
        assert not res.success
        ctx = build_run_status_sensor_context(sensor_name="run_failure_alert", dagster_instance=instance,
                                              dagster_run=res.dagster_run,
                                              dagster_event=res.get_run_failure_event()).for_run_failure()
        with caplog.at_level(logging.ERROR, logger="tickflow.alerts"):
            run_failure_alert(ctx)
    [line] = [r.getMessage() for r in caplog.records if r.name == "tickflow.alerts"]
    assert line.startswith(f"ALERT train_job run {res.run_id} (partition {DAYS[4].isoformat()}) failed")
    assert "no features stored for 2024-06-14" in line


def test_features_follow_signals_even_on_the_first_day() -> None:
    """Signals updating a day request its features; the previous day's daily measures (absent
    on the first day stored) neither block nor trigger them; predictions wait for a model."""
    from dagster import AssetMaterialization, evaluate_automation_conditions

    defs = definitions.defs
    with DagsterInstance.ephemeral() as instance:
        first = evaluate_automation_conditions(defs=defs, instance=instance)
        for key in ("raw_trades", "raw_quotes", "bars_1m", "bars_5m", "bars_15m", "indicators", "trade_signals",
                    "bar_measures", "daily_measures", "jump_events", "anomalies"):
            instance.report_runless_asset_event(AssetMaterialization(key, partition=DAYS[0].isoformat()))
        res = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert set(res.get_requested_partitions(AssetKey("features"))) == {DAYS[0].isoformat()}
        assert not res.get_requested_partitions(AssetKey("predictions"))
        assert not res.get_requested_partitions(AssetKey("price_model"))  # the schedule trains it
