"""The ``signals`` group: per-trade signals, bar and daily measures, jump events, anomalies."""


import contextlib
import datetime as dt

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, MaterializeResult, asset, multi_asset

from assets.automation import backfill_reason, every_updated_day_unless_live
from assets.checks import SIGNAL_CHECKS, CheckCollector, specs
from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.derive import intraday
from tickflow.derive.entry_points import (
    FINITE_COLUMNS,
    P_VALUE_COLUMNS,
    SIGNAL_TABLES,
    DayWrites,
    check_signals,
    days_with_ticks,
    forget_cached_ticks,
    merge_metadata,
    run_anomalies,
)
from tickflow.derive.provisional import provisional_metadata

_DESCRIPTIONS = {
    "trade_signals": "Per trade: standardized return, Lee-Mykland and rolling BNS statistics, intensity z-score, "
                     "ACD expected duration and surprise, tick-rule and Lee-Ready signs, jump flag, BUY/SELL/HOLD.",
    "bar_measures": "Per 15-minute bar: RV, BV, BNS test, Lee-Mykland detections, GARCH volatility, OFI, signed "
                    "volume, BVC/VPIN, Roll, Kyle's lambda, Amihud, effective and realized spreads.",
    "daily_measures": "Per symbol-day: realized measures, BNS and Lee-Mykland tests, GARCH(1,1) and ACD(1,1) fits, "
                      "order flow and liquidity.",
    "jump_events": "One row per detected jump: Lee-Mykland on 10-second mid returns, BNS per 15-minute bar.",
}
@multi_asset(
    specs=[AssetSpec(name, deps=["raw_trades", "raw_quotes", "bars_1m"], group_name="signals",
                     partitions_def=trading_days, automation_condition=every_updated_day_unless_live,
                     description=_DESCRIPTIONS[name]) for name in SIGNAL_TABLES],
    check_specs=[s for name in FINITE_COLUMNS
                 for s in specs(name, SIGNAL_CHECKS if name in P_VALUE_COLUMNS else SIGNAL_CHECKS[:1])],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
)
def signals(context: AssetExecutionContext, tickflow: TickflowResource):  # type: ignore[no-untyped-def]
    dsn = tickflow.settings().dsn
    checks = {name: CheckCollector(name) for name in FINITE_COLUMNS}
    metas: dict[str, list[dict]] = {name: [] for name in SIGNAL_TABLES}
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    settings = tickflow.settings()
    backfill = backfill_reason(context)
    writes = DayWrites()  # a closed day's write overlaps the next day's kernels and checks
    reports = []
    try:
        for day, ticks in days_with_ticks(dsn, days, context.run_id):
            # during the session only the new trades' signals are written (tickflow.derive.intraday)
            report = intraday.signals_tail_or_full(dsn, day, ticks, context.run_id, force_full=backfill,
                                                   live=day.isoformat() in settings.rehearsal_days,
                                                   writes=writes)
            forget_cached_ticks(dsn, day, context.run_id)  # the day's last reader in the run
            for name in FINITE_COLUMNS:
                checks[name].add(day.isoformat(), check_signals(report, name))
            reports.append(report)
    except BaseException:
        with contextlib.suppress(BaseException):  # the days in flight end before the step does
            writes.drain()
        raise
    writes.drain()
    for report in reports:
        for name in SIGNAL_TABLES:
            metas[name].append(report.metadata(name))
        context.log.info(f"signals {report.day}: {report.rows} rows in {report.seconds}"
                         + (f"; NOT written, failed: {report.blocked}" if report.blocked else ""))
    for name in SIGNAL_TABLES:
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        yield MaterializeResult(asset_key=name, metadata={**merge_metadata(metas[name]),
                                                          **provisional_metadata(name, days)})
        if name in checks:
            yield from checks[name].results()


@asset(
    deps=["bars_1m", "indicators"], group_name="signals", partitions_def=trading_days,
    automation_condition=every_updated_day_unless_live, backfill_policy=BackfillPolicy.single_run(),
    description="1-minute bars with a price move over 5%, volume over 3x its trailing 20-bar average, "
                "or RSI above 70 / below 30; one row per (bar, kind).",
)
def anomalies(context: AssetExecutionContext, tickflow: TickflowResource) -> MaterializeResult:
    dsn = tickflow.settings().dsn
    metas = [run_anomalies(dsn, dt.date.fromisoformat(key)).metadata("anomalies") for key in context.partition_keys]
    return MaterializeResult(metadata=merge_metadata(metas))
