"""A range backfills as one run: every partitioned asset of the real definitions has
``BackfillPolicy.single_run()``, and a real asset backfill of a two-day range, submitted to
an instance and driven by the backfill daemon's own iteration, launches exactly one run."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, BackfillPolicy, DagsterRunStatus
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.instance_for_test import instance_for_test
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.backfill import execute_backfill_iteration

import definitions
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day

REPO = Path(__file__).resolve().parents[2]
DAYS = [dt.date(2024, 6, 20), dt.date(2024, 6, 21)]
# Every partitioned asset, by name: a new one must be added here (and given the policy).
PARTITIONED = {"raw_trades", "raw_quotes", "raw_vendor_bars", "bars_1m", "bars_5m", "bars_15m", "indicators",
               "trade_signals", "bar_measures", "daily_measures", "jump_events", "anomalies", "features", "price_model",
               "predictions", "model_evaluation"}


def test_every_partitioned_asset_has_the_single_run_policy() -> None:
    graph = definitions.defs.get_repository_def().asset_graph
    partitioned = {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()
                   if graph.get(k).partitions_def is not None}
    assert set(partitioned) == PARTITIONED
    wrong = {k: n.backfill_policy for k, n in partitioned.items() if n.backfill_policy != BackfillPolicy.single_run()}
    assert not wrong, f"assets without BackfillPolicy.single_run(): {wrong}"


def test_a_range_backfill_through_the_daemon_is_one_run(plain_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKFLOW_PG_DSN", plain_dsn)
    for i, d in enumerate(DAYS):
        write_simulated_day(plain_dsn, simulate_day(d, n_symbols=2, seed=30 + i, trades_per_symbol=2000,
                                                    quotes_per_symbol=4000))
    keys = [AssetKey(k) for k in ("bars_1m", "bars_5m", "bars_15m", "indicators")]
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=str(REPO / "definitions.py"),
                                                              working_directory=str(REPO)),
                                         location_name="tickflow")
    with instance_for_test(synchronous_run_coordinator=True, synchronous_run_launcher=True) as instance, \
            WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as ctx:
        request = ctx.create_request_context()
        assert not [e.load_error for e in request.get_code_location_entries().values() if e.load_error]
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id="rangeone", asset_graph=request.asset_graph, partition_names=[d.isoformat() for d in DAYS],
            asset_selection=keys, backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance,
            all_partitions=False, title=None, description=None, run_config=None)
        instance.add_backfill(backfill)
        logger = logging.getLogger("test_backfill")
        for _ in range(10):  # the daemon's iterations: request, then see the run done, then complete
            list(execute_backfill_iteration(ctx, logger))
            if instance.get_backfill("rangeone").status != BulkActionStatus.REQUESTED:  # type: ignore[union-attr]
                break
        status = instance.get_backfill("rangeone").status  # type: ignore[union-attr]
        runs = instance.get_runs()
        assert status == BulkActionStatus.COMPLETED_SUCCESS, status
        assert len(runs) == 1, [(r.run_id, r.tags) for r in runs]
        run = runs[0]
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/backfill"] == "rangeone"
        assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
            DAYS[0].isoformat(), DAYS[1].isoformat())
        assert set(run.asset_selection or ()) == set(keys)
    with psycopg.connect(plain_dsn) as conn:
        per_day = dict(conn.execute("SELECT day, count(*) FROM bars WHERE interval_min = 1 GROUP BY 1").fetchall())
    assert per_day == {d: 2 * 390 for d in DAYS}
