"""Reading a derived table's day back, for tests (the engine reads its tables as arrays)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
from psycopg import sql

from tickflow.store.derived import Table


def read_day(dsn: str, table: Table, day: dt.date, interval_min: int | None = None) -> pd.DataFrame:
    """One day of a derived table as a pandas DataFrame, ordered by its key."""
    where = sql.SQL("day = {}").format(sql.Literal(day))
    if interval_min is not None:
        where = sql.SQL("{} AND interval_min = {}").format(where, sql.Literal(int(interval_min)))
    q = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {}").format(
        sql.Identifier(table.name), where, sql.SQL(", ").join(sql.Identifier(c) for c in table.key))
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(q)
        names = [d.name for d in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=names)
