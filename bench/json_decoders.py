"""Compare JSON decoders on Polygon trade payloads, decoding all the way to columns.

Generates 200k realistic trade events twice: as 200k single-object messages and as 2k
array messages of 100 events (Polygon WebSocket frames). Each decoder must produce the
same thing the ingest path needs -- numpy columns (msg, ts, price, size, exchange, tape,
seq) plus symbol/id/conditions -- so the per-event cost of building Python objects and
gathering them back into arrays is included. Times are best of a few repeats on one core.

    .venv/bin/python bench/json_decoders.py [--events N] [--repeat R] [--gc-off]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import time
from collections.abc import Callable, Iterator
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
import numpy as np

from tickflow.feed.decode import decode_batch

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a bench/dev extra
    orjson = None  # type: ignore[assignment]

SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "JPM", "V", "SPY", "QQQ",
           "AMD", "NFLX", "INTC", "BAC", "XOM", "KO", "PEP", "DIS"]


def make_events(n: int, seed: int = 7) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    base = {s: rnd.uniform(20, 900) for s in SYMBOLS}
    t0 = 1_700_000_000_000_000_000
    out = []
    for k in range(n):
        sym = rnd.choice(SYMBOLS)
        base[sym] *= 1 + rnd.gauss(0, 0.0002)
        ev: dict[str, object] = {
            "ev": "T", "sym": sym, "i": str(rnd.randrange(10**13, 10**14)), "x": rnd.choice([4, 11, 12, 19]),
            "p": round(base[sym], rnd.choice([2, 2, 2, 4])), "s": rnd.choice([1, 5, 10, 100, 200, 37]),
            "c": rnd.sample([12, 14, 37, 41, 2, 53], rnd.randint(0, 3)), "t": (t0 + k * 13_000) // 1_000_000,
            "q": 1000 + k, "z": rnd.choice([1, 2, 3]),
        }
        if not ev["c"]:
            del ev["c"]
        out.append(ev)
    return out


class Trade(msgspec.Struct, tag="T", tag_field="ev"):
    sym: str
    t: int
    p: float
    s: float
    x: int = 0
    i: str | int = ""
    c: list[int] = []
    z: int = 0
    q: int = 0


Frame = list[Trade]


REQUIRED = ("sym", "t", "p", "s")
DEFAULTS = {"x": 0, "i": "", "c": [], "z": 0, "q": 0}


def _columns(events: list, struct: bool) -> dict[str, np.ndarray]:
    """Gather per-event objects into the same columns decode_batch produces, as fast as
    Python allows (C-level map over attrgetter/itemgetter, no per-field Python frames
    except dict .get for optional keys)."""
    n = len(events)

    def col(k: str) -> Iterator[Any]:
        if struct:
            return map(attrgetter(k), events)
        if k in REQUIRED:
            return map(itemgetter(k), events)
        d = DEFAULTS[k]
        return (e.get(k, d) for e in events)

    cols: dict[str, np.ndarray] = {
        "ts": np.fromiter(col("t"), np.int64, n),
        "price": np.fromiter(col("p"), np.float64, n),
        "size": np.fromiter(col("s"), np.float64, n),
        "exchange": np.fromiter(col("x"), np.int16, n),
        "tape": np.fromiter(col("z"), np.int16, n),
        "seq": np.fromiter(col("q"), np.int64, n),
    }
    syms = [s.encode() for s in col("sym")]
    ids = [i.encode() if type(i) is str else str(i).encode() for i in col("i")]
    conds = list(col("c"))
    cols["sym_len"] = np.fromiter(map(len, syms), np.int32, n)
    cols["id_len"] = np.fromiter(map(len, ids), np.int32, n)
    cols["cond_len"] = np.fromiter(map(len, conds), np.int32, n)
    cols["text"] = np.frombuffer(b"".join(syms) + b"".join(ids), np.uint8)
    cols["cond"] = np.fromiter(chain.from_iterable(conds), np.int16)
    return cols


def run_ours(values: list[bytes]) -> int:
    b = decode_batch(values)
    assert not b.dead, b.dead[:3]
    return len(b.trades)


_trade_dec = msgspec.json.Decoder(Trade)
_frame_dec = msgspec.json.Decoder(Frame)


def _msgspec_events(values: list[bytes]) -> list[Trade]:
    if values[0][:1] == b"[":
        return list(chain.from_iterable(map(_frame_dec.decode, values)))
    return list(map(_trade_dec.decode, values))


def run_msgspec(values: list[bytes]) -> int:
    return len(_columns(_msgspec_events(values), struct=True)["ts"])


def run_msgspec_objects_only(values: list[bytes]) -> int:
    return len(_msgspec_events(values))


def _flatten(objs: list) -> list:
    out = []
    for o in objs:
        if isinstance(o, list):
            out.extend(o)
        else:
            out.append(o)
    return out


def run_orjson(values: list[bytes]) -> int:
    return len(_columns(_flatten(list(map(orjson.loads, values))), struct=False)["ts"])


def run_stdlib(values: list[bytes]) -> int:
    return len(_columns(_flatten(list(map(json.loads, values))), struct=False)["ts"])


def best_of(fn: Callable[[list[bytes]], int], values: list[bytes], n_events: int, repeat: int) -> float:
    fn(values)  # warm-up (JIT compile / cache load for ours)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        got = fn(values)
        best = min(best, time.perf_counter() - t0)
        assert got == n_events, (fn.__name__, got, n_events)
    return n_events / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--per-array", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gc-off", action="store_true",
                    help="disable the cyclic GC while timing (flatters the per-object decoders)")
    args = ap.parse_args()
    if args.gc_off:
        gc.disable()

    try:  # one core, as the ingest worker is sized
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass

    events = make_events(args.events)
    enc = msgspec.json.encode
    single = [enc(e) for e in events]
    k = args.per_array
    arrays = [enc(events[i:i + k]) for i in range(0, len(events), k)]
    print(f"python {platform.python_version()}, numpy {np.__version__}, msgspec {msgspec.__version__}, "
          f"orjson {orjson.__version__ if orjson else 'n/a'}; cpu: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores (pinned to 1); cyclic GC {'off' if args.gc_off else 'on'}")
    print(f"{len(events)} trade events, mean {sum(map(len, single)) / len(single):.0f} bytes/event")
    # same answer as msgspec before timing anything
    for values in (single, arrays):
        batch, ref = decode_batch(values), _columns(_msgspec_events(values), struct=True)
        for mine, theirs in (("ts_ns", "ts"), ("price", "price"), ("size", "size"), ("exchange", "exchange"),
                             ("tape", "tape"), ("seq", "seq"), ("cond_len", "cond_len"), ("id_len", "id_len")):
            got = getattr(batch.trades, mine)
            want = ref[theirs] * 1_000_000 if mine == "ts_ns" else ref[theirs]
            assert np.array_equal(got, want), mine
    decoders: list[tuple[str, Callable[[list[bytes]], int]]] = [
        ("tickflow decode_batch (numba)", run_ours),
        ("msgspec typed Struct + columns", run_msgspec),
        ("  (msgspec Structs only, no columns)", run_msgspec_objects_only),
    ]
    if orjson is not None:
        decoders.append(("orjson.loads + columns", run_orjson))
    decoders.append(("json.loads (stdlib) + columns", run_stdlib))
    for label, values in ((f"{len(single)} single-object messages", single),
                          (f"{len(arrays)} array messages of {k}", arrays)):
        print(f"\n{label}")
        print(f"  {'decoder':34s} {'events/s':>12s} {'vs ours':>8s}")
        ours = None
        for name, fn in decoders:
            rate = best_of(fn, values, len(events), args.repeat)
            ours = ours or rate
            print(f"  {name:34s} {rate:12,.0f} {rate / ours:7.2f}x")


if __name__ == "__main__":
    main()
