"""Flat-file import from S3: a local S3-compatible server (moto in server mode, its own
process on a free port) holding the vendor's layout, read through pyarrow's S3 filesystem
with the endpoint and keys of Settings."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest

from tickflow.config import Settings
from tickflow.flatfiles.importer import import_day
from tickflow.flatfiles.source import day_path
from tickflow.simulate import to_flatfiles as vf
from tickflow.simulate.day import simulate_day
from tickflow.stack.procs import free_port

DAY = dt.date(2024, 3, 8)
KEY, SECRET = "tickflow-test", "tickflow-test-secret"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "1"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_import_from_s3_layout(tmp_path: Path, plain_dsn: str, s3_endpoint: str) -> None:
    day = simulate_day(DAY, n_symbols=2, seed=9, trades_per_symbol=800, quotes_per_symbol=10)
    local = vf.write_table(vf.trades_table(day), tmp_path / "t.csv.gz")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      region_name="us-east-1")
    s3.create_bucket(Bucket="flatfiles")
    key = day_path("us_stocks_sip", "trades", DAY)
    s3.upload_file(str(local), "flatfiles", key)

    s = Settings(home=tmp_path, pg_dsn=plain_dsn, flatfiles_root="s3://flatfiles/us_stocks_sip",
                 s3_endpoint=s3_endpoint, s3_access_key=KEY, s3_secret_key=SECRET)
    rep = import_day(s, DAY, "trades", block_size=64 << 10)  # many small blocks: streamed
    n = day.trades["ts_ns"].shape[0]
    assert (rep.rows_read, rep.inserted, rep.dead_letters) == (n, n, 0)
    assert rep.url == f"s3://flatfiles/{key}"
    with psycopg.connect(plain_dsn) as conn:
        got = conn.execute("SELECT count(*), sum(size), count(DISTINCT sym) FROM trades").fetchone()
    assert got == (n, float(day.trades["size"].sum()), 2)
    # a day the vendor has not published: a clear error, nothing written
    with pytest.raises(FileNotFoundError, match="no trades flat file for 2024-03-11"):
        import_day(s, dt.date(2024, 3, 11), "trades")
