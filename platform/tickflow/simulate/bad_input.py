"""Malformed and invalid messages, one of each kind the decoder must dead-letter.

Each yields exactly one dead letter; the demo and the tests mix them into a stream."""

from __future__ import annotations

import datetime as dt

from tickflow import sessions


def bad_messages(day: dt.date, count: int) -> list[tuple[bytes, bytes, int]]:
    """`count` (key, value, timestamp_ms) messages cycling through every bad-input kind."""
    lo, _ = sessions.day_bounds_ns(day)
    t = lo + 10 * 3_600_000_000_000  # 10:00 New York
    saturday = day + dt.timedelta(days=(5 - day.weekday()) % 7 or 7)
    sat_ns = sessions.day_bounds_ns(saturday)[0] + 12 * 3_600_000_000_000
    kinds = [
        b'{"ev":"T","sym":"BAD","t":' + str(t).encode() + b',"p":10.0,"s":',  # truncated JSON
        b'{"ev":"T","sym":"BAD","t":' + str(t).encode() + b',"s":100}',  # missing price
        b'{"ev":"T","sym":"BAD","t":' + str(t).encode() + b',"p":"ten","s":100}',  # mistyped price
        b'{"ev":"T","sym":"BAD","t":' + str(t).encode() + b',"p":-1.5,"s":100}',  # non-positive price
        b'{"ev":"T","sym":"BAD","t":' + str(t).encode() + b',"p":10.0,"s":0}',  # non-positive size
        b'{"ev":"XX","sym":"BAD","t":' + str(t).encode() + b',"p":10.0,"s":100}',  # unknown event type
        b'{"ev":"T","sym":"BAD","t":42,"p":10.0,"s":100}',  # implausible timestamp
        b'{"ev":"T","sym":"BAD","t":' + str(sat_ns).encode() + b',"p":10.0,"s":100}',  # no session that day
        b"\xff\xfe not json at all",  # binary garbage
        b'{"ev":"T","sym":"BAD","t":' + str(t).encode() + b',"p":10.0,"s":100,"pad":"' + b"x" * 600_000 + b'"}',  # oversize (> the 512 KiB default limit)
        b"",  # empty payload (tombstone)
        b'[{"ev":"Q","sym":"BAD","t":' + str(t).encode() + b',"bp":0,"bs":1,"ap":10.0,"as":1}]',  # zero bid in an array
    ]
    out = []
    for i in range(count):
        out.append((b"BAD", kinds[i % len(kinds)], t // 1_000_000))
    return out
