"""Every Dagster run brings the store's schema up to date at its start (TickflowResource),
before any asset touches a table."""

from __future__ import annotations

import uuid

import psycopg
from dagster import asset, materialize

from resources.tickflow import TickflowResource
from tickflow.stack.postgres import PgServer
from tickflow.store.schema import LATEST, current_version


@asset
def ledger_rows(tickflow: TickflowResource) -> int:
    with psycopg.connect(tickflow.settings().dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM offset_ledger").fetchone()[0])  # type: ignore[index]


def test_a_run_migrates_an_empty_store_before_its_assets(pg_plain: PgServer) -> None:
    dsn = pg_plain.ensure_database(f"t_{uuid.uuid4().hex[:12]}")
    try:
        result = materialize([ledger_rows], resources={"tickflow": TickflowResource(pg_dsn=dsn)})
        assert result.success
        assert result.output_for_node("ledger_rows") == 0
        with psycopg.connect(dsn) as conn:
            assert current_version(conn) == LATEST
    finally:
        with psycopg.connect(pg_plain.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
