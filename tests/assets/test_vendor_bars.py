"""raw_vendor_bars and raw_trades backfilled from flat files as real Dagster runs, then
bars_1m and its reconciliation check against the vendor's bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from dagster import AssetKey, DagsterInstance, materialize

import definitions
from assets.bars import bars
from assets.raw_ticks import raw_ticks
from assets.vendor_bars import matches_vendor_minute_bars, raw_vendor_bars
from resources.tickflow import TickflowResource
from tests.platform.flatfiles.test_import import reference_vendor_bars
from tickflow.simulate import to_flatfiles as vf
from tickflow.simulate.day import simulate_day

DAY = dt.date(2024, 3, 7)


def test_check_is_defined_on_bars_1m() -> None:
    graph = definitions.defs.get_repository_def().asset_graph
    assert ("bars_1m", "matches_vendor_minute_bars") in {
        (c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert graph.get(AssetKey("raw_vendor_bars")).group_name == "ingest"


def test_flatfile_backfill_and_reconciliation(tmp_path: Path, plain_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKFLOW_PG_DSN", plain_dsn)
    root = tmp_path / "flat"
    monkeypatch.setenv("TICKFLOW_FLATFILES_ROOT", str(root))
    day = simulate_day(DAY, n_symbols=2, seed=6, trades_per_symbol=1200, quotes_per_symbol=2000)
    vf.write_flat_files(day, root)
    vf.write_table(pa.Table.from_pandas(reference_vendor_bars(day), preserve_index=False),
                   root / "minute_aggs_v1/2024/03/2024-03-07.csv.gz")
    flat = {"source": "flatfiles"}
    with DagsterInstance.ephemeral() as instance:
        res = materialize([raw_ticks, raw_vendor_bars], partition_key=DAY.isoformat(), instance=instance,
                          resources={"tickflow": TickflowResource()},
                          run_config={"ops": {"raw_ticks": {"config": flat}, "raw_vendor_bars": {"config": flat}}})
        assert res.success
        meta = {e.materialization.asset_key.to_user_string(): e.materialization.metadata
                for e in res.get_asset_materialization_events()}
        assert meta["raw_trades"]["rows"].value == day.trades["ts_ns"].shape[0]
        assert meta["raw_quotes"]["rows"].value == day.quotes["ts_ns"].shape[0]
        assert meta["raw_vendor_bars"]["rows"].value > 0
        res = materialize([bars, matches_vendor_minute_bars], partition_key=DAY.isoformat(), instance=instance,
                          resources={"tickflow": TickflowResource()}, selection=["bars_1m", "bars_5m", "bars_15m"])
        assert res.success
        checks = {e.check_name: e for e in res.get_asset_check_evaluations()}
        vendor = checks["matches_vendor_minute_bars"]
        assert vendor.passed, vendor.metadata
        assert vendor.metadata["symbol_minutes_compared"].value > 0
    with psycopg.connect(plain_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
