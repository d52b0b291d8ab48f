"""The ``signals`` group: per-trade signals, bar and daily measures, jump events, anomalies."""


import datetime as dt

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, MaterializeResult, asset, multi_asset

from assets.automation import every_updated_day
from assets.checks import SIGNAL_CHECKS, CheckCollector, specs
from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.derive.daily import SIGNAL_TABLES, merge_metadata, run_anomalies, run_signals
from tickflow.quality.expectations import signal_checks

_DESCRIPTIONS = {
    "trade_signals": "Per trade: standardized return, Lee-Mykland and rolling BNS statistics, intensity z-score, "
                     "ACD expected duration and surprise, tick-rule and Lee-Ready signs, jump flag, BUY/SELL/HOLD.",
    "bar_measures": "Per 15-minute bar: RV, BV, BNS test, Lee-Mykland detections, GARCH volatility, OFI, signed "
                    "volume, BVC/VPIN, Roll, Kyle's lambda, Amihud, effective and realized spreads.",
    "daily_measures": "Per symbol-day: realized measures, BNS and Lee-Mykland tests, GARCH(1,1) and ACD(1,1) fits, "
                      "order flow and liquidity.",
    "jump_events": "One row per detected jump: Lee-Mykland on 10-second mid returns, BNS per 15-minute bar.",
}
# Columns whose defined values must be finite, and p-values, per checked table.
_FINITE = {
    "trade_signals": ["log_return", "std_return", "lm_stat", "bns_z", "intensity_z", "acd_duration", "acd_surprise"],
    "bar_measures": ["rv", "bv", "bns_rj", "bns_z", "garch_sigma", "ofi", "bvc_buy_share", "vpin", "roll_spread",
                     "kyle_lambda", "amihud", "effective_spread", "realized_spread"],
    "daily_measures": ["rv", "bv", "tq", "bns_z", "lm_critical", "garch_omega", "garch_alpha", "garch_beta",
                       "garch_loglik", "acd_omega", "acd_alpha", "acd_beta", "acd_loglik", "vpin", "roll_spread",
                       "kyle_lambda", "amihud", "effective_spread", "realized_spread"],
}
_P_VALUES = {"bar_measures": ["bns_p"], "daily_measures": ["bns_p"]}


@multi_asset(
    specs=[AssetSpec(name, deps=["raw_trades", "raw_quotes", "bars_1m"], group_name="signals",
                     partitions_def=trading_days, automation_condition=every_updated_day,
                     description=_DESCRIPTIONS[name]) for name in SIGNAL_TABLES],
    check_specs=[s for name in _FINITE for s in specs(name, SIGNAL_CHECKS if name in _P_VALUES else SIGNAL_CHECKS[:1])],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
)
def signals(context: AssetExecutionContext, tickflow: TickflowResource):  # type: ignore[no-untyped-def]
    dsn = tickflow.settings().dsn
    checks = {name: CheckCollector(name) for name in _FINITE}
    metas: dict[str, list[dict]] = {name: [] for name in SIGNAL_TABLES}
    for key in context.partition_keys:
        report = run_signals(dsn, dt.date.fromisoformat(key))
        for name in SIGNAL_TABLES:
            metas[name].append(report.metadata(name))
        for name, cols in _FINITE.items():
            outcomes = signal_checks(report.frames[name], cols, _P_VALUES.get(name, []))
            checks[name].add(key, outcomes if name in _P_VALUES else outcomes[:1])
        context.log.info(f"signals {key}: {report.rows} rows in {report.seconds}")
    for name in SIGNAL_TABLES:
        yield MaterializeResult(asset_key=name, metadata=merge_metadata(metas[name]))
        if name in checks:
            yield from checks[name].results()


@asset(
    deps=["bars_1m", "indicators"], group_name="signals", partitions_def=trading_days,
    automation_condition=every_updated_day, backfill_policy=BackfillPolicy.single_run(),
    description="1-minute bars with a price move over 5%, volume over 3x its trailing 20-bar average, "
                "or RSI above 70 / below 30; one row per (bar, kind).",
)
def anomalies(context: AssetExecutionContext, tickflow: TickflowResource) -> MaterializeResult:
    dsn = tickflow.settings().dsn
    metas = [run_anomalies(dsn, dt.date.fromisoformat(key)).metadata("anomalies") for key in context.partition_keys]
    return MaterializeResult(metadata=merge_metadata(metas))
