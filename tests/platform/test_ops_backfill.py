"""The on-call commands' pure parts: selection against an asset list, trading days, retrain day."""

from __future__ import annotations

import datetime as dt

import pytest

from tickflow.ops.backfill import last_closed_session, partition_days, resolve_selection

ASSETS = [
    {"assetKey": {"path": [name]}, "groupName": group, "isPartitioned": part, "isMaterializable": mat}
    for name, group, part, mat in [
        ("kafka_trades", "ingest", False, False), ("raw_trades", "ingest", True, True),
        ("bars_1m", "bars", True, True), ("indicators", "bars", True, True),
        ("trade_signals", "signals", True, True), ("price_model", "ml", True, True)]
]


def test_selection() -> None:
    assert resolve_selection("group:bars or group:signals", ASSETS) == [["bars_1m"], ["indicators"], ["trade_signals"]]
    assert resolve_selection("group:ingest", ASSETS) == [["raw_trades"]]  # not the observable source
    assert resolve_selection("raw_trades, bars_1m bars_1m", ASSETS) == [["raw_trades"], ["bars_1m"]]
    with pytest.raises(ValueError, match=r"'group:nope' matches no partitioned asset \(groups: bars, ingest, ml"):
        resolve_selection("group:nope", ASSETS)


def test_trading_days_and_retrain_day() -> None:
    assert partition_days(dt.date(2024, 6, 17), dt.date(2024, 6, 21)) == [
        "2024-06-17", "2024-06-18", "2024-06-20", "2024-06-21"]  # Juneteenth skipped
    with pytest.raises(ValueError, match="no XNYS trading day"):
        partition_days(dt.date(2024, 6, 22), dt.date(2024, 6, 23))
    utc = dt.UTC
    assert last_closed_session(dt.datetime(2024, 6, 21, 19, 0, tzinfo=utc)) == dt.date(2024, 6, 20)  # 15:00 NY
    assert last_closed_session(dt.datetime(2024, 6, 21, 20, 30, tzinfo=utc)) == dt.date(2024, 6, 21)
    assert last_closed_session(dt.datetime(2024, 6, 23, 12, 0, tzinfo=utc)) == dt.date(2024, 6, 21)
