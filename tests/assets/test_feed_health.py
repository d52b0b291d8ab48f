"""The feed-gap asset check in a real Dagster run: WARN while a trading day has an
unrepaired gap on the asset's channel, pass once it is repaired."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from dagster import AssetCheckSeverity, materialize

from assets.feed_health import feed_gap_checks
from assets.raw_ticks import raw_ticks
from resources.tickflow import TickflowResource
from tests.dagster_env import use_settings
from tickflow.config import Settings
from tickflow.store import gaps

NY = ZoneInfo("America/New_York")


def _run(dsn: str, day: str) -> dict[str, tuple[bool, AssetCheckSeverity, dict[str, object]]]:
    # The checks run with a backfill of the raw partition (here: an empty day in Kafka).
    result = materialize([raw_ticks, *feed_gap_checks], partition_key=day,
                         resources={"tickflow": TickflowResource(pg_dsn=dsn)})
    assert result.success
    out = {}
    for ev in result.get_asset_check_evaluations():
        out[ev.asset_key.to_user_string()] = (ev.passed, ev.severity,
                                              {k: v.value for k, v in ev.metadata.items()})
    return out


def test_gap_check_warns_until_repaired(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    plain_dsn = settings.dsn
    gap = gaps.record_gap(plain_dsn, dt.datetime(2024, 6, 21, 10, 0, tzinfo=NY),
                          dt.datetime(2024, 6, 21, 10, 2, tzinfo=NY), ["T"], None, "disconnected")
    first = _run(plain_dsn, "2024-06-21")
    assert set(first) == {"raw_trades", "raw_quotes"}
    passed, severity, meta = first["raw_trades"]
    assert not passed and severity == AssetCheckSeverity.WARN
    assert meta["unrepaired_gaps"] == 1 and meta["gap_seconds"] == 120.0
    assert first["raw_quotes"][0]  # the gap did not cover quotes
    assert _run(plain_dsn, "2024-06-20")["raw_trades"][0]  # nor the day before

    gaps.mark_repaired(plain_dsn, gap, 42)
    assert _run(plain_dsn, "2024-06-21")["raw_trades"][0]
