"""Hand-written Polygon events as a DecodedBatch, built in plain Python without the decoder:
an independent way to make the columns the COPY writer consumes (tests only)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from tickflow.feed.events import DecodedBatch, QuoteColumns, TradeColumns

DTYPES = {
    "msg": np.int32, "ts_ns": np.int64, "exchange": np.int16, "tape": np.int16, "seq": np.int64,
    "bid_exchange": np.int16, "ask_exchange": np.int16, "sym_start": np.int64, "sym_len": np.int32,
    "id_start": np.int64, "id_len": np.int32, "cond_start": np.int64, "cond_len": np.int32,
}


def batch_from_events(events: list[dict]) -> DecodedBatch:  # type: ignore[type-arg]
    """A DecodedBatch from Polygon-style event dicts (ns timestamps), one message per event."""
    text = bytearray()
    cond: list[int] = []
    cols: dict[str, dict[str, list[object]]] = {"T": {}, "Q": {}}

    def add_str(s: str) -> tuple[int, int]:
        b = s.encode()
        text.extend(b)
        return len(text) - len(b), len(b)

    for i, e in enumerate(events):
        kind = e["ev"]
        c = cols[kind]
        s0, s1 = add_str(e["sym"])
        c0 = len(cond)
        cond.extend(int(x) for x in e.get("c", []))
        row: dict[str, object] = {"msg": i, "ts_ns": int(e["t"]), "sym_start": s0, "sym_len": s1,
                                  "cond_start": c0, "cond_len": len(cond) - c0, "tape": e.get("z", 0),
                                  "seq": e.get("q", 0)}
        if kind == "T":
            i0, i1 = add_str(str(e.get("i", "")))
            row.update(price=e["p"], size=e["s"], exchange=e.get("x", 0), id_start=i0, id_len=i1)
        else:
            row.update(bid_price=e["bp"], bid_size=e["bs"], ask_price=e["ap"], ask_size=e["as"],
                       bid_exchange=e.get("bx", 0), ask_exchange=e.get("ax", 0))
        for k, v in row.items():
            c.setdefault(k, []).append(v)

    def build(cls: type, c: dict[str, list[object]]) -> object:
        out = {}
        for f in fields(cls):
            dtype = DTYPES.get(f.name, np.float64)
            out[f.name] = np.asarray(c.get(f.name, []), dtype=dtype)
        return cls(**out)

    return DecodedBatch(
        text=np.frombuffer(bytes(text), dtype=np.uint8).copy(),
        cond=np.asarray(cond, dtype=np.int16),
        trades=build(TradeColumns, cols["T"]),  # type: ignore[arg-type]
        quotes=build(QuoteColumns, cols["Q"]),  # type: ignore[arg-type]
    )
