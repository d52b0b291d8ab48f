"""The live feed's gaps as asset checks on the raw tick partitions.

``no_unrepaired_feed_gaps`` on ``raw_trades`` / ``raw_quotes``, partitioned like them: for
each trading day of the run, the gaps the feed recorded (``tickflow.store.gaps``) that
cover the asset's channel and are not yet repaired from the vendor's flat files. It
WARNs (the day's data is incomplete, but what is there is right) while any remain and
passes once flat-file repair has marked them all repaired."""

import warnings

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    PreviewWarning,
    asset_check,
)

from assets.partitions import trading_days
from resources.tickflow import TickflowResource
from tickflow.store.gaps import unrepaired_for_channel

_CHANNELS = {"raw_trades": "T", "raw_quotes": "Q"}


def _gap_check(asset: str, channel: str) -> AssetChecksDefinition:
    @asset_check(asset=asset, name="no_unrepaired_feed_gaps", partitions_def=trading_days,
                 description=f"No unrepaired live-feed gap covers channel {channel} on this trading day.")
    def check(context: AssetCheckExecutionContext, tickflow: TickflowResource) -> AssetCheckResult:
        import datetime as dt

        dsn = tickflow.settings().dsn
        days = context.partition_keys if context.has_partition_key_range or context.has_partition_key else []
        found = {key: unrepaired_for_channel(dsn, dt.date.fromisoformat(key), channel) for key in days}
        bad = {k: g for k, g in found.items() if g}
        first = next(iter(bad.values()), [])
        return AssetCheckResult(
            passed=not bad,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "partitions": list(found),
                "partitions_with_gaps": list(bad),
                "unrepaired_gaps": sum(len(g) for g in bad.values()),
                "gap_seconds": round(sum(g.seconds() for gs in bad.values() for g in gs), 1),
                "first_gaps": [f"{g.started_at.isoformat()} .. {g.ended_at.isoformat() if g.ended_at else 'open'}: "
                               f"{g.reason}" for g in first[:5]],
            },
        )

    return check


with warnings.catch_warnings():
    # Partitioned asset checks are a preview feature in this Dagster release.
    warnings.simplefilter("ignore", PreviewWarning)
    feed_gap_checks = [_gap_check(asset, channel) for asset, channel in _CHANNELS.items()]
