"""raw_trades and raw_quotes: the tick store's tables, one partition per trading day.

Two paths write them:
- streaming: the Kafka offset sensor requests ``ingest_job`` for each new offset range; the
  run commits rows and ledger together and records a materialization of every day its
  ticks fall on, so late ticks mark their own (earlier) day's partition updated;
- backfill: materializing a partition (or a range, as one run) re-ingests those days from
  Kafka by timestamp; the natural keys make it idempotent.
"""


import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetSpec,
    BackfillPolicy,
    Config,
    MaterializeResult,
    OpExecutionContext,
    Output,
    job,
    multi_asset,
    op,
)

from assets.kafka_topics import kafka_quotes, kafka_trades
from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.ingest import ingest_ranges, reingest_day, summarize
from tickflow.ops.errors import check_kafka
from tickflow.ops.health import lag_after_run

RAW_ASSETS = {"trades": "raw_trades", "quotes": "raw_quotes"}


@multi_asset(
    specs=[
        AssetSpec("raw_trades", deps=[kafka_trades.key], partitions_def=trading_days, group_name="ingest",
                  description="Trades of one XNYS trading day (New York date of the exchange timestamp)."),
        AssetSpec("raw_quotes", deps=[kafka_quotes.key], partitions_def=trading_days, group_name="ingest",
                  description="Quotes of one XNYS trading day (New York date of the exchange timestamp)."),
    ],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    can_subset=True,
)
def raw_ticks(context: AssetExecutionContext, tickflow: TickflowResource):  # type: ignore[no-untyped-def]
    settings = tickflow.settings()
    selected = {k.path[-1] for k in context.selected_asset_keys}
    topics = tuple(t for t, name in ((settings.topic_trades, "raw_trades"), (settings.topic_quotes, "raw_quotes"))
                   if name in selected)
    reports = []
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        context.log.info(f"re-ingesting {day} from {', '.join(topics)} by timestamp")
        reports += reingest_day(settings, day, topics, run_id=context.run_id)
    for table, name in RAW_ASSETS.items():
        if name in selected:
            yield MaterializeResult(asset_key=name, metadata={"partitions": len(context.partition_keys),
                                                              **summarize(reports, table)})


class IngestRange(Config):  # type: ignore[misc]
    topic: str
    ranges: dict[str, list[int]]  # partition -> [start, end)


@op(description="Ingest exactly one offset range per partition of a topic, exactly once.")
def ingest_offsets(context: OpExecutionContext, config: IngestRange, tickflow: TickflowResource) -> Output[None]:
    ranges = {int(p): (int(se[0]), int(se[1])) for p, se in config.ranges.items()}
    check_kafka(tickflow.settings())  # an unreachable broker: one clear line, not a client retrying
    report = ingest_ranges(tickflow.settings(), config.topic, ranges, run_id=context.run_id)
    for table, name in RAW_ASSETS.items():
        for day, stats in sorted(report.days.items()):
            if (stats.trades if table == "trades" else stats.quotes) == 0:
                continue
            context.log_event(AssetMaterialization(
                asset_key=name, partition=day.isoformat(), description=f"streamed from {config.topic}",
                metadata=summarize([report], table, day)))
    meta = summarize([report], "trades")
    meta.update({"quote_rows": summarize([report], "quotes")["rows"], "topic": config.topic,
                 "days": sorted(d.isoformat() for d in report.days)})
    meta.update(lag_after_run(tickflow.settings(), [config.topic]))
    return Output(None, metadata=meta)


@job(description="Streaming ingest of one Kafka offset range (requested by kafka_offset_sensor).",
     tags={"tickflow/kind": "ingest"})
def ingest_job() -> None:
    ingest_offsets()
