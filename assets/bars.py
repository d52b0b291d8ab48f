"""The ``bars`` group: 1/5/15-minute bars and technical indicators, one partition per day."""


import datetime as dt

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, MaterializeResult, asset, multi_asset

from assets.automation import backfill_reason, every_updated_day
from assets.checks import BAR_CHECKS, SIGNAL_CHECKS, CheckCollector, specs
from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.derive import intraday
from tickflow.derive.entry_points import (
    DayReport,
    check_bars,
    check_indicators,
    days_with_ticks,
    merge_metadata,
    run_bars,
)

BAR_ASSETS = {1: "bars_1m", 5: "bars_5m", 15: "bars_15m"}


@multi_asset(
    specs=[AssetSpec(name, deps=["raw_trades", "raw_quotes"], group_name="bars", partitions_def=trading_days,
                     automation_condition=every_updated_day,
                     description=f"{n}-minute bars of the regular session: OHLC, volume, VWAP, trade count, "
                                 "time-weighted spread and closing mid; empty bars carry the last price.")
           for n, name in BAR_ASSETS.items()],
    check_specs=[s for name in BAR_ASSETS.values() for s in specs(name, BAR_CHECKS)],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
)
def bars(context: AssetExecutionContext, tickflow: TickflowResource):  # type: ignore[no-untyped-def]
    settings = tickflow.settings()
    dsn = settings.dsn
    checks = {name: CheckCollector(name) for name in BAR_ASSETS.values()}
    metas: dict[str, list[dict]] = {name: [] for name in BAR_ASSETS.values()}
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    backfill = backfill_reason(context)
    reports: dict[dt.date, DayReport] = {}
    full_because: dict[dt.date, str] = {}
    for day in days:  # an open day with a mark: only its tail (tickflow.derive.intraday)
        tail = backfill or intraday.update_bars(dsn, day, live=day.isoformat() in settings.rehearsal_days)
        if isinstance(tail, DayReport):
            reports[day] = tail
        else:
            full_because[day] = tail
    for day, ticks in days_with_ticks(dsn, [d for d in days if d in full_because], context.run_id):
        reports[day] = run_bars(dsn, day, ticks=ticks, run_id=context.run_id)
        if not reports[day].blocked:
            intraday.record_full_day(dsn, ticks, live=day.isoformat() in settings.rehearsal_days)
        for name in BAR_ASSETS.values():
            reports[day].extra.setdefault(name, {}).update({"update": "full", "full_because": full_because[day]})
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
    deps=["bars_1m"], group_name="bars", partitions_def=trading_days, automation_condition=every_updated_day,
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
