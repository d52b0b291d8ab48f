"""The ``bars`` group: 1/5/15-minute bars and technical indicators, one partition per day."""


import datetime as dt

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, MaterializeResult, asset, multi_asset

from assets.automation import every_updated_day
from assets.checks import BAR_CHECKS, SIGNAL_CHECKS, CheckCollector, specs
from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.derive.daily import (
    check_bars,
    check_indicators,
    days_with_ticks,
    merge_metadata,
    run_bars,
    run_indicators,
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
    dsn = tickflow.settings().dsn
    checks = {name: CheckCollector(name) for name in BAR_ASSETS.values()}
    metas: dict[str, list[dict]] = {name: [] for name in BAR_ASSETS.values()}
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    for day, ticks in days_with_ticks(dsn, days, context.run_id):
        key = day.isoformat()
        report = run_bars(dsn, day, ticks=ticks, run_id=context.run_id)
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
    dsn = tickflow.settings().dsn
    checks = CheckCollector("indicators")
    metas = []
    for key in context.partition_keys:
        report = run_indicators(dsn, dt.date.fromisoformat(key))
        checks.add(key, check_indicators(report))
        metas.append(report.metadata("indicators"))
    yield MaterializeResult(metadata=merge_metadata(metas))
    yield from checks.results()
