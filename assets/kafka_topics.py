"""The Kafka topics as observable source assets: each observation records end offsets."""


from dagster import AssetExecutionContext, DataVersion, ObserveResult, observable_source_asset

from resources.tickflow import TickflowResource
from tickflow.kafka.reader import watermarks


def _observe(tickflow: TickflowResource, topic: str) -> ObserveResult:
    marks = watermarks(tickflow.settings(), topic)
    ends = {str(p): high for p, (_, high) in marks.items()}
    return ObserveResult(
        data_version=DataVersion(",".join(f"{p}:{h}" for p, h in sorted(ends.items()))),
        metadata={"topic": topic, "end_offsets": ends, "messages": sum(h - lo for lo, h in marks.values()),
                  "partitions": len(marks)},
    )


@observable_source_asset(group_name="ingest", description="Kafka topic of Polygon trade events, keyed by symbol.")
def kafka_trades(context: AssetExecutionContext, tickflow: TickflowResource) -> ObserveResult:
    return _observe(tickflow, tickflow.settings().topic_trades)


@observable_source_asset(group_name="ingest", description="Kafka topic of Polygon quote events, keyed by symbol.")
def kafka_quotes(context: AssetExecutionContext, tickflow: TickflowResource) -> ObserveResult:
    return _observe(tickflow, tickflow.settings().topic_quotes)
