"""raw_vendor_bars: the vendor's own 1-minute bars, and the check that ours agree with them.

Two sources fill the table, as for the tick tables: the minute-aggregates Kafka topic
(``ev: AM`` events from the live feed; exactly once through the offset ledger, like
raw_trades) and the vendor's ``minute_aggs`` flat file of a day (run config
``source: flatfiles``). The check ``matches_vendor_minute_bars`` on ``bars_1m`` compares
every regular-session symbol-minute with the vendor's bar (tolerances in
tickflow.store.vendor_bars)."""


import datetime as dt
import warnings
from typing import Literal

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    PreviewWarning,
    asset,
    asset_check,
)

from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.flatfiles.importer import import_day
from tickflow.ingest_vendor_bars import catch_up_aggs
from tickflow.store.vendor_bars import day_counts, reconcile


class VendorBarsConfig(Config):  # type: ignore[misc]
    source: Literal["kafka", "flatfiles"] = "kafka"
    flatfiles_source: str = ""  # a file or root (local or s3://); empty: TICKFLOW_FLATFILES_ROOT


@asset(
    partitions_def=trading_days, group_name="ingest", backfill_policy=BackfillPolicy.single_run(),
    description="The vendor's 1-minute bars (Polygon/Massive minute aggregates) of one XNYS trading day, "
                "from the minute_aggs topic (exactly once) or the day's flat file.",
)
def raw_vendor_bars(context: AssetExecutionContext, config: VendorBarsConfig,
                    tickflow: TickflowResource) -> MaterializeResult:
    settings = tickflow.settings()
    meta: dict[str, object] = {"source": config.source}
    if config.source == "kafka":
        rep = catch_up_aggs(settings, run_id=context.run_id)
        meta.update(messages=rep.messages, bars_written=rep.bars, dead_letters=rep.dead_letters,
                    offsets={f"{r.topic}[{r.partition}]": f"{r.start_offset}-{r.end_offset}" for r in rep.ledger_rows}
                    or "none new", duration_s=round(rep.seconds, 3))
    else:
        imports = [import_day(settings, dt.date.fromisoformat(k), "minute_aggs", config.flatfiles_source or None,
                              run_id=context.run_id) for k in context.partition_keys]
        meta.update(bars_written=sum(r.inserted for r in imports), dead_letters=sum(r.dead_letters for r in imports),
                    files=[r.url for r in imports], duration_s=round(sum(r.seconds for r in imports), 3))
    days = [day_counts(settings.dsn, dt.date.fromisoformat(k)) for k in context.partition_keys]
    meta.update(rows=sum(int(d["rows"]) for d in days), symbols=max((int(d["symbols"]) for d in days), default=0),
                partitions=len(days))
    return MaterializeResult(metadata=meta)  # type: ignore[arg-type]


# A check per trading-day partition (AssetCheckSpec.partitions_def) is a preview feature in
# this Dagster release; the reconciliation is per day, so it is the right shape.
warnings.filterwarnings("ignore", category=PreviewWarning)


@asset_check(
    asset="bars_1m", name="matches_vendor_minute_bars", additional_deps=["raw_vendor_bars"],
    partitions_def=trading_days,
    description="Every regular-session symbol-minute of bars_1m agrees with the vendor's minute bar: volume and "
                "trade count equal, OHLC equal to 1e-9 relative, VWAP within 5e-5. WARN when the vendor's bars "
                "for the day are not in the store yet.",
)
def matches_vendor_minute_bars(context: AssetCheckExecutionContext, tickflow: TickflowResource) -> AssetCheckResult:
    dsn = tickflow.settings().dsn
    # A range backfill runs the check once for all its days: it fails if any day fails.
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    missing = [d for d in days if day_counts(dsn, d)["rows"] == 0]
    recs = [reconcile(dsn, d) for d in days if d not in missing]
    failed = [r for r in recs if not r.passed]
    if len(days) == 1:
        if missing:
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                    metadata={"day": days[0].isoformat(), "reason": "no vendor bars for this day"})
        return AssetCheckResult(passed=recs[0].passed, severity=AssetCheckSeverity.ERROR,
                                metadata=recs[0].metadata())
    meta = {"days": [d.isoformat() for d in days], "days_without_vendor_bars": [d.isoformat() for d in missing],
            "days_mismatched": [r.day.isoformat() for r in failed],
            **({"first_mismatch": failed[0].metadata()} if failed else {})}
    if failed:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, metadata=meta)
    return AssetCheckResult(passed=not missing, severity=AssetCheckSeverity.WARN, metadata=meta)
