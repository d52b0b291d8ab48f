"""The schema's versioned migrations (tickflow.store.schema), on both storage backends: a
database at every earlier version (and one made before versions) migrates to exactly the
schema of a fresh one, migrating twice changes nothing, two processes migrating at once are
safe, and the tables are what their writers write."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.platform.derived_reading import read_day
from tickflow.ml.feature_store import ML_TABLES
from tickflow.stack.postgres import PgServer
from tickflow.store import derived, vendor_bars
from tickflow.store.schema import COPY_COLUMNS, LATEST, MIGRATIONS, current_version, migrate

# What a database at each version holds (sha256 of its catalog snapshot below, on the
# embedded PostgreSQL). A released version must never change what it creates: a database
# already past it would never see the change. If a test here fails on these, leave the old
# versions as they were and append a new one; pin the new version's fingerprint (printed by
# the failing assertion) only for a version that is new.
PINNED = {
    1: "4305704617474ddbc4eef3bdff45dc6328bbdaa9088a865eff476fa5a613039e",
    2: "463b3b6781f5edf3411ef505859b17180f58d6ec85438fbad9ffb74ca73c3bb1",
    3: "93e0c215d17eea9ccadc551f47c839132d3582e64dd81919d21e5b2d4f888ac4",
    4: "95089fa959bdecaeda3318f8f79d1571daee503001bd201c4849e19a33559e1d",
}

Snapshot = dict[str, list[tuple[object, ...]]]

_SNAPSHOT = {
    # tables (partition children, i.e. day partitions and chunks, are data, not schema)
    "tables": "SELECT c.relname, c.relkind, coalesce(pg_get_partkeydef(c.oid), '') FROM pg_class c "
              "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
              "AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
    "columns": "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
               "coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attstorage FROM pg_attribute a "
               "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
               "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
               "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
               "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2",
    "indexes": "SELECT t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
               "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
               "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() "
               "AND NOT t.relispartition ORDER BY 1, 2",
    # PostgreSQL >= 18 lists NOT NULL as constraints too, named after whichever table first
    # took the name; nullability itself is in "columns", so their names are left out.
    "constraints": "SELECT t.relname, CASE WHEN k.contype = 'n' THEN '' ELSE k.conname END, k.contype, "
                   "pg_get_constraintdef(k.oid) FROM pg_constraint k "
                   "JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
                   "WHERE n.nspname = current_schema() AND NOT t.relispartition ORDER BY 1, 2, 3, 4",
    "migrations": "SELECT version, name FROM schema_migrations ORDER BY 1",
}


def snapshot(dsn: str) -> Snapshot:
    with psycopg.connect(dsn, autocommit=True) as conn:
        snap = {k: [tuple(r) for r in conn.execute(q)] for k, q in _SNAPSHOT.items()}  # type: ignore[arg-type]
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
            snap["hypertables"] = [tuple(r) for r in conn.execute(
                "SELECT hypertable_name, column_name, time_interval::text FROM timescaledb_information.dimensions "
                "WHERE hypertable_schema = current_schema() ORDER BY 1, 2")]
    return snap


def fingerprint(snap: Snapshot) -> str:
    return hashlib.sha256(json.dumps(snap, sort_keys=True, default=str).encode()).hexdigest()


@pytest.fixture(params=["plain", "timescale"])
def empty_db(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """Makes empty databases (no tables at all) on one backend; drops them afterwards."""
    server: PgServer = request.getfixturevalue("pg_plain" if request.param == "plain" else "pg_timescale")
    made: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        made.append(name)
        return server.ensure_database(name, ("timescaledb",) if request.param == "timescale" else ())

    yield make
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(dsn: str, target: int | None = None) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return migrate(conn, target)


def test_versions_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))
    assert len({m.name for m in MIGRATIONS}) == LATEST


def test_every_earlier_version_migrates_to_the_fresh_schema(empty_db: Callable[[], str]) -> None:
    fresh = empty_db()
    assert _migrate(fresh) == list(range(1, LATEST + 1))
    want = snapshot(fresh)
    assert _migrate(fresh) == []  # a second run is a no-op ...
    assert snapshot(fresh) == want  # ... that changes nothing
    plain = "hypertables" not in want
    for k in range(LATEST):
        dsn = empty_db()
        assert _migrate(dsn, target=k) == list(range(1, k + 1))
        with psycopg.connect(dsn) as conn:
            assert current_version(conn) == k
        if plain and k:
            got_k = fingerprint(snapshot(dsn))
            assert got_k == PINNED[k], f"version {k} now creates another schema ({got_k})"
        assert _migrate(dsn) == list(range(k + 1, LATEST + 1))
        got = snapshot(dsn)
        for part in want:
            assert got[part] == want[part], f"from version {k}: {part} differ"
    if plain:
        assert fingerprint(want) == PINNED[LATEST], f"version {LATEST} now creates another schema ({fingerprint(want)})"


def test_a_store_made_before_versions_is_brought_to_the_current_schema(empty_db: Callable[[], str]) -> None:
    """A store made before versions began (its tables there, no ``schema_migrations``), in
    the states earlier releases left: an unpartitioned derived table, a ``features`` table of
    an older feature set, ``feature_blocks`` with default storage. Migrating keeps its rows
    and ends with the fresh schema."""
    fresh = empty_db()
    _migrate(fresh)
    want = snapshot(fresh)
    dsn = empty_db()
    _migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE schema_migrations")
        conn.execute("DROP TABLE anomalies")
        conn.execute("CREATE TABLE anomalies (day date NOT NULL, sym text NOT NULL, ts timestamptz NOT NULL, "
                     "kind text NOT NULL, value float8, threshold float8, PRIMARY KEY (day, sym, kind, ts))")
        conn.execute("INSERT INTO anomalies VALUES ('2024-06-20', 'OLD', now(), 'price_spike', 1, 2), "
                     "('2024-06-21', 'OLD', now(), 'volume_surge', 3, 4)")
        conn.execute("ALTER TABLE features DROP COLUMN prev_bns_z, DROP COLUMN m_ofi")
        conn.execute("ALTER TABLE feature_blocks ALTER COLUMN ts SET STORAGE EXTENDED, "
                     "ALTER COLUMN matrix SET STORAGE EXTENDED")
        conn.execute("INSERT INTO offset_ledger (topic, partition, start_offset, end_offset, messages, trades, quotes, "
                     "duplicates, dead_letters) VALUES ('trades', 0, 0, 10, 10, 10, 0, 0, 0)")
        assert current_version(conn) == 0
    assert _migrate(dsn) == list(range(1, LATEST + 1))
    got = snapshot(dsn)
    for part in want:
        assert got[part] == want[part], f"{part} differ"
    assert list(read_day(dsn, derived.ANOMALIES, dt.date(2024, 6, 20))["sym"]) == ["OLD"]
    assert list(read_day(dsn, derived.ANOMALIES, dt.date(2024, 6, 21))["value"]) == [3.0]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM offset_ledger").fetchone() == (1,)
        assert conn.execute("SELECT to_regclass('anomalies_unpartitioned')").fetchone() == (None,)


def test_concurrent_migrations_apply_each_version_once(empty_db: Callable[[], str]) -> None:
    dsn = empty_db()
    start = threading.Barrier(3)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                start.wait()
                applied.append(migrate(conn))
        except BaseException as e:  # noqa: BLE001  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(applied) == [[], [], list(range(1, LATEST + 1))]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT array_agg(version ORDER BY version) FROM schema_migrations").fetchone() == (
            list(range(1, LATEST + 1)),)


def test_migrate_needs_an_autocommit_connection(empty_db: Callable[[], str]) -> None:
    with psycopg.connect(empty_db()) as conn, pytest.raises(ValueError, match="autocommit"):
        migrate(conn)


def test_the_tables_are_what_their_writers_write(store_dsn: str) -> None:
    """The writers' column lists (derived tables, ML tables, tick COPY, vendor bars) name the
    migrated tables' columns, types and keys: a writer changed without a migration fails."""
    with psycopg.connect(store_dsn) as conn:
        def columns(table: str) -> list[tuple[str, str]]:
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s ORDER BY ordinal_position", (table,))]

        def key(table: str) -> list[str]:
            return [r[0] for r in conn.execute(
                "SELECT a.attname FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid "
                "AND a.attnum = ANY(x.indkey) WHERE x.indrelid = %s::regclass AND x.indisprimary "
                "ORDER BY array_position(x.indkey::int2[], a.attnum)", (table,))]

        for t in (*derived.TABLES.values(), *ML_TABLES):
            assert columns(t.name) == list(t.columns), t.name
            assert key(t.name) == list(t.key), t.name
        for table, cols in COPY_COLUMNS.items():
            assert [c for c, _ in columns(table)] == list(cols), table
        assert [c for c, _ in columns("vendor_bars")] == [c for c, _ in vendor_bars.COLUMNS]


def test_tickflow_migrate_brings_an_empty_store_to_the_latest_version(
        pg_plain: PgServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tickflow.cli import main

    dsn = pg_plain.ensure_database(f"t_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("TICKFLOW_PG_DSN", dsn)
    assert main(["migrate"]) == 0
    assert f"schema at version {LATEST} " in capsys.readouterr().out
    with psycopg.connect(dsn) as conn:
        assert current_version(conn) == LATEST
        applied_at = conn.execute("SELECT array_agg(applied_at ORDER BY version) FROM schema_migrations").fetchone()
    assert main(["migrate"]) == 0  # current: nothing applied again
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT array_agg(applied_at ORDER BY version) FROM schema_migrations").fetchone() == applied_at
    with psycopg.connect(pg_plain.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
