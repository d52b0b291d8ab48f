"""Streaming a flat file's CSV into the ingest path's columns, in bounded memory.

pyarrow's streaming CSV reader yields one record batch per ``block_size`` bytes of
decompressed text, and reads up to 32 blocks ahead of its consumer on a background thread
(Arrow's fixed read-ahead for a stream; measured: peak Arrow memory = 32 x block_size +
a few MiB, whatever use_threads says). So blocks are small (1 MiB: ~35 MiB read ahead; at
8 MiB it was 270 MiB, most of the 1.38 GB peak of a 5M-row import) and record batches
are joined here into batches of about ``batch_bytes`` for conversion and COPY, which cost
per batch. Memory is bounded by the two sizes, not the file's. Every column is read
as text and converted here, vectorised per batch (``pyarrow.compute.cast``); only a batch
whose cast fails is converted row by row, so one bad value becomes a dead letter with its
reason instead of failing the file. A line with the wrong number of fields is reported by
the reader's invalid-row handler and becomes a dead letter too.

Columns, as the vendor documents them (``conditions`` is a quoted comma list, e.g. ``"12,37"``):

* trades: ``ticker,conditions,correction,exchange,id,participant_timestamp,price,
  sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp``
* quotes: ``ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,
  conditions,indicators,participant_timestamp,sequence_number,sip_timestamp,tape,
  trf_timestamp``
* minute_aggs: ``ticker,volume,open,close,high,low,window_start,transactions``

The tick's time is ``sip_timestamp`` (ns), the same SIP time the live feed's ``t`` carries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tickflow.feed.events import QuoteColumns, TradeColumns
from tickflow.read_ahead import read_ahead

# column -> (numpy dtype, required). Optional columns may be empty (read as 0).
_TRADE_COLS: dict[str, tuple[type, bool]] = {
    "sip_timestamp": (np.int64, True), "price": (np.float64, True), "size": (np.float64, True),
    "exchange": (np.int16, False), "tape": (np.int16, False), "sequence_number": (np.int64, False),
}
_QUOTE_COLS: dict[str, tuple[type, bool]] = {
    "sip_timestamp": (np.int64, True), "bid_price": (np.float64, True), "bid_size": (np.float64, True),
    "ask_price": (np.float64, True), "ask_size": (np.float64, True), "bid_exchange": (np.int16, False),
    "ask_exchange": (np.int16, False), "tape": (np.int16, False), "sequence_number": (np.int64, False),
}
_AGG_COLS: dict[str, tuple[type, bool]] = {
    "window_start": (np.int64, True), "open": (np.float64, True), "high": (np.float64, True),
    "low": (np.float64, True), "close": (np.float64, True), "volume": (np.float64, True),
    "transactions": (np.float64, False),
}
COLUMNS = {
    "trades": ("ticker", "conditions", "id", *_TRADE_COLS),
    "quotes": ("ticker", "conditions", *_QUOTE_COLS),
    "minute_aggs": ("ticker", *_AGG_COLS),
}
_NUMERIC = {"trades": _TRADE_COLS, "quotes": _QUOTE_COLS, "minute_aggs": _AGG_COLS}
_ARROW: dict[type, pa.DataType] = {np.int64: pa.int64(), np.int16: pa.int16(), np.float64: pa.float64()}


@dataclass
class BadLine:
    line: int | None  # 1-based line number in the file when the reader knows it
    reason: str
    text: str


@dataclass
class Batch:
    """One block of a flat file as ingest columns. ``rows`` (file row numbers, 0-based over
    the parsed data rows) identifies each row for dead letters and ``src_offset``."""

    kind: str
    first_row: int
    n: int
    text: np.ndarray  # uint8, the sym/id slices point into it
    cond: np.ndarray  # int16 flattened conditions
    cols: dict[str, np.ndarray]  # sym_start/sym_len/(id_*)/cond_*/numeric columns, ts (raw ns)
    symbols: pa.Array  # the ticker column (for symbol filters)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (row index in batch, reason)
    source: pa.RecordBatch | None = None

    def payload(self, i: int) -> bytes:
        """The row's fields as a CSV line (for a dead letter)."""
        assert self.source is not None
        vals = [self.source.column(j)[i].as_py() for j in range(self.source.num_columns)]
        return ",".join('"' + v + '"' if v and "," in v else (v or "") for v in vals).encode()

    def trades(self) -> TradeColumns:
        c = self.cols
        return TradeColumns(msg=np.arange(self.n, dtype=np.int32), ts_ns=c["ts"], price=c["price"], size=c["size"],
                            exchange=c["exchange"], tape=c["tape"], seq=c["sequence_number"],
                            sym_start=c["sym_start"], sym_len=c["sym_len"], id_start=c["id_start"],
                            id_len=c["id_len"], cond_start=c["cond_start"], cond_len=c["cond_len"])

    def quotes(self) -> QuoteColumns:
        c = self.cols
        return QuoteColumns(msg=np.arange(self.n, dtype=np.int32), ts_ns=c["ts"], bid_price=c["bid_price"],
                            bid_size=c["bid_size"], ask_price=c["ask_price"], ask_size=c["ask_size"],
                            bid_exchange=c["bid_exchange"], ask_exchange=c["ask_exchange"], tape=c["tape"],
                            seq=c["sequence_number"], sym_start=c["sym_start"], sym_len=c["sym_len"],
                            cond_start=c["cond_start"], cond_len=c["cond_len"])


def _slices(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, start, length) of a string array's values, without a Python object per row."""
    arr = pc.fill_null(arr, "") if arr.null_count else arr
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    data = data[offs[0]: offs[-1]] if len(arr) else data[:0]
    start = offs[:-1] - offs[0]
    return data, start, (offs[1:] - offs[:-1]).astype(np.int32)


def _parse_one(v: str | None, dtype: type) -> object:
    if dtype is np.float64:
        return float(v)  # type: ignore[arg-type]
    x = int(v)  # type: ignore[arg-type]
    info = np.iinfo(dtype)  # type: ignore[type-var]
    if not info.min <= x <= info.max:
        raise ValueError(f"{x} out of range")
    return x


def _numeric(arr: pa.Array, name: str, dtype: type, required: bool, bad: dict[int, str]) -> np.ndarray:
    """Column ``name`` as numpy ``dtype``; unparseable (or missing required) values are
    recorded in ``bad`` (row -> reason) and left 0."""
    empty = pc.equal(pc.utf8_length(pc.fill_null(arr, "")), 0)
    if pc.any(empty).as_py():
        if required:
            for i in np.flatnonzero(empty.to_numpy(zero_copy_only=False)).tolist():
                bad.setdefault(i, f"missing {name}")
        arr = pc.if_else(empty, "0", pc.fill_null(arr, "0"))
    try:
        return np.asarray(pc.cast(arr, _ARROW[dtype]).to_numpy(zero_copy_only=False), dtype=dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out: np.ndarray = np.zeros(len(arr), dtype=dtype)
    for i, v in enumerate(arr.to_pylist()):  # only a batch holding a bad value comes here
        try:
            out[i] = _parse_one(v, dtype)
        except (TypeError, ValueError, OverflowError):
            bad.setdefault(i, f"unparseable {name}: {v!r}")
    return out


def _conditions(arr: pa.Array, bad: dict[int, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened int16 codes, cond_start, cond_len of a quoted comma-list column."""
    n = len(arr)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pc.fill_null(arr, ""))), 0)
    lists = pc.split_pattern(pc.if_else(blank, pa.scalar(None, pa.string()), arr), ",")
    length = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int32)
    start = (np.cumsum(length, dtype=np.int64) - length).astype(np.int64)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    try:
        codes = np.asarray(pc.cast(flat, pa.int16()).to_numpy(zero_copy_only=False), dtype=np.int16)
        return codes, start, length
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    codes = np.zeros(len(flat), dtype=np.int16)
    owner = np.repeat(np.arange(n), length)
    for k, v in enumerate(flat.to_pylist()):
        try:
            codes[k] = int(_parse_one(v, np.int16))  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            bad.setdefault(int(owner[k]), f"unparseable conditions: {arr[int(owner[k])].as_py()!r}")
    return codes, start, length


def convert(kind: str, rb: pa.RecordBatch, first_row: int) -> Batch:
    """A record batch of text columns as ingest columns (see :class:`Batch`)."""
    bad: dict[int, str] = {}
    cols: dict[str, np.ndarray] = {}
    text_parts = []
    sym_data, cols["sym_start"], cols["sym_len"] = _slices(rb.column("ticker"))
    text_parts.append(sym_data)
    if kind == "trades":
        id_data, id_start, cols["id_len"] = _slices(rb.column("id"))
        cols["id_start"] = id_start + sym_data.shape[0]
        text_parts.append(id_data)
    cond = np.zeros(0, np.int16)
    if kind in ("trades", "quotes"):
        cond, cols["cond_start"], cols["cond_len"] = _conditions(rb.column("conditions"), bad)
    for name, (dtype, required) in _NUMERIC[kind].items():
        cols[name] = _numeric(rb.column(name), name, dtype, required, bad)
    cols["ts"] = cols["sip_timestamp" if kind != "minute_aggs" else "window_start"]
    text = np.concatenate(text_parts) if len(text_parts) > 1 else text_parts[0]
    return Batch(kind, first_row, rb.num_rows, np.ascontiguousarray(text), cond, cols, rb.column("ticker"),
                 sorted(bad.items()), rb)


BLOCK_SIZE = 1 << 20
BATCH_BYTES = 8 << 20


def iter_batches(stream: pa.NativeFile, kind: str, block_size: int = BLOCK_SIZE,
                 bad_lines: deque[BadLine] | list[BadLine] | None = None,
                 batch_bytes: int = BATCH_BYTES) -> Iterator[Batch]:
    """The file's rows as :class:`Batch` es of about ``batch_bytes`` (Arrow memory of the
    text columns), read ``block_size`` bytes of CSV at a time. Lines the CSV parser rejects
    are appended to ``bad_lines`` (and skipped)."""
    wanted = COLUMNS[kind]
    sink: deque[BadLine] | list[BadLine] = bad_lines if bad_lines is not None else []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        sink.append(BadLine(row.number, f"malformed CSV row: expected {row.expected_columns} fields, "
                                        f"got {row.actual_columns}", row.text or ""))
        return "skip"

    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=block_size, use_threads=True),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in wanted},
                                                 include_columns=list(wanted), strings_can_be_null=False),
        )
    except pa.ArrowKeyError as e:  # the header lacks a column we need
        raise ValueError(f"not a {kind} flat file in the vendor's format: {e}") from e
    def batches() -> Iterator[Batch]:
        row = 0
        held: list[pa.RecordBatch] = []
        size = 0
        for rb in reader:
            if rb.num_rows:
                held.append(rb)
                size += rb.nbytes
            if held and size >= batch_bytes:
                joined = held[0] if len(held) == 1 else pa.concat_batches(held)
                held, size = [], 0
                yield convert(kind, joined, row)
                row += joined.num_rows
        if held:
            yield convert(kind, held[0] if len(held) == 1 else pa.concat_batches(held), row)

    # parsing the next batch overlaps the COPY of the current one; two batches in flight
    yield from read_ahead(batches(), "flatfile-read-ahead", depth=2)


