"""Data-quality suites for bars and signals, run by Great Expectations.

Each suite validates an in-memory pandas frame (the rows an asset is about to write or
has written) and returns one :class:`CheckOutcome` per named check, which the Dagster
layer turns into an ``AssetCheckResult``. A check groups the expectations that express
one rule (``high >= max(open, close)`` is two column-pair expectations); it passes when
all of them pass, and its metadata carries the unexpected counts and a few examples.

The volume reconciliation is arithmetic, not a GE expectation: bar volume per symbol must
equal the day's regular-session raw volume per symbol (to a relative 1e-9, float sums).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _context():  # type: ignore[no-untyped-def]
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _validate(frame: pd.DataFrame, checks: dict[str, tuple[str, list[Any]]]) -> list[CheckOutcome]:
    """checks: name -> (description, [expectations]); one GE validation of all of them."""
    import great_expectations as gx

    ctx = _context()
    name = f"frame_{id(frame)}"
    source = ctx.data_sources.add_or_update_pandas(name)
    asset = source.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe(name).get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name)
    for check, (_, expectations) in checks.items():
        for e in expectations:
            e.meta = {"check": check}
            suite.add_expectation(e)
    result = batch.validate(suite)
    outcomes = {c: CheckOutcome(c, True, d, {"expectations": 0}) for c, (d, _) in checks.items()}
    for r in result.results:
        o = outcomes[r.expectation_config.meta["check"]]
        o.passed = o.passed and bool(r.success)
        o.metadata["expectations"] += 1
        res = r.result or {}
        if not r.success:
            key = r.expectation_config.type
            count = int(res.get("unexpected_count") or 0) or int(res.get("observed_value") or 0)
            o.metadata[f"{key}.unexpected_count"] = o.metadata.get(f"{key}.unexpected_count", 0) + count
            examples = res.get("partial_unexpected_list") or []
            if examples:
                o.metadata[f"{key}.examples"] = str(examples[:5])
    ctx.data_sources.delete(name)
    return list(outcomes.values())


def bar_checks(bars: pd.DataFrame, n_symbols: int, bars_per_symbol: int) -> list[CheckOutcome]:
    """OHLC consistency, VWAP inside the range, volume >= 0, one row per session bar."""
    import great_expectations as gx

    E = gx.expectations
    pair = E.ExpectColumnPairValuesAToBeGreaterThanB
    if "vwap_floor" not in bars:  # bars built without sale conditions: every trade sets the range
        bars = bars.assign(vwap_floor=bars["low"], vwap_cap=bars["high"])
    return _validate(bars, {
        "high_ge_open_close": ("high >= max(open, close)", [
            pair(column_A="high", column_B="open", or_equal=True, ignore_row_if="either_value_is_missing"),
            pair(column_A="high", column_B="close", or_equal=True, ignore_row_if="either_value_is_missing")]),
        "low_le_open_close": ("low <= min(open, close)", [
            pair(column_A="open", column_B="low", or_equal=True, ignore_row_if="either_value_is_missing"),
            pair(column_A="close", column_B="low", or_equal=True, ignore_row_if="either_value_is_missing")]),
        # vwap_floor/cap: [low, high] widened by trades that count in volume but set no high or
        # low (odd lots); equal to [low, high] when every trade counts for both.
        "vwap_within_range": ("min(low, volume trades) <= VWAP <= max(high, volume trades)", [
            pair(column_A="vwap", column_B="vwap_floor", or_equal=True, ignore_row_if="either_value_is_missing"),
            pair(column_A="vwap_cap", column_B="vwap", or_equal=True, ignore_row_if="either_value_is_missing")]),
        "volume_non_negative": ("volume >= 0 and not null", [
            E.ExpectColumnValuesToNotBeNull(column="volume"),
            E.ExpectColumnValuesToBeBetween(column="volume", min_value=0)]),
        "one_row_per_session_bar": (f"{bars_per_symbol} bars per symbol, unique (sym, ts)", [
            E.ExpectTableRowCountToEqual(value=n_symbols * bars_per_symbol),
            E.ExpectCompoundColumnsToBeUnique(column_list=["sym", "ts"])]),
    })


def signal_checks(frame: pd.DataFrame, finite: list[str], probabilities: list[str]) -> list[CheckOutcome]:
    """Finite where defined (NaN/NULL means undefined and is allowed; +-inf is not), and,
    when ``probabilities`` names columns, p-values in [0, 1]."""
    import great_expectations as gx

    E = gx.expectations
    big = float(np.finfo(np.float64).max)
    checks = {"finite_where_defined": ("every defined value is finite", [
        E.ExpectColumnValuesToBeBetween(column=c, min_value=-big, max_value=big) for c in finite])}
    if probabilities:
        checks["p_values_in_unit_interval"] = ("p-values lie in [0, 1]", [
            E.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, max_value=1.0) for c in probabilities])
    return _validate(frame, checks)


def volume_reconciliation(bar_volume: pd.Series, raw_volume: pd.Series, rtol: float = 1e-9) -> CheckOutcome:
    """Per symbol, the day's bar volume equals its regular-session raw volume."""
    both = pd.concat({"bars": bar_volume, "raw": raw_volume}, axis=1).fillna(0.0)
    diff = (both["bars"] - both["raw"]).abs()
    bad = both[diff > rtol * np.maximum(both["raw"].abs(), 1.0)]
    return CheckOutcome(
        "volume_reconciles_with_raw", bad.empty, "sum of bar volume = raw session volume, per symbol",
        {"symbols": int(len(both)), "mismatched_symbols": int(len(bad)),
         "bar_volume": float(both["bars"].sum()), "raw_volume": float(both["raw"].sum()),
         **({"examples": str(bad.head(5).to_dict("index"))} if len(bad) else {})})
