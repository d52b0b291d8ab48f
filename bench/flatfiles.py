"""Flat-file import benchmark (make bench-flatfiles): a day's trades file in the vendor's
format (CSV.gz, 5M simulated trades by default) into the tick store, against two
references on the same data in one process.

    (a) ours: tickflow import flatfiles (streaming CSV read, conversion, validation, dead
        letters, binary COPY through the idempotent writer, one transaction), in a child
        process so its peak memory (RSS) can be read on its own
    (b) bare read: pyarrow's streaming CSV reader over the same file, types inferred,
        batches discarded (what reading alone costs)
    (c) COPY ceiling: binary COPY of the same rows, encoded beforehand (not timed), into
        the same table with the same keys

The embedded PostgreSQL 18 is started here under a temporary folder. The last line is
``RESULT flatfiles rows_per_s=<a> vs_copy=<a/c>``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from tickflow.config import Settings
from tickflow.feed.events import TradeColumns
from tickflow.flatfiles.read import BATCH_BYTES, BLOCK_SIZE
from tickflow.simulate import to_flatfiles as vf
from tickflow.simulate.day import simulate_day
from tickflow.stack.postgres import PgServer, wheel_bin_dir
from tickflow.stack.procs import free_port
from tickflow.store.pgcopy import encode_trades
from tickflow.store.schema import ensure_day_partitions, ensure_schema
from tickflow.store.write import copy_rows

DAY = dt.date(2024, 6, 21)


def fresh_store(pg: PgServer, name: str) -> str:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    dsn = pg.ensure_database(name)
    ensure_day_partitions(dsn, ensure_schema(dsn), [DAY])
    return dsn


def _child_import(dsn: str, path: str, block_size: int, batch_bytes: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from tickflow.flatfiles.importer import import_day

    t0 = time.perf_counter()
    rep = import_day(Settings(home=Path(path).parent, pg_dsn=dsn), DAY, "trades", path, block_size=block_size,
                     batch_bytes=batch_bytes)
    out.put((time.perf_counter() - t0, rep.inserted, rep.dead_letters, _peak_rss_mib(),
             pa.default_memory_pool().max_memory() / 2**20))


def _peak_rss_mib() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux carries it over an exec from the
    forked parent, so a spawned child reported the parent's RSS at the fork (this bench
    holds the simulated day: the "1.38 GB" once read as the import's peak). VmHWM is the
    high-water mark of the process's own address space."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(dsn: str, path: Path, block_size: int, batch_bytes: int) -> tuple[float, int, int, float, float]:
    """(seconds, rows inserted, dead letters, the child's peak RSS and peak Arrow memory, MiB)."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    p = ctx.Process(target=_child_import, args=(dsn, str(path), block_size, batch_bytes, q))
    p.start()
    res = q.get()
    p.join()
    return res  # type: ignore[no-any-return]


def bare_read(path: Path, block_size: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = 0
    with pa.input_stream(str(path), compression="gzip") as stream:
        for batch in pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=block_size)):
            rows += batch.num_rows
    return time.perf_counter() - t0, rows


def copy_ceiling(dsn: str, day) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    t = day.trades
    names = [s.encode() for s in day.symbols]
    ids = [str(int(i)).encode() for i in t["trade_id"]]
    sym_text = b"".join(names)
    sym_off = np.cumsum([len(x) for x in names]) - np.array([len(x) for x in names])
    id_len = np.array([len(x) for x in ids], dtype=np.int32)
    text = np.frombuffer(sym_text + b"".join(ids), dtype=np.uint8)
    n = t["ts_ns"].shape[0]
    cols = TradeColumns(
        msg=np.arange(n, dtype=np.int32), ts_ns=t["ts_ns"], price=t["price"], size=t["size"],
        exchange=t["exchange"], tape=t["tape"], seq=t["seq"],
        sym_start=sym_off[t["sym_idx"]].astype(np.int64),
        sym_len=np.array([len(x) for x in names], dtype=np.int32)[t["sym_idx"]],
        id_start=(len(sym_text) + np.cumsum(id_len, dtype=np.int64) - id_len), id_len=id_len,
        cond_start=t["cond_start"], cond_len=t["cond_len"])
    payload = encode_trades(cols, text, t["cond"], np.full(n, -1, np.int64), np.arange(n, dtype=np.int64))
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.transaction():
        inserted, _ = copy_rows(conn, "trades", payload, n)
    return time.perf_counter() - t0, inserted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=5_000_000)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--block-size", type=int, default=BLOCK_SIZE, help="CSV reader block (bytes)")
    ap.add_argument("--batch-bytes", type=int, default=BATCH_BYTES, help="rows joined per COPY (Arrow bytes)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-flatfiles-", dir="/tmp"))
    tmp.chmod(0o755)
    xdg = tmp / "xdg"
    xdg.mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(xdg)
    pg = PgServer(wheel_bin_dir(), tmp / "pg", free_port())
    pg.start()
    try:
        t0 = time.perf_counter()
        day = simulate_day(DAY, n_symbols=args.symbols, seed=1, trades_per_symbol=args.trades // args.symbols,
                           quotes_per_symbol=2, jumps_per_symbol=0.0)
        path = vf.write_table(vf.trades_table(day), tmp / "trades_v1" / "2024-06-21.csv.gz")
        n = int(day.trades["ts_ns"].shape[0])
        print(f"simulated {n:,} trades of {args.symbols} symbols, file {path.stat().st_size / 2**20:.1f} MiB gz "
              f"({time.perf_counter() - t0:.1f} s); load: {os.getloadavg()[0]:.2f}")

        a_s, a_rows, a_dead, a_rss, a_arrow = ours(fresh_store(pg, "bench_ours"), path, args.block_size,
                                                    args.batch_bytes)
        if a_rows != n or a_dead:
            raise SystemExit(f"import stored {a_rows} rows ({a_dead} dead letters), expected {n}")
        b_s, b_rows = bare_read(path, args.block_size)
        c_s, c_rows = copy_ceiling(fresh_store(pg, "bench_copy"), day)
        if b_rows != n or c_rows != n:
            raise SystemExit(f"row counts differ: read {b_rows}, copy {c_rows}, expected {n}")
        a, b, c = n / a_s, n / b_s, n / c_s
        print(f"{'path':<44}{'seconds':>10}{'rows/s':>14}{'ours / it':>12}")
        for name, s, r in (("(a) ours: import flatfiles (child process)", a_s, a),
                           ("(b) bare pyarrow streaming CSV read", b_s, b),
                           ("(c) binary COPY ceiling (pre-encoded)", c_s, c)):
            print(f"{name:<44}{s:>10.2f}{r:>14,.0f}{a / r:>11.2f}x")
        print(f"import peak RSS (child process VmHWM, incl. imports): {a_rss:.0f} MiB, peak Arrow memory {a_arrow:.0f} MiB; "
              f"reader block {args.block_size >> 10} KiB, batches of {args.batch_bytes >> 20} MiB; "
              f"load after: {os.getloadavg()[0]:.2f}")
        print(f"RESULT flatfiles rows_per_s={a:.0f} vs_copy={a / c:.2f}")
    finally:
        pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
