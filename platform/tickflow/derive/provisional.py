"""Which derived values of a day are provisional while its session is still open.

Causal quantities (bars, indicators, per-trade statistics that look only backwards, measures
of a closed bar) are final once their minute has closed: a later tick cannot change them
(tests/platform/test_day_prefix.py). Whole-day fits and statistics normalised by the whole
day are not: they are re-estimated as the day fills and only the run after the close gives
their final value. An asset computed for a day whose session has not closed says so in its
metadata, naming the columns, so a consumer does not take an intraday GARCH fit for the day's.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from tickflow import sessions

# table -> columns that depend on the whole day (fits, day-sized buckets, look-ahead windows)
WHOLE_DAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "trade_signals": ("acd_duration", "acd_surprise", "jump", "signal"),
    "bar_measures": ("garch_sigma", "bvc_buy_share", "vpin", "realized_spread"),
    "daily_measures": ("rv", "bv", "tq", "bns_rj", "bns_z", "bns_p", "lm_critical", "lm_jumps", "garch_omega",
                       "garch_alpha", "garch_beta", "garch_loglik", "garch_persistence", "garch_converged",
                       "acd_omega", "acd_alpha", "acd_beta", "acd_loglik", "acd_converged", "vpin",
                       "realized_spread"),
}


def open_days(days: Iterable[dt.date], now_ns: int | None = None) -> list[dt.date]:
    """The trading days among ``days`` whose regular session has not closed at ``now_ns``."""
    now = time.time_ns() if now_ns is None else now_ns
    return [d for d in days if sessions.is_trading_day(d) and now < sessions.session_bounds_ns(d)[1]]


def provisional_metadata(table: str, days: Iterable[dt.date], now_ns: int | None = None) -> dict[str, Any]:
    """``provisional`` (bool), and while true the open days and the whole-day columns of ``table``."""
    still_open = open_days(days, now_ns)
    out: dict[str, Any] = {"provisional": bool(still_open and WHOLE_DAY_COLUMNS.get(table))}
    if out["provisional"]:
        out["provisional_days"] = ", ".join(d.isoformat() for d in still_open)
        out["provisional_columns"] = ", ".join(WHOLE_DAY_COLUMNS[table])
    return out
