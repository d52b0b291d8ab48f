"""The ``ml`` group: features, the price model, predictions and their evaluation.

- ``features`` (per trading day) follows bars and signals by itself.
- ``price_model`` (per trading day = the as-of day of the training window) is trained by the
  ``train_job``: on a schedule each trading day at 18:30 New York (sensors/schedules.py) and
  on demand; each run registers a model version and applies the champion rule.
- ``predictions`` of day D use the champion in force at D's start (point in time), so they
  depend on ``price_model`` of the day before; they re-run when features or the model update.
- ``model_evaluation`` scores a day's predictions against the realized returns.
"""


import datetime as dt

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetSelection,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    define_asset_job,
)

from assets.automation import every_updated_day, left_to_live_session
from assets.partitions import trading_days
from resources.ml import MlResource
from resources.tickflow import TickflowResource
from tickflow.deploy.run_tags import gpu_training_run_tags
from tickflow.derive.entry_points import merge_metadata

# tickflow.ml.pipeline (XGBoost, SciPy) and the plots (matplotlib) are imported inside the
# assets: every run of this code location imports this module, an ingest run included, and
# those imports would add about a second to each (tests/test_startup.py).


def _days(context: AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


_PREVIOUS_DAY = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


@asset(
    deps=["bars_1m", "bars_5m", "bars_15m", "indicators", "trade_signals", "bar_measures",
          AssetDep("daily_measures", partition_mapping=_PREVIOUS_DAY)],
    group_name="ml", partitions_def=trading_days,
    # The previous day's measures neither trigger nor block a day's features: the first day
    # stored has none, and they are only the prev_* columns.
    automation_condition=left_to_live_session(every_updated_day.ignore(AssetSelection.assets("daily_measures"))),
    backfill_policy=BackfillPolicy.single_run(),
    description="Per symbol and bar: lagged returns, moving-average gaps, volume and its z-score, realized "
                "volatility, time of day, indicators and microstructure signals; target = next-bar log return.",
)
def features(context: AssetExecutionContext, tickflow: TickflowResource, ml: MlResource) -> MaterializeResult:
    dsn = tickflow.settings().dsn
    from tickflow.ml import pipeline

    metas = [pipeline.run_features(dsn, day, ml.feature_params()) for day in _days(context)]
    return MaterializeResult(metadata=merge_metadata(metas))


@asset(
    deps=["features"], group_name="ml", partitions_def=trading_days, backfill_policy=BackfillPolicy.single_run(),
    description="XGBoost (hist) on the trailing window of feature days ending at the partition's day; "
                "walk-forward validation, early stopping on a time-ordered split, champion rule on the holdout.",
)
def price_model(context: AssetExecutionContext, tickflow: TickflowResource, ml: MlResource) -> MaterializeResult:
    dsn = tickflow.settings().dsn
    report: dict = {}  # type: ignore[type-arg]
    from tickflow.ml import pipeline
    from tickflow.ml.plots import importance_plot, predicted_vs_realized_plot

    for day in _days(context):  # oldest first: a range replays the champion decisions in order
        report = pipeline.run_training(dsn, day, ml.feature_params(), ml.train_params(), ml.model_name)
        d = report["decision"]
        context.log.info(f"{ml.model_name} v{report['version']} as of {day}: "
                         f"{'CHAMPION' if d['promoted'] else 'not promoted'} ({d['reason']})")
    m, wf = report["metrics"], report["walk_forward"]
    return MaterializeResult(metadata={
        "model_version": report["version"], "champion": report["champion"],
        "decision": MetadataValue.json(report["decision"]), "device": report["device"],
        "fit_days": report["fit_days"], "holdout_days": report["decision"]["holdout_days"],
        "feature_hash": report["feature_hash"], "best_iteration": report["best_iteration"],
        **{f"holdout_{k}": float(m.get(v, float("nan"))) for k, v in (
            ("rmse", "rmse"), ("rmse_zero_return", "rmse_zero"), ("rmse_last_return", "rmse_last"),
            ("directional_accuracy", "directional_accuracy"), ("ic", "ic"))},
        "walk_forward": MetadataValue.json(wf),
        "feature_importance": MetadataValue.md(importance_plot(report["importance"])),
        "predicted_vs_realized": MetadataValue.md(predicted_vs_realized_plot(report["holdout_pred"],
                                                                             report["holdout_true"])),
        "seconds": MetadataValue.json({k: round(v, 3) for k, v in report["seconds"].items()}),
    })


@asset(
    deps=[AssetDep("price_model", partition_mapping=_PREVIOUS_DAY), "features"],
    group_name="ml", partitions_def=trading_days, automation_condition=every_updated_day,
    backfill_policy=BackfillPolicy.single_run(),
    description="Per symbol and bar: predicted return, direction and confidence (the holdout hit rate of the "
                "model's predictions of similar size), by the champion in force at the day's start.",
)
def predictions(context: AssetExecutionContext, tickflow: TickflowResource, ml: MlResource) -> MaterializeResult:
    dsn = tickflow.settings().dsn
    from tickflow.ml import pipeline

    metas = [pipeline.run_predictions(dsn, day, ml.model_name) for day in _days(context)]
    for m in metas:
        context.log.info(f"predictions {m['day']}: {m['rows']} rows, model v{m['model_version']}")
    return MaterializeResult(metadata=merge_metadata(metas))


@asset(
    deps=["predictions", "features"], group_name="ml", partitions_def=trading_days,
    automation_condition=every_updated_day, backfill_policy=BackfillPolicy.single_run(),
    description="A day's predictions against the realized returns: RMSE, directional accuracy and IC, "
                "next to the zero-return and last-return baselines.",
)
def model_evaluation(context: AssetExecutionContext, tickflow: TickflowResource, ml: MlResource) -> MaterializeResult:
    dsn = tickflow.settings().dsn
    from tickflow.ml import pipeline

    metas = [pipeline.run_evaluation(dsn, day, ml.model_name) for day in _days(context)]
    return MaterializeResult(metadata=merge_metadata(metas))


# The training job: scheduled after the close and launched on demand; its runs go to the
# GPU node pool (tickflow.deploy.run_tags).
train_job = define_asset_job("train_job", selection=["price_model"], partitions_def=trading_days,
                             tags=gpu_training_run_tags())
