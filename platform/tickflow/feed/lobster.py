"""LOBSTER level-1 files (message + orderbook) as trades and quotes.

LOBSTER (Huang & Polak, lobsterdata.com) gives, per order-book event, ``Time`` (seconds
after midnight, exchange local time), ``Type`` (1 submission, 2 partial cancel, 3 delete,
4 execution of a visible order, 5 execution of a hidden order, 6 cross, 7 halt),
``OrderId``, ``Size``, ``Price`` (dollars x 10000) and ``Direction`` (side of the limit
order; for an execution, the side of the *resting* order, so the trade's aggressor is the
opposite side); the orderbook file gives the best ask/bid price and size after each event.

Trades are the executions (types 4 and 5), with the aggressor side ``-Direction`` kept as
ground truth for trade-sign tests. Quotes are the orderbook rows where the top of book
changed; LOBSTER marks an empty side with a dummy price (+-9999999999), which we drop. A
book row caused by an execution is stamped 1 ns after the execution, since it shows the
book the trade left behind, not the one it met.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

_DUMMY = 9_999_999_999
_NAME = re.compile(r"(?P<sym>[A-Z.]+)_(?P<day>\d{4}-\d{2}-\d{2})_\d+_\d+_message_(?P<level>\d+)\.csv(\.gz)?$")


def load_lobster(message_csv: str | Path) -> tuple[dt.date, str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(day, symbol, trades, quotes) from a LOBSTER message file and its orderbook sibling
    (plain or gzip-compressed ``.csv.gz``).

    trades: ts_ns, price, size, side, sym (code 0); quotes: ts_ns, bid, bid_size, ask,
    ask_size, sym. Raises ValueError when the file name or the row counts do not match."""
    path = Path(message_csv)
    m = _NAME.search(path.name)
    if not m:
        raise ValueError(f"not a LOBSTER message file name: {path.name}")
    day = dt.date.fromisoformat(m["day"])
    book_path = path.with_name(path.name.replace("_message_", "_orderbook_"))
    msg = pd.read_csv(path)
    book = pd.read_csv(book_path).iloc[:, :4]
    if len(msg) != len(book):
        raise ValueError(f"{path.name}: {len(msg)} messages but {len(book)} orderbook rows")
    book.columns = ["ask", "ask_size", "bid", "bid_size"]
    midnight = int(dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo("America/New_York")).timestamp()) * 10**9
    # Times carry 5 decimals: round to whole microseconds, then to ns, without float drift.
    ts_ns = midnight + np.round(msg["Time"].to_numpy() * 1e6).astype(np.int64) * 1000

    ex = msg["Type"].isin([4, 5]).to_numpy()
    trades = {"ts_ns": ts_ns[ex], "price": msg["Price"].to_numpy()[ex] / 10_000.0,
              "size": msg["Size"].to_numpy()[ex].astype(np.float64),
              "side": (-msg["Direction"].to_numpy()[ex]).astype(np.int8), "sym": np.zeros(int(ex.sum()), np.int64)}

    a, b = book["ask"].to_numpy(), book["bid"].to_numpy()
    valid = (np.abs(a) < _DUMMY) & (np.abs(b) < _DUMMY) & (a > b)
    top = book.to_numpy()
    changed = np.ones(len(book), dtype=bool)
    changed[1:] = np.any(top[1:] != top[:-1], axis=1)
    keep = valid & changed
    # The book row of an execution is the book *after* that trade; stamping it 1 ns later keeps
    # it from being taken as the quote prevailing at the trade (Lee-Ready, spreads).
    q_ts = ts_ns + ex.astype(np.int64)
    quotes = {"ts_ns": q_ts[keep], "bid": b[keep] / 10_000.0, "bid_size": book["bid_size"].to_numpy()[keep] * 1.0,
              "ask": a[keep] / 10_000.0, "ask_size": book["ask_size"].to_numpy()[keep] * 1.0,
              "sym": np.zeros(int(keep.sum()), np.int64)}
    return day, m["sym"], trades, quotes
