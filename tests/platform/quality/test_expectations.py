"""The Great Expectations suites pass on good bars and signals and fail, naming the rule and
the offending rows, on bad ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tickflow.quality.expectations import bar_checks, signal_checks, volume_reconciliation


def _bars(n_sym: int = 2, n: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    close = 100 + rng.standard_normal((n_sym, n)).cumsum(axis=1)
    open_ = close - rng.uniform(-0.5, 0.5, close.shape)
    high = np.maximum(open_, close) + 0.2
    low = np.minimum(open_, close) - 0.2
    return pd.DataFrame({
        "sym": np.repeat([f"S{i}" for i in range(n_sym)], n), "ts": np.tile(np.arange(n), n_sym),
        "open": open_.ravel(), "high": high.ravel(), "low": low.ravel(), "close": close.ravel(),
        "vwap": ((high + low) / 2).ravel(), "volume": rng.integers(0, 1000, n_sym * n).astype(float)})


def _by_name(outcomes) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    return {o.name: o.passed for o in outcomes}


def test_good_bars_pass_every_check() -> None:
    assert all(_by_name(bar_checks(_bars(), 2, 5)).values())


@pytest.mark.parametrize(("corrupt", "rule"), [
    (lambda b: b.loc.__setitem__((3, "high"), b.loc[3, "open"] - 1), "high_ge_open_close"),
    (lambda b: b.loc.__setitem__((4, "low"), b.loc[4, "close"] + 1), "low_le_open_close"),
    (lambda b: b.loc.__setitem__((1, "vwap"), b.loc[1, "high"] + 0.01), "vwap_within_range"),
    (lambda b: b.loc.__setitem__((2, "volume"), -5.0), "volume_non_negative"),
    (lambda b: b.loc.__setitem__((6, "ts"), 0), "one_row_per_session_bar"),
])
def test_each_bad_bar_fails_its_own_check(corrupt, rule: str) -> None:  # type: ignore[no-untyped-def]
    bars = _bars()
    corrupt(bars)
    outcomes = {o.name: o for o in bar_checks(bars, 2, 5)}
    assert not outcomes[rule].passed
    assert any(k.endswith("unexpected_count") and v >= 1 for k, v in outcomes[rule].metadata.items())
    assert "one_row_per_session_bar" not in [n for n, o in outcomes.items() if not o.passed] or rule == "one_row_per_session_bar"


def test_a_missing_minute_fails_the_row_count() -> None:
    outcomes = _by_name(bar_checks(_bars().drop(index=7), 2, 5))
    assert outcomes["one_row_per_session_bar"] is False


def test_signals_allow_nan_but_not_infinity_and_p_values_stay_in_0_1() -> None:
    good = pd.DataFrame({"z": [0.1, np.nan, -3.0], "p": [0.0, np.nan, 1.0]})
    assert all(_by_name(signal_checks(good, ["z"], ["p"])).values())
    bad = pd.DataFrame({"z": [0.1, np.inf, -3.0], "p": [0.5, 1.5, -0.1]})
    assert _by_name(signal_checks(bad, ["z"], ["p"])) == {"finite_where_defined": False,
                                                          "p_values_in_unit_interval": False}


def test_volume_reconciliation_names_the_symbol_that_does_not_add_up() -> None:
    raw = pd.Series({"AAA": 1500.0, "BBB": 700.0})
    assert volume_reconciliation(pd.Series({"AAA": 1500.0, "BBB": 700.0}), raw).passed
    out = volume_reconciliation(pd.Series({"AAA": 1500.0, "BBB": 600.0}), raw)
    assert not out.passed and out.metadata["mismatched_symbols"] == 1 and "BBB" in out.metadata["examples"]
    # A symbol with raw volume but no bars at all is a mismatch too.
    assert not volume_reconciliation(pd.Series({"AAA": 1500.0}), raw).passed


def _summary_reference(frame: pd.DataFrame, finite: list[str], probabilities: list[str]) -> dict[str, dict]:
    """Per check: passed and unexpected counts from one plain GX validation (SUMMARY) of
    the whole frame, the way the suites ran before they were made fast."""
    import great_expectations as gx

    from tickflow.quality import expectations as ex

    big = float(np.finfo(np.float64).max)
    E = gx.expectations
    every = [("finite_where_defined", E.ExpectColumnValuesToBeBetween(column=c, min_value=-big, max_value=big))
             for c in finite]
    every += [("p_values_in_unit_interval", E.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, max_value=1.0))
              for c in probabilities]
    results = ex._run(frame, [e for _, e in every], "SUMMARY")
    out: dict[str, dict] = {}
    for (check, _), r in zip(every, results, strict=True):
        o = out.setdefault(check, {"passed": True, "unexpected": 0})
        o["passed"] = o["passed"] and bool(r.success)
        o["unexpected"] += int(r.result.get("unexpected_count") or 0)
    return out


def test_large_frames_fail_the_same_checks_with_the_same_counts_as_one_summary_validation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tickflow.quality import expectations as ex

    monkeypatch.setattr(ex, "_PER_COLUMN_ROWS", 1000)  # the per-column path, on a small frame
    rng = np.random.default_rng(1)
    n = 5000
    frame = pd.DataFrame({"a": rng.standard_normal(n), "b": rng.standard_normal(n), "c": rng.standard_normal(n),
                          "p": rng.uniform(0, 1, n)})
    frame.loc[rng.choice(n, 300, replace=False), ["a", "b", "p"]] = np.nan  # undefined: allowed
    good = {o.name: o for o in signal_checks(frame, ["a", "b", "c"], ["p"])}
    assert all(o.passed for o in good.values())
    assert good["finite_where_defined"].metadata == {"expectations": 3}
    frame.loc[[10, 11], "a"] = np.inf
    frame.loc[[20], "c"] = -np.inf
    frame.loc[[30, 31, 32], "p"] = [1.5, -0.1, 2.0]
    out = {o.name: o for o in signal_checks(frame, ["a", "b", "c"], ["p"])}
    ref = _summary_reference(frame, ["a", "b", "c"], ["p"])
    assert {k: o.passed for k, o in out.items()} == {k: r["passed"] for k, r in ref.items()} == {
        "finite_where_defined": False, "p_values_in_unit_interval": False}
    key = "expect_column_values_to_be_between.unexpected_count"
    assert out["finite_where_defined"].metadata[key] == ref["finite_where_defined"]["unexpected"] == 3
    assert out["p_values_in_unit_interval"].metadata[key] == ref["p_values_in_unit_interval"]["unexpected"] == 3
    assert "inf" in out["finite_where_defined"].metadata["expect_column_values_to_be_between.examples"]
    assert out["finite_where_defined"].metadata["expectations"] == 3


def test_the_suites_do_not_fingerprint_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    # GX's md5 of every batch was half of a passing suite's time; nothing reads it.
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    def refuse(df):  # type: ignore[no-untyped-def]
        raise AssertionError("the batch was fingerprinted")

    signal_checks(pd.DataFrame({"z": [0.0]}), ["z"], [])  # the context (and its setting) exists
    monkeypatch.setattr(pandas_engine, "hash_pandas_dataframe", refuse)
    assert all(o.passed for o in bar_checks(_bars(), 2, 5))
