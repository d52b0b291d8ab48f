"""Bars and signals as real Dagster runs on the real store: one partition, a partition range
(that a real backfill of a range is one run: tests/assets/test_backfill.py), the asset checks, and the automation that re-runs a day when late ticks land."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    evaluate_automation_conditions,
    materialize,
)

import definitions
from assets.bars import bars, indicators
from assets.signals import anomalies, signals
from resources.tickflow import TickflowResource
from tests.platform.derived_reading import read_day
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day

DAY = dt.date(2024, 6, 21)
EARLIER = dt.date(2024, 6, 20)
DERIVED = [bars, indicators, signals, anomalies]
RANGE = {"dagster/asset_partition_range_start": EARLIER.isoformat(),
         "dagster/asset_partition_range_end": DAY.isoformat()}


@pytest.fixture
def two_days(plain_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TICKFLOW_PG_DSN", plain_dsn)
    for d, seed in ((EARLIER, 3), (DAY, 4)):
        write_simulated_day(plain_dsn, simulate_day(d, n_symbols=3, seed=seed, trades_per_symbol=3000,
                                                    quotes_per_symbol=6000))
    return plain_dsn


def _checks(result) -> dict[tuple[str, str], bool]:  # type: ignore[no-untyped-def]
    return {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}


def test_groups_and_checks_are_defined() -> None:
    graph = definitions.defs.get_repository_def().asset_graph
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {k for k, g in groups.items() if g == "bars"} == {"bars_1m", "bars_5m", "bars_15m", "indicators"}
    assert {k for k, g in groups.items() if g == "signals"} == {
        "trade_signals", "bar_measures", "daily_measures", "jump_events", "anomalies"}
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("bars_1m", "volume_reconciles_with_raw") in checks
    assert ("bar_measures", "p_values_in_unit_interval") in checks


def test_one_day_materializes_with_passing_checks(two_days: str) -> None:
    with DagsterInstance.ephemeral() as instance:
        res = materialize(DERIVED, partition_key=DAY.isoformat(), instance=instance,
                          resources={"tickflow": TickflowResource()})
        assert res.success
        checks = _checks(res)
        assert len(checks) == 3 * 6 + 1 + 5 and all(checks.values()), checks
        mats = {m.asset_key.to_user_string(): m for m in res.asset_materializations_for_node("bars")}
        assert mats["bars_1m"].metadata["rows"].value == 3 * 390
        assert mats["bars_15m"].metadata["rows"].value == 3 * 26
    with psycopg.connect(two_days) as conn:
        n_days = conn.execute("SELECT count(DISTINCT day) FROM trade_signals").fetchone()[0]  # type: ignore[index]
        n_trades = conn.execute("SELECT count(*) FROM trade_signals").fetchone()[0]  # type: ignore[index]
        raw = conn.execute("SELECT count(*) FROM trades WHERE ts::date = %s", (DAY,)).fetchone()[0]  # type: ignore[index]
    assert n_days == 1 and n_trades == raw


def test_a_range_in_one_run_warms_up_the_later_day(two_days: str) -> None:
    with DagsterInstance.ephemeral() as instance:
        res = materialize(DERIVED, instance=instance, tags=RANGE, resources={"tickflow": TickflowResource()})
        assert res.success and all(_checks(res).values())
    with psycopg.connect(two_days) as conn:
        days = [r[0] for r in conn.execute("SELECT DISTINCT day FROM bars ORDER BY 1")]
        warm = conn.execute("SELECT count(*) FROM indicators WHERE day = %s AND sma_200 IS NOT NULL",
                            (DAY,)).fetchone()[0]  # type: ignore[index]
    assert days == [EARLIER, DAY]
    # The second day's indicators are warmed up by the first: SMA 200 is defined from its first bar.
    assert warm == 3 * 390


def test_late_ticks_on_an_earlier_day_rerun_its_bars(two_days: str) -> None:
    """A streaming run that lands late ticks on an earlier day records a materialization of
    that day's raw partition; the automation condition then requests that day's bars."""
    with DagsterInstance.ephemeral() as instance:
        defs = definitions.defs
        first = evaluate_automation_conditions(defs=defs, instance=instance)
        for key in ("raw_trades", "raw_quotes"):
            for d in (EARLIER, DAY):
                instance.report_runless_asset_event(AssetMaterialization(key, partition=d.isoformat()))
        res = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        requested = {(k.to_user_string(), p) for k, ps in _requested(res).items() for p in ps}
        assert ("bars_1m", EARLIER.isoformat()) in requested and ("bars_1m", DAY.isoformat()) in requested
        materialize(DERIVED, instance=instance, tags=RANGE, resources={"tickflow": TickflowResource()})
        settled = evaluate_automation_conditions(defs=defs, instance=instance, cursor=res.cursor)
        # Late ticks for EARLIER only: only that day is requested again.
        instance.report_runless_asset_event(AssetMaterialization("raw_trades", partition=EARLIER.isoformat()))
        late = evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        bars_parts = _requested(late).get(AssetKey("bars_1m"), set())
        assert bars_parts == {EARLIER.isoformat()}


def _requested(result) -> dict[AssetKey, set[str]]:  # type: ignore[no-untyped-def]
    keys = [AssetKey(k) for k in ("bars_1m", "bars_5m", "indicators", "trade_signals", "anomalies")]
    return {k: set(result.get_requested_partitions(k)) for k in keys if result.get_requested_partitions(k)}


def test_bad_bars_fail_their_check_and_stop_the_day(two_days: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A defect in the computed bars (here: one high below its open) surfaces as a failed
    asset check on that asset, the day's bars are not replaced (the store keeps the previous
    computation) and no downstream asset of that day is built on them."""
    from tickflow.derive import bars as bars_mod

    with DagsterInstance.ephemeral() as instance:  # a good computation first
        assert materialize([bars], partition_key=DAY.isoformat(), instance=instance,
                           resources={"tickflow": TickflowResource()}).success
    with psycopg.connect(two_days) as conn:
        before = conn.execute("SELECT count(*), sum(high) FROM bars WHERE day = %s", (DAY,)).fetchone()
    real = bars_mod.compute_bars

    def broken(ticks):  # type: ignore[no-untyped-def]
        out = real(ticks)
        out[5]["high"][3] = out[5]["open"][3] - 1.0
        return out

    monkeypatch.setattr(bars_mod, "compute_bars", broken)
    with DagsterInstance.ephemeral() as instance:
        res = materialize(DERIVED, partition_key=DAY.isoformat(), instance=instance,
                          resources={"tickflow": TickflowResource()}, raise_on_error=False)
        materialized = {k.to_user_string() for k in instance.get_asset_keys()
                        if instance.get_latest_materialization_event(k) is not None}
    checks = _checks(res)
    assert checks[("bars_5m", "high_ge_open_close")] is False
    assert checks[("bars_1m", "high_ge_open_close")] is True
    # Only bars_5m fails (the lowered high also puts its VWAP above it); the others pass.
    assert {a for (a, _), ok in checks.items() if not ok} == {"bars_5m"}
    assert not res.success
    # Nothing downstream of the failed day ran.
    assert not materialized & {"indicators", "trade_signals", "bar_measures", "daily_measures", "jump_events",
                               "anomalies"}, materialized
    with psycopg.connect(two_days) as conn:
        after = conn.execute("SELECT count(*), sum(high) FROM bars WHERE day = %s", (DAY,)).fetchone()
        assert conn.execute("SELECT count(*) FROM indicators WHERE day = %s", (DAY,)).fetchone()[0] == 0  # type: ignore[index]
    assert after == before  # the failed computation did not replace the stored day


def test_an_open_day_updates_its_tail_and_agrees_with_the_full_run(plain_dsn: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """During the session (a rehearsal of the day, TICKFLOW_REHEARSAL_DAYS) the second bars
    run takes the tail path (tickflow.derive.intraday); its rows equal the full recompute's."""
    from tickflow import sessions
    from tickflow.store import derived

    monkeypatch.setenv("TICKFLOW_PG_DSN", plain_dsn)
    sim = simulate_day(DAY, n_symbols=2, seed=5, trades_per_symbol=1500, quotes_per_symbol=3000)
    open_ns = sessions.session_bounds_ns(DAY)[0]
    cut = open_ns + 200 * 60_000_000_000
    write_simulated_day(plain_dsn, sim)
    with psycopg.connect(plain_dsn) as conn:  # the ticks after the cut arrive later
        for t in ("trades", "quotes"):
            conn.execute(f"CREATE TABLE {t}_later AS SELECT * FROM {t} WHERE ts_ns >= %s", (cut,))  # noqa: S608
            conn.execute(f"DELETE FROM {t} WHERE ts_ns >= %s", (cut,))  # noqa: S608
    monkeypatch.setenv("TICKFLOW_REHEARSAL_DAYS", DAY.isoformat())  # a rehearsal: the past day counts as live
    updates = []
    with DagsterInstance.ephemeral() as instance:
        for step in range(2):
            res = materialize([bars, indicators, signals], partition_key=DAY.isoformat(), instance=instance,
                              resources={"tickflow": TickflowResource()})
            assert res.success and all(_checks(res).values())
            mats = {m.asset_key.to_user_string(): m for m in res.get_asset_materialization_events()
                    for m in [m.materialization]}
            updates.append(tuple(mats[a].metadata["update"].value for a in ("bars_1m", "indicators", "trade_signals")))
            if step == 0:
                with psycopg.connect(plain_dsn) as conn:
                    for t in ("trades", "quotes"):
                        conn.execute(f"INSERT INTO {t} SELECT * FROM {t}_later")  # noqa: S608
    assert updates == [("full", "tail", "full"), ("tail", "tail", "tail")]
    live = [read_day(plain_dsn, t, DAY) for t in (derived.BARS, derived.INDICATORS)]
    monkeypatch.delenv("TICKFLOW_REHEARSAL_DAYS")  # the session has closed: the full recompute
    with DagsterInstance.ephemeral() as instance:
        res = materialize([bars, indicators], partition_key=DAY.isoformat(), instance=instance,
                          resources={"tickflow": TickflowResource()})
        assert res.success
        meta = {m.materialization.asset_key.to_user_string(): m.materialization.metadata
                for m in res.get_asset_materialization_events()}
        assert meta["bars_1m"]["full_because"].value == "the session has closed"
    for a, t in zip(live, (derived.BARS, derived.INDICATORS), strict=True):
        import pandas as pd

        pd.testing.assert_frame_equal(a, read_day(plain_dsn, t, DAY), check_exact=True)
