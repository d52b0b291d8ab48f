"""Real Dagster runs on the real servers: streaming ingest runs record a materialization
per trading day touched (late data included); backfilling a partition range re-ingests it
as one run; the code location loads with trading-day partitions."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, materialize

import definitions
from assets.kafka_topics import kafka_trades
from assets.partitions import trading_days
from assets.raw_ticks import ingest_job, raw_ticks
from resources.tickflow import TickflowResource
from sensors.kafka_offsets import ingest_request
from tests.dagster_env import use_settings
from tickflow.config import Settings
from tickflow.ingest import plan_runs, run_key_all
from tickflow.kafka.producer import produce
from tickflow.kafka.reader import watermarks
from tickflow.simulate.bad_input import bad_messages
from tickflow.simulate.day import render_messages, simulate_day

DAY = dt.date(2024, 6, 21)
EARLIER = dt.date(2024, 6, 20)


def _partitions_materialized(instance: DagsterInstance, asset: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for ev in instance.fetch_materializations(AssetKey(asset), limit=100).records:
        mat = ev.asset_materialization
        assert mat is not None and mat.partition is not None
        out[mat.partition] = int(mat.metadata["rows"].value)
    return out


def test_definitions_load_with_trading_day_partitions() -> None:
    repo = definitions.defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"kafka_trades", "kafka_quotes", "raw_trades", "raw_quotes"} <= keys
    window = trading_days.get_partition_keys(current_time=dt.datetime(2024, 6, 26))
    week = [k for k in window if "2024-06-14" <= k <= "2024-06-25"]
    # Juneteenth (19th) and the weekend are not trading days.
    assert week == ["2024-06-14", "2024-06-17", "2024-06-18", "2024-06-20", "2024-06-21", "2024-06-24",
                    "2024-06-25"]


def test_streaming_runs_materialize_each_day_touched(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    day = simulate_day(DAY, n_symbols=2, seed=8, trades_per_symbol=400, quotes_per_symbol=800)
    late = simulate_day(EARLIER, n_symbols=2, seed=9, trades_per_symbol=100, quotes_per_symbol=10)
    n_day = produce(settings, settings.topic_trades, render_messages(day, "T"))
    n_late = produce(settings, settings.topic_trades, render_messages(late, "T"))
    produce(settings, settings.topic_trades, bad_messages(DAY, 3))
    n_quotes = produce(settings, settings.topic_quotes, render_messages(day, "Q"))
    with DagsterInstance.ephemeral() as instance:
        # one run for both topics, configured as the offset sensor requests it
        requests, _ = plan_runs(settings, {})
        assert {t for t, _ in requests} == set(settings.topics)
        config = ingest_request(run_key_all(requests), requests).run_config
        result = ingest_job.execute_in_process(run_config=config, instance=instance,
                                               resources={"tickflow": TickflowResource()})
        assert result.success
        assert _partitions_materialized(instance, "raw_trades") == {DAY.isoformat(): n_day,
                                                                    EARLIER.isoformat(): n_late}
        assert _partitions_materialized(instance, "raw_quotes") == {DAY.isoformat(): n_quotes}
        out = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"][0]
        md = out.event_specific_data.metadata  # type: ignore[union-attr]
        assert md["rows"].value == n_day + n_late
        assert md["quote_rows"].value == n_quotes
        assert md["dead_letters"].value == 3
        # The same run config again is a no-op: the ledger already holds the ranges.
        again = ingest_job.execute_in_process(run_config=config, instance=instance,
                                              resources={"tickflow": TickflowResource()})
        out2 = [e for e in again.all_events if e.event_type_value == "STEP_OUTPUT"][0]
        assert out2.event_specific_data.metadata["rows"].value == 0  # type: ignore[union-attr]
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == n_day + n_late


def _ingested(instance: DagsterInstance, ranges: dict[str, dict[str, list[int]]], **config: object) -> int:
    """Rows an ingest run configured with `ranges` wrote (its step's metadata)."""
    result = ingest_job.execute_in_process(
        run_config={"ops": {"ingest_offsets": {"config": {"ranges": ranges, **config}}}}, instance=instance,
        resources={"tickflow": TickflowResource()})
    assert result.success
    out = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"][0]
    return int(out.event_specific_data.metadata["rows"].value)  # type: ignore[union-attr]


def test_a_run_takes_the_ticks_that_arrived_after_it_was_requested(settings: Settings,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A run is planned when the sensor looks and starts seconds later: its step extends each
    range to the high watermark, and a later run asked for the overlap writes nothing twice."""
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=11, trades_per_symbol=300, quotes_per_symbol=10)
    messages = list(render_messages(sim, "T"))  # one trade a message
    produce(settings, settings.topic_trades, iter(messages[: len(messages) // 3]))
    requests, cursor = plan_runs(settings, {})  # the sensor looks ...
    asked = {t: {str(p): [s, e] for p, (s, e) in parts.items()} for t, parts in requests}
    n_asked = sum(e - s for s, e in asked[settings.topic_trades].values())
    n_late = produce(settings, settings.topic_trades, iter(messages[len(messages) // 3:]))  # ... more arrive
    with DagsterInstance.ephemeral() as instance:
        # positive control: told to take exactly what was asked, it does
        assert _ingested(instance, asked, up_to_now=False) == n_asked
        with psycopg.connect(settings.dsn) as conn:
            conn.execute("TRUNCATE trades, offset_ledger")
        assert _ingested(instance, asked) == n_asked + n_late
        # the next request starts where the ledger ends, not at the sensor's cursor: nothing to ask
        again, _ = plan_runs(settings, cursor)
        assert again == []
        # a run asked for the overlap anyway (a request made before the first one ran) is a no-op
        highs = {str(p): h for p, (_, h) in watermarks(settings, settings.topic_trades).items()}
        later = {p: [e, highs[p]] for p, (_, e) in asked[settings.topic_trades].items() if highs[p] > e}
        assert later and _ingested(instance, {settings.topic_trades: later}) == 0
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == n_asked + n_late


def test_a_following_run_records_its_materializations_as_it_goes(settings: Settings,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With follow_s the run keeps taking new offsets after its ranges until the feed is quiet;
    each report period's ticks are recorded as materializations while it follows, so the
    day's downstream work sees them without waiting for the run to end."""
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=12, trades_per_symbol=300, quotes_per_symbol=10)
    messages = list(render_messages(sim, "T"))
    produce(settings, settings.topic_trades, iter(messages[:100]))
    requests, _ = plan_runs(settings, {})
    ranges = {t: {str(p): [s, e] for p, (s, e) in parts.items()} for t, parts in requests}

    def trickle() -> None:
        for i in range(100, len(messages), 100):
            time.sleep(0.8)
            produce(settings, settings.topic_trades, iter(messages[i:i + 100]))

    producer = threading.Thread(target=trickle, daemon=True)
    with DagsterInstance.ephemeral() as instance:
        producer.start()
        result = ingest_job.execute_in_process(
            run_config={"ops": {"ingest_offsets": {"config": {"ranges": ranges, "follow_s": 60,
                                                              "follow_idle_s": 3}}}},
            instance=instance, resources={"tickflow": TickflowResource()})
        producer.join()
        assert result.success
        meta = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"][0] \
            .event_specific_data.metadata  # type: ignore[union-attr]
        follow = meta["follow"].value
        assert follow["stopped"] == "no new message for 3s" and follow["messages"] == len(messages) - 100
        # when the follow loop began (the freshness bench places each handover by it)
        began = dt.datetime.fromisoformat(follow["began_at"])
        assert -0.1 < (dt.datetime.now(dt.UTC) - began).total_seconds() - follow["seconds"] < 30  # seconds: to 0.1
        assert meta["rows"].value == len(messages)
        mats = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
        assert len(mats) >= 2  # the run's ranges, then at least one report while following
        assert sum(m.event_specific_data.materialization.metadata["rows"].value for m in mats) \
            == len(messages)  # type: ignore[union-attr]
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT (src_partition, src_offset)) FROM trades").fetchone() \
            == (len(messages), len(messages))


def test_a_partition_range_reingests_idempotently(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    counts = {}
    for d, seed in ((EARLIER, 1), (DAY, 2)):
        sim = simulate_day(d, n_symbols=2, seed=seed, trades_per_symbol=200, quotes_per_symbol=300)
        counts[d] = (produce(settings, settings.topic_trades, render_messages(sim, "T")),
                     produce(settings, settings.topic_quotes, render_messages(sim, "Q")))
    with DagsterInstance.ephemeral() as instance:
        tags = {"dagster/asset_partition_range_start": EARLIER.isoformat(),
                "dagster/asset_partition_range_end": DAY.isoformat()}
        for _ in range(2):
            res = materialize([raw_ticks, kafka_trades], selection=[raw_ticks], instance=instance, tags=tags,
                              resources={"tickflow": TickflowResource()})
            assert res.success
        mats = _partitions_materialized(instance, "raw_quotes")
        assert set(mats) == {EARLIER.isoformat(), DAY.isoformat()}
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == sum(t for t, _ in counts.values())
        assert conn.execute("SELECT count(*) FROM quotes").fetchone()[0] == sum(q for _, q in counts.values())
