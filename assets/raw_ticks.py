"""raw_trades and raw_quotes: the tick store's tables, one partition per trading day.

Two paths write them:
- streaming: the Kafka offset sensor requests ``ingest_job`` for each new offset range; the
  run commits rows and ledger together and records a materialization of every day its
  ticks fall on, so late ticks mark their own (earlier) day's partition updated;
- backfill: materializing a partition (or a range, as one run) re-ingests those days from
  Kafka by timestamp, or with run config ``source: flatfiles`` from the vendor's daily flat
  files (when Kafka no longer holds the day); the natural keys make either idempotent.
"""


import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetSpec,
    BackfillPolicy,
    Config,
    DagsterRunStatus,
    MaterializeResult,
    OpExecutionContext,
    Output,
    RunsFilter,
    in_process_executor,
    job,
    multi_asset,
    op,
)

from assets.kafka_topics import kafka_quotes, kafka_trades
from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.config import Settings
from tickflow.flatfiles.importer import import_day
from tickflow.ingest import (
    IngestReport,
    extend_to_high_watermark,
    fold_reports,
    ingest_ranges,
    reingest_day,
    summarize,
)
from tickflow.ingest_follow import FollowParams, follow
from tickflow.ops.errors import check_kafka
from tickflow.ops.health import lag_after_run

RAW_ASSETS = {"trades": "raw_trades", "quotes": "raw_quotes"}
# The run queue's pools (tag_concurrency_limits in dagster.yaml, tickflow/stack/local.py and
# helm/dagster-values.yaml): ingest and derived runs each have their own slots.
QUEUE_TAG = "tickflow/queue"
# On an ingest run that follows the feed after its ranges: its follow_s (tickflow.ingest_follow).
FOLLOW_TAG = "tickflow/follow_s"
# Set by a following run when its follow loop starts: its predecessor hands over then, not
# when it is STARTED. Between the two the new run's op still starts, checks Kafka, ingests
# its ranges and logs their materializations, seconds under load with no one following.
FOLLOWING_TAG = "tickflow/following"


class RawTicksConfig(Config):  # type: ignore[misc]
    source: Literal["kafka", "flatfiles"] = "kafka"
    flatfiles_source: str = ""  # a root (local or s3://); empty: TICKFLOW_FLATFILES_ROOT


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
def raw_ticks(context: AssetExecutionContext, config: RawTicksConfig,  # type: ignore[no-untyped-def]
              tickflow: TickflowResource):
    settings = tickflow.settings()
    selected = {k.path[-1] for k in context.selected_asset_keys}
    topics = tuple(t for t, name in ((settings.topic_trades, "raw_trades"), (settings.topic_quotes, "raw_quotes"))
                   if name in selected)
    reports = []
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        if config.source == "flatfiles":
            for table, name in RAW_ASSETS.items():
                if name in selected:
                    imp = import_day(settings, day, table, config.flatfiles_source or None, run_id=context.run_id)
                    context.log.info(f"imported {imp.url}: {imp.inserted} new rows, {imp.dead_letters} dead letters")
                    imp.ingest.dead_letters, imp.ingest.duplicates = imp.dead_letters, imp.duplicates
                    imp.ingest.dead_reasons = imp.dead_reasons
                    reports.append(imp.ingest)
            continue
        context.log.info(f"re-ingesting {day} from {', '.join(topics)} by timestamp")
        reports += reingest_day(settings, day, topics, run_id=context.run_id)
    for table, name in RAW_ASSETS.items():
        if name in selected:
            yield MaterializeResult(asset_key=name, metadata={"partitions": len(context.partition_keys),
                                                              **summarize(reports, table)})


class IngestRanges(Config):  # type: ignore[misc]
    ranges: dict[str, dict[str, list[int]]]  # topic -> partition -> [start, end)
    # extend each range to the partition's high watermark when the step starts (the ticks
    # that arrived while the run queued and started); false: exactly the ranges given
    up_to_now: bool = True
    # then follow the feed (tickflow.ingest_follow) for up to this long: new offsets every
    # second until a newer following run is following or follow_idle_s without a new message
    follow_s: float = 0.0
    follow_idle_s: float = 5.0


def _materializations(context: OpExecutionContext, settings: Settings, reports: list[IngestReport]) -> None:
    """A materialization of every day the reports' ticks fall on, per table: late ticks mark
    their own (earlier) day's partition updated."""
    days = sorted({d for r in reports for d in r.days})
    topic_of = {"trades": settings.topic_trades, "quotes": settings.topic_quotes}
    for table, name in RAW_ASSETS.items():
        mine = [r for r in reports if r.topic == topic_of[table]]
        for day in days:
            meta = summarize(mine, table, day)
            if meta["rows"] == 0:
                continue
            context.log_event(AssetMaterialization(
                asset_key=name, partition=day.isoformat(),
                description=f"streamed from {topic_of[table]}", metadata=meta))


def _newer_follower_following(context: OpExecutionContext) -> Callable[[], bool]:
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record else dt.datetime.now(dt.UTC)
    newer = RunsFilter(job_name=context.job_name, statuses=[DagsterRunStatus.STARTED], created_after=created,
                       tags={FOLLOWING_TAG: "1"})

    def check() -> bool:
        return bool(context.instance.get_runs(newer, limit=1))

    return check


@op(description="Ingest the given offset ranges of every topic, each extended to the partition's high watermark "
                "when the step starts (unless up_to_now is false), exactly once (a transaction per topic); then, "
                "with follow_s, follow the feed: new offsets every second until a newer following run starts.")
def ingest_offsets(context: OpExecutionContext, config: IngestRanges, tickflow: TickflowResource) -> Output[None]:
    settings = tickflow.settings()
    check_kafka(settings)  # an unreachable broker: one clear line, not a client retrying
    reports = []
    extended = 0  # messages taken past the requested ends
    # each topic commits its rows and ledger rows in its own transaction: a crash between two
    # leaves the first one done, and the retry finds it in the ledger and skips it
    for topic, parts in sorted(config.ranges.items()):
        ranges = {int(p): (int(se[0]), int(se[1])) for p, se in parts.items()}
        if config.up_to_now:
            asked = ranges
            ranges = extend_to_high_watermark(settings, topic, ranges)
            extended += sum(ranges[p][1] - e for p, (_, e) in asked.items())
        reports.append(ingest_ranges(settings, topic, ranges, run_id=context.run_id))
    _materializations(context, settings, reports)
    meta: dict[str, Any] = {}
    if config.follow_s > 0:
        followed: list[IngestReport] = []

        def landed(batch: list[IngestReport]) -> None:
            followed[:] = fold_reports([*followed, *batch])
            _materializations(context, settings, batch)

        context.instance.add_run_tags(context.run_id, {FOLLOWING_TAG: "1"})
        began = dt.datetime.now(dt.UTC)
        fr = follow(settings, FollowParams(config.follow_s, config.follow_idle_s), _newer_follower_following(context),
                    landed, run_id=context.run_id)
        context.log.info(f"followed the feed {fr.seconds:.0f}s: {fr.messages} messages in {fr.ingests} of "
                         f"{fr.steps} looks; stopped: {fr.stopped}")
        reports += followed
        meta["follow"] = {"began_at": began.isoformat(), "seconds": round(fr.seconds, 1), "looks": fr.steps, "ingests": fr.ingests,
                          "messages": fr.messages, "stopped": fr.stopped}
    meta.update(summarize(reports, "trades"))
    topics = sorted(config.ranges) or sorted(settings.topics)  # a follower's successor may ask for nothing
    meta.update({"quote_rows": summarize(reports, "quotes")["rows"], "topics": topics,
                 "messages_past_requested_ends": extended,
                 "days": [d.isoformat() for d in sorted({d for r in reports for d in r.days})]})
    meta.update(lag_after_run(settings, topics))
    return Output(None, metadata=meta)


@job(description="Streaming ingest of new Kafka offset ranges of all topics (requested by kafka_offset_sensor).",
     tags={"tickflow/kind": "ingest", QUEUE_TAG: "ingest"},
     # one step: run it in the run's own process instead of importing the code location again
     executor_def=in_process_executor)
def ingest_job() -> None:
    ingest_offsets()
