"""Whole-day fits are flagged provisional until the day's session has closed."""

from __future__ import annotations

import datetime as dt

from tickflow import sessions
from tickflow.derive.provisional import provisional_metadata

DAY = dt.date(2024, 6, 21)
EARLY = dt.date(2024, 11, 29)  # day after Thanksgiving: closes at 13:00 New York


def test_provisional_until_the_close() -> None:
    open_ns, close_ns = sessions.session_bounds_ns(DAY)
    during = provisional_metadata("daily_measures", [DAY], open_ns + 3600 * 10**9)
    assert during["provisional"] is True
    assert "garch_beta" in str(during["provisional_columns"]) and during["provisional_days"] == "2024-06-21"
    assert "vpin" in str(provisional_metadata("bar_measures", [DAY], open_ns)["provisional_columns"])
    assert provisional_metadata("daily_measures", [DAY], close_ns) == {"provisional": False}
    # causal tables are never provisional
    assert provisional_metadata("jump_events", [DAY], open_ns) == {"provisional": False}
    # early close: provisional only until 13:00
    e_open, e_close = sessions.session_bounds_ns(EARLY)
    assert e_close - e_open == 210 * 60 * 10**9
    assert provisional_metadata("daily_measures", [DAY, EARLY], e_close - 1)["provisional_days"] == "2024-11-29"
    assert not provisional_metadata("daily_measures", [DAY, EARLY], e_close)["provisional"]
