"""A simulated day as flat files in the vendor's format and layout (for tests, benchmarks
and demos): :func:`write_flat_files` writes its trades and quotes where the importer looks
for them (:func:`tickflow.flatfiles.source.day_path`); the table builders take a row
selection, for files that hold part of a day.

Columns and order as the vendor publishes them (see :mod:`tickflow.flatfiles.read`);
``conditions`` a quoted comma list, timestamps in ns; gzip-compressed when the name ends in
``.gz``. Written with pyarrow's CSV writer in blocks, without a Python object per row
except for the condition lists' text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tickflow.flatfiles.source import day_path
from tickflow.simulate.day import SimulatedDay

TRADE_COLUMNS = ("ticker", "conditions", "correction", "exchange", "id", "participant_timestamp", "price",
                 "sequence_number", "sip_timestamp", "size", "tape", "trf_id", "trf_timestamp")


def conditions_text(cond: np.ndarray, cond_start: np.ndarray, cond_len: np.ndarray) -> pa.Array:
    """Flattened codes as one comma-list string per row ("" for none)."""
    length = np.asarray(cond_len, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(length)]).astype(np.int32)
    pos = np.repeat(np.asarray(cond_start, dtype=np.int64), length) + (
        np.arange(int(length.sum())) - np.repeat(offsets[:-1], length))
    values = pa.array(np.asarray(cond, dtype=np.int64)[pos]).cast(pa.string())
    lists = pa.ListArray.from_arrays(pa.array(offsets), values)
    return pc.binary_join(lists, ",")


def write_table(table: pa.Table, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = pa.CompressedOutputStream(str(path), "gzip") if path.suffix == ".gz" else pa.OSFile(str(path), "wb")
    with sink:
        pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
    return path


def _rows(day: SimulatedDay, cols: dict[str, np.ndarray], sel: np.ndarray | None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The selected rows (all, a mask or indices): their indices, tickers and timestamps."""
    idx = np.arange(cols["ts_ns"].shape[0]) if sel is None else np.flatnonzero(sel) if sel.dtype == bool else sel
    return idx, np.asarray(day.symbols, dtype=object)[cols["sym_idx"][idx]], cols["ts_ns"][idx]


def trades_table(day: SimulatedDay, sel: np.ndarray | None = None) -> pa.Table:
    t = day.trades
    idx, syms, ts = _rows(day, t, sel)
    n = idx.shape[0]
    return pa.table({
        "ticker": pa.array(syms, pa.string()),
        "conditions": conditions_text(t["cond"], t["cond_start"][idx], t["cond_len"][idx]),
        "correction": np.zeros(n, np.int64), "exchange": t["exchange"][idx].astype(np.int64),
        "id": pa.array(t["trade_id"][idx]).cast(pa.string()), "participant_timestamp": ts - 150_000,
        "price": t["price"][idx], "sequence_number": t["seq"][idx], "sip_timestamp": ts,
        "size": t["size"][idx], "tape": t["tape"][idx].astype(np.int64),
        "trf_id": np.zeros(n, np.int64), "trf_timestamp": np.zeros(n, np.int64),
    })


def quotes_table(day: SimulatedDay, sel: np.ndarray | None = None) -> pa.Table:
    q = day.quotes
    idx, syms, ts = _rows(day, q, sel)
    n = idx.shape[0]
    return pa.table({
        "ticker": pa.array(syms, pa.string()), "ask_exchange": q["ask_exchange"][idx].astype(np.int64),
        "ask_price": q["ask_price"][idx], "ask_size": q["ask_size"][idx],
        "bid_exchange": q["bid_exchange"][idx].astype(np.int64), "bid_price": q["bid_price"][idx],
        "bid_size": q["bid_size"][idx],
        "conditions": conditions_text(q["cond"], q["cond_start"][idx], q["cond_len"][idx]),
        "indicators": pa.array([""] * n, pa.string()), "participant_timestamp": ts - 150_000,
        "sequence_number": q["seq"][idx], "sip_timestamp": ts, "tape": q["tape"][idx].astype(np.int64),
        "trf_timestamp": np.zeros(n, np.int64),
    })


def write_flat_files(day: SimulatedDay, root: str | Path) -> dict[str, Path]:
    """The day's trades and quotes at ``<root>/<kind>_v1/YYYY/MM/YYYY-MM-DD.csv.gz``."""
    return {kind: write_table(table(day), day_path(str(root), kind, day.date))
            for kind, table in (("trades", trades_table), ("quotes", quotes_table))}
