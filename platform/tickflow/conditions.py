"""The consolidated tape's sale-condition rules: which trades update a bar's price and volume.

A US equity trade carries zero or more sale conditions (Polygon/Massive condition ids, the
``c`` array of a trade event, the ``conditions`` column of the trades flat file and of the
``trades`` table). The SIP plans (CTA for NYSE/regional-listed, UTP for Nasdaq-listed) say
per condition whether such a trade may update the consolidated

* ``LAST``: open and close (the last sale price),
* ``HIGH_LOW``: high and low,
* ``VOLUME``: volume (and, here, the trade count and the VWAP's sums).

Source: the consolidated ``update_rules`` (``updates_open_close``, ``updates_high_low``,
``updates_volume``) of Polygon's (now Massive's) condition reference,
``GET /v3/reference/conditions?asset_class=stocks&data_type=trade``
(https://polygon.io/docs/rest/stocks/market-operations/condition-codes), which encodes the
CTA Plan's "Sale Condition" matrix (CTS Output Specification, appendix "Last Sale/High/Low
and Volume eligibility") and the UTP Plan's "Sale Condition Modifier" table (UTDF
specification, "Sale Condition Matrix") under one id space. The vendor's own minute and day
aggregates are built with these rules, which is why ``bars_1m`` reconciles with them.

Combination (the plans' rule, and the vendor's): a trade updates a field only if EVERY one
of its conditions allows it; a trade without conditions is a regular sale and updates all
three. A condition id missing from the table updates nothing: an id the vendor added later
is far more likely a new special-case print than a regular sale, and leaving it out shows
up as a volume difference in the vendor-bar reconciliation instead of silently moving a
price.

Examples worked by hand in tests/platform/test_conditions.py: an odd lot (37) counts in
volume but sets no price; an average-price trade (2) likewise; an out-of-sequence sale
(``Sold (Out of Sequence)``, 33) may set the high or low but not the last; ``[14, 37]``
(an odd-lot intermarket sweep) is volume only, because 37 forbids the price updates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAST = 1  # may set open / close (the last sale)
HIGH_LOW = 2  # may set high / low
VOLUME = 4  # counts in volume, trade count and VWAP
ALL = LAST | HIGH_LOW | VOLUME

_T, _F = True, False


@dataclass(frozen=True)
class Rule:
    name: str
    high_low: bool
    last: bool  # updates_open_close
    volume: bool

    @property
    def flags(self) -> int:
        return (LAST if self.last else 0) | (HIGH_LOW if self.high_low else 0) | (VOLUME if self.volume else 0)


# id -> (name, updates_high_low, updates_open_close, updates_volume), consolidated tape.
RULES: dict[int, Rule] = {i: Rule(*r) for i, r in {
    0: ("Regular Sale", _T, _T, _T),
    1: ("Acquisition", _T, _T, _T),
    2: ("Average Price Trade", _F, _F, _T),
    3: ("Automatic Execution", _T, _T, _T),
    4: ("Bunched Trade", _T, _T, _T),
    5: ("Bunched Sold Trade", _T, _F, _T),
    6: ("CAP Election", _T, _T, _T),
    7: ("Cash Sale", _F, _F, _T),
    8: ("Closing Prints", _T, _T, _T),
    9: ("Cross Trade", _T, _T, _T),
    10: ("Derivatively Priced", _T, _F, _T),
    11: ("Distribution", _T, _T, _T),
    12: ("Form T", _F, _F, _T),
    13: ("Extended Trading Hours (Sold Out of Sequence)", _F, _F, _T),
    14: ("Intermarket Sweep", _T, _T, _T),
    15: ("Market Center Official Close", _F, _F, _F),
    16: ("Market Center Official Open", _F, _F, _F),
    17: ("Market Center Opening Trade", _T, _T, _T),
    18: ("Market Center Reopening Trade", _T, _T, _T),
    19: ("Market Center Closing Trade", _T, _T, _T),
    20: ("Next Day", _F, _F, _T),
    21: ("Price Variation Trade", _F, _F, _T),
    22: ("Prior Reference Price", _T, _F, _T),
    23: ("Rule 155 Trade (AMEX)", _T, _T, _T),
    24: ("Rule 127 NYSE", _T, _T, _T),
    25: ("Opening Prints", _T, _T, _T),
    27: ("Stopped Stock (Regular Trade)", _T, _T, _T),
    28: ("Re-Opening Prints", _T, _T, _T),
    29: ("Seller", _T, _F, _T),
    30: ("Sold Last", _T, _T, _T),
    31: ("Sold Last and Stopped Stock", _T, _T, _T),
    32: ("Sold (Out of Sequence)", _T, _F, _T),
    33: ("Sold (Out of Sequence) and Stopped Stock", _T, _F, _T),
    34: ("Split Trade", _T, _T, _T),
    35: ("Stock Option", _T, _T, _T),
    36: ("Yellow Flag Regular Trade", _T, _T, _T),
    37: ("Odd Lot Trade", _F, _F, _T),
    38: ("Corrected Consolidated Close (per listing market)", _T, _T, _F),
    41: ("Trade Thru Exempt", _T, _T, _T),
    52: ("Contingent Trade", _F, _F, _T),
    53: ("Qualified Contingent Trade (QCT)", _F, _F, _T),
}.items()}

# Condition codes travel from the store as one int64 bit set per trade (bit c for code c
# in 0..62, bit 63 for any other code), so a day's conditions load as one int8 array.
OTHER_BIT = 63
_MASK_ANY = ("coalesce((SELECT bit_or(CASE WHEN c BETWEEN 0 AND 62 THEN 1::int8 << c "
             "ELSE 1::int8 << 63 END) FROM unnest(conditions) AS c), 0::int8)")


def _bit(k: int) -> str:
    c = f"conditions[{k}]"
    return f"CASE WHEN {c} IS NULL THEN 0::int8 WHEN {c} BETWEEN 0 AND 62 THEN 1::int8 << {c} ELSE 1::int8 << 63 END"


# A trade has at most a handful of conditions: the first four unrolled cost a third of a
# per-row unnest subquery (measured: 0.76 s against 2.7 s for 2M rows), which stays the
# fallback for longer lists.
COND_MASK_SQL = (f"(CASE WHEN cardinality(conditions) <= 4 THEN {' | '.join(_bit(k) for k in range(1, 5))} "
                 f"ELSE {_MASK_ANY} END)")


def _allowed(flag: int) -> np.uint64:
    """Bit set of the codes that allow ``flag``; codes outside 0..62 never do."""
    bits = 0
    for code, rule in RULES.items():
        if code < OTHER_BIT and rule.flags & flag:
            bits |= 1 << code
    return np.uint64(bits)


_ALLOWED = {flag: _allowed(flag) for flag in (LAST, HIGH_LOW, VOLUME)}


def flags_from_mask(mask: np.ndarray) -> np.ndarray:
    """Per-trade update flags (uint8, ``LAST | HIGH_LOW | VOLUME``) from condition bit sets:
    a flag holds iff no condition of the trade forbids it (vectorised; no loop per trade)."""
    m = np.ascontiguousarray(mask).view(np.uint64) if np.asarray(mask).dtype == np.int64 \
        else np.asarray(mask, dtype=np.uint64)
    out = np.zeros(m.shape, dtype=np.uint8)
    for flag, allowed in _ALLOWED.items():
        out |= np.where((m & ~allowed) == 0, np.uint8(flag), np.uint8(0))
    return out


def mask_from_codes(cond: np.ndarray, cond_start: np.ndarray, cond_len: np.ndarray) -> np.ndarray:
    """int64 condition bit sets from flattened codes (``cond[cond_start[i] : +cond_len[i]]``)."""
    codes = np.asarray(cond, dtype=np.int64)
    start = np.asarray(cond_start, dtype=np.int64)
    length = np.asarray(cond_len, dtype=np.int64)
    n = start.shape[0]
    out = np.zeros(n, dtype=np.uint64)
    if n == 0 or int(length.sum()) == 0:
        return out.view(np.int64)
    row = np.repeat(np.arange(n), length)
    pos = np.repeat(start, length) + (np.arange(row.shape[0]) - np.repeat(np.cumsum(length) - length, length))
    c = codes[pos]
    bit = np.where((c >= 0) & (c < OTHER_BIT), c, OTHER_BIT).astype(np.uint64)
    np.bitwise_or.at(out, row, np.left_shift(np.uint64(1), bit))
    return out.view(np.int64)


def counted_sql(flag: int) -> str:
    """SQL predicate over a ``trades`` row: no sale condition of the row forbids ``flag``
    (the database-side twin of :func:`flags_from_mask`)."""
    return f"({COND_MASK_SQL} & ~{int(_ALLOWED[flag])}::int8) = 0"
