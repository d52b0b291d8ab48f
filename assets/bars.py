"""The ``bars`` group: 1/5/15-minute bars and technical indicators, one partition per day."""


import datetime as dt
from collections.abc import Iterable
from itertools import chain

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetSpec,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
    multi_asset,
)

from assets.automation import backfill_reason, every_updated_day_unless_live
from assets.checks import BAR_CHECKS, SIGNAL_CHECKS, CheckCollector, specs
from assets.partitions import trading_days
from resources.ml import ML
from resources.tickflow import TickflowResource
from tickflow.derive import intraday, live
from tickflow.derive.entry_points import (
    DayReport,
    check_bars,
    check_indicators,
    days_with_ticks,
    merge_metadata,
)
from tickflow.store.day_ticks import DayTicks

BAR_ASSETS = {1: "bars_1m", 5: "bars_5m", 15: "bars_15m"}


class BarsConfig(Config):  # type: ignore[misc]
    # Set by the live session job (sensors/live_session.py): this step first keeps the open
    # day's derived assets current in a loop (tickflow.derive.live), then runs as usual.
    live_session: bool = False


def _live_session(context: AssetExecutionContext, tickflow: TickflowResource) -> None:
    from tickflow.ml import pipeline

    settings = tickflow.settings()
    (key,) = context.partition_keys
    day = dt.date.fromisoformat(key)

    def report(update: live.Update) -> None:
        # Observations, not materializations: Dagster counts a logged materialization as the
        # run's planned one done, the asset would leave "in progress", and the automation
        # sensor would start a second derived run of the day beside this one. The step's own
        # materialization (after the loop) is the asset's.
        for asset_key, meta in update:
            context.log_event(AssetObservation(asset_key=asset_key, partition=key,
                                               metadata={**meta, "live_session": True}))

    params = live.LiveParams(idle_exit_s=settings.live_idle_exit_s)
    session = live.run_session(settings.dsn, day, report, live=key in settings.rehearsal_days,
                               features=lambda signals: pipeline.run_features(settings.dsn, day, ML.feature_params(),
                                                                              signals),
                               params=params)
    secs = sorted(session.seconds)
    context.log.info(f"live session {key}: {session.passes} passes (median {secs[len(secs) // 2] if secs else 0:.1f}s"
                     f", max {secs[-1] if secs else 0:.1f}s; {len(session.reloads)} read the whole day again; "
                     f"{session.on_boundary} started on the minute boundary they waited for, "
                     f"{session.boundary_missed} waits ran out; freed memory kept for reuse: "
                     f"{session.heap_retained}); "
                     f"stopped: {session.stopped_because}")
    for why in session.skipped:
        context.log.warning(f"live session {key}: a pass skipped its downstream assets: {why}")


@multi_asset(
    specs=[AssetSpec(name, deps=["raw_trades", "raw_quotes"], group_name="bars", partitions_def=trading_days,
                     automation_condition=every_updated_day_unless_live,
                     description=f"{n}-minute bars of the regular session: OHLC, volume, VWAP, trade count, "
                                 "time-weighted spread and closing mid; empty bars carry the last price.")
           for n, name in BAR_ASSETS.items()],
    check_specs=[s for name in BAR_ASSETS.values() for s in specs(name, BAR_CHECKS)],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
)
def bars(context: AssetExecutionContext, config: BarsConfig, tickflow: TickflowResource):  # type: ignore[no-untyped-def]
    if config.live_session:
        _live_session(context, tickflow)
    settings = tickflow.settings()
    dsn = settings.dsn
    checks = {name: CheckCollector(name) for name in BAR_ASSETS.values()}
    metas: dict[str, list[dict]] = {name: [] for name in BAR_ASSETS.values()}
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    backfill = backfill_reason(context)
    reports: dict[dt.date, DayReport] = {}
    full_because: dict[dt.date, str] = {}
    rehearsed = {day: day.isoformat() in settings.rehearsal_days for day in days}
    for day in days:  # an open day with a mark: only its tail (tickflow.derive.intraday)
        tail = backfill or intraday.update_bars(dsn, day, live=rehearsed[day])
        if isinstance(tail, DayReport):
            reports[day] = tail
        else:
            full_because[day] = tail
    # an open day is read and reconciled in one snapshot (its feed commits meanwhile); closed
    # days are read ahead, the next while the current one is computed
    open_now = [d for d in days if d in full_because and intraday.is_open(d, live=rehearsed[d])]
    closed = [d for d in days if d in full_because and d not in open_now]
    held: Iterable[tuple[dt.date, DayTicks | None]] = ((d, None) for d in open_now)
    for day, ticks in chain(held, days_with_ticks(dsn, closed, context.run_id)):
        reports[day] = intraday.bars_tail_or_full(dsn, day, context.run_id, force_full=full_because[day],
                                                  live=rehearsed[day], ticks=ticks)
    for day in days:
        key, report = day.isoformat(), reports[day]
        for name in BAR_ASSETS.values():
            checks[name].add(key, check_bars(report, name))
            metas[name].append(report.metadata(name))
        context.log.info(f"bars {key}: {report.rows} rows in {report.seconds}"
                         + (f"; NOT written, failed: {report.blocked}" if report.blocked else ""))
    for name in BAR_ASSETS.values():
        yield MaterializeResult(asset_key=name, metadata=merge_metadata(metas[name]))
        yield from checks[name].results()


@asset(
    deps=["bars_1m"], group_name="bars", partitions_def=trading_days, automation_condition=every_updated_day_unless_live,
    backfill_policy=BackfillPolicy.single_run(), check_specs=specs("indicators", SIGNAL_CHECKS[:1]),
    description="SMA 20/50/200, EMA 12/26, RSI 14, MACD 12/26/9 and Bollinger 20/2 on 1-minute closes, "
                "warmed up by the previous trading days' bars.",
)
def indicators(context: AssetExecutionContext, tickflow: TickflowResource):  # type: ignore[no-untyped-def]
    settings = tickflow.settings()
    dsn = settings.dsn
    checks = CheckCollector("indicators")
    metas = []
    backfill = backfill_reason(context)
    for key in context.partition_keys:
        report = intraday.indicators_tail_or_full(dsn, dt.date.fromisoformat(key), force_full=backfill,
                                                  live=key in settings.rehearsal_days)
        checks.add(key, check_indicators(report))
        metas.append(report.metadata("indicators"))
    yield MaterializeResult(metadata=merge_metadata(metas))
    yield from checks.results()
