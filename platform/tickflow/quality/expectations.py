"""Data-quality suites for bars and signals, run by Great Expectations.

Each suite validates an in-memory pandas frame (the rows an asset is about to write or
has written) and returns one :class:`CheckOutcome` per named check, which the Dagster
layer turns into an ``AssetCheckResult``. A check groups the expectations that express
one rule (``high >= max(open, close)`` is two column-pair expectations); it passes when
all of them pass, and its metadata carries the unexpected counts and a few examples.

The suites run on the in-memory columns (the checks run while the day's partitions are
being filled, and measured faster there than GX's SQL engine on PostgreSQL: README,
"Bars and signals"); :func:`_validate` says what keeps them cheap.

The volume reconciliation is arithmetic, not a GE expectation: bar volume per symbol must
equal the day's regular-session raw volume per symbol (to a relative 1e-9, float sums).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


_GX_LOCK = threading.Lock()  # one validation at a time: the context's registries are shared


@lru_cache(maxsize=1)
def _context():  # type: ignore[no-untyped-def]
    import great_expectations as gx
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # GX fingerprints every in-memory batch under 1 GB (an md5 of pandas' row hashes): 0.17 s
    # per 2.5M-row frame, half of a passing suite's time, for a batch marker we never read.
    pandas_engine.HASH_THRESHOLD = 0
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


@lru_cache(maxsize=1)
def _frames():  # type: ignore[no-untyped-def]
    """One pandas data source, asset and whole-frame batch definition per process: adding a
    data source per validation re-serialises the context's config (YAML) twice."""
    source = _context().data_sources.add_or_update_pandas("tickflow_frames")
    return source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")


def _run(frame: pd.DataFrame, expectations: list[Any], result_format: Literal["BOOLEAN_ONLY", "SUMMARY"]):  # type: ignore[no-untyped-def]
    import great_expectations as gx
    from great_expectations.validator.v1_validator import Validator

    batch_definition = _frames()  # first: a suite needs the context to exist
    suite = gx.ExpectationSuite("tickflow_checks")
    for e in expectations:
        suite.add_expectation(e)
    # The v1 Validator builds the batch once (Batch.validate builds it a second time).
    validator = Validator(batch_definition=batch_definition, batch_parameters={"dataframe": frame},
                          result_format=result_format)
    return validator.validate_expectation_suite(suite).results


# From this many rows, a suite of single-column expectations validates one batch per column.
_PER_COLUMN_ROWS = 100_000


def _validate(frame: pd.DataFrame, checks: dict[str, tuple[str, list[Any]]]) -> list[CheckOutcome]:
    """checks: name -> (description, [expectations]); one GE validation of all of them, or,
    on a large frame whose expectations each read one column, one validation per column:
    GX's pandas engine drops a column's null rows from the *whole* batch before each column
    expectation (a copy of rows x columns, per expectation); a one-column batch copies that
    column only (3.5x faster on a day's per-trade signals)."""
    columns = [getattr(e, "column", None) for _, es in checks.values() for e in es]
    if len(frame) < _PER_COLUMN_ROWS or None in columns or len(set(columns)) < 2:
        return _validate_batch(frame, checks)
    merged = {c: CheckOutcome(c, True, d, {"expectations": 0}) for c, (d, _) in checks.items()}
    for column in dict.fromkeys(columns):
        one = {c: (d, [e for e in es if e.column == column]) for c, (d, es) in checks.items()}
        batch = pd.DataFrame({column: frame[column].to_numpy()}, copy=False)
        for o in _validate_batch(batch, {c: v for c, v in one.items() if v[1]}):
            m = merged[o.name]
            m.passed = m.passed and o.passed
            for k, v in o.metadata.items():
                if k.endswith(".examples"):
                    m.metadata.setdefault(k, v)
                else:
                    m.metadata[k] = m.metadata.get(k, 0) + v
    return list(merged.values())


def _validate_batch(frame: pd.DataFrame, checks: dict[str, tuple[str, list[Any]]]) -> list[CheckOutcome]:
    """checks: name -> (description, [expectations]); one GE validation of all of them.

    The suite runs first with GX's ``BOOLEAN_ONLY`` result format (success only: 0.06 s
    against 0.34 s with ``SUMMARY``, which counts and lists unexpected values even when there
    are none, on a passing 2.5M x 7 frame); only the expectations that failed run again, with
    ``SUMMARY``, for the unexpected counts and examples the check's metadata reports."""
    every: list[Any] = []
    for check, (_, expectations) in checks.items():
        for e in expectations:
            e.meta = {"check": check, "index": len(every)}  # results are matched by meta, not order
            every.append(e)
    outcomes = {c: CheckOutcome(c, True, d, {"expectations": len(es)}) for c, (d, es) in checks.items()}
    with _GX_LOCK:
        verdicts = _run(frame, every, "BOOLEAN_ONLY")
        failed = [every[r.expectation_config.meta["index"]] for r in verdicts if not r.success]
        details = _run(frame, failed, "SUMMARY") if failed else []
    for r in details:
        o = outcomes[r.expectation_config.meta["check"]]
        o.passed = o.passed and bool(r.success)
        res = r.result or {}
        if not r.success:
            key = r.expectation_config.type
            count = int(res.get("unexpected_count") or 0) or int(res.get("observed_value") or 0)
            o.metadata[f"{key}.unexpected_count"] = o.metadata.get(f"{key}.unexpected_count", 0) + count
            examples = res.get("partial_unexpected_list") or []
            if examples:
                o.metadata[f"{key}.examples"] = str(examples[:5])
    for r in verdicts:  # a failure is a failure even if SUMMARY disagreed
        if not r.success:
            outcomes[r.expectation_config.meta["check"]].passed = False
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


RECONCILIATION = "volume_reconciles_with_raw"


def volume_reconciliation(bar_volume: pd.Series, raw_volume: pd.Series, rtol: float = 1e-9) -> CheckOutcome:
    """Per symbol, the day's bar volume equals its regular-session raw volume."""
    both = pd.concat({"bars": bar_volume, "raw": raw_volume}, axis=1).fillna(0.0)
    diff = (both["bars"] - both["raw"]).abs()
    bad = both[diff > rtol * np.maximum(both["raw"].abs(), 1.0)]
    return CheckOutcome(
        RECONCILIATION, bad.empty, "sum of bar volume = raw session volume, per symbol",
        {"symbols": int(len(both)), "mismatched_symbols": int(len(bad)),
         "bar_volume": float(both["bars"].sum()), "raw_volume": float(both["raw"].sum()),
         **({"examples": str(bad.head(5).to_dict("index"))} if len(bad) else {})})
