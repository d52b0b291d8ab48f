"""The champion rule (tickflow.ml.registry.challenge), every branch, on hand-built records."""

from __future__ import annotations

import datetime as dt

import pytest

from tickflow.ml.registry import ModelRecord, challenge

HOLDOUT = dt.date(2024, 6, 20)


def _champion(fit_end: dt.date = dt.date(2024, 6, 14), feature_hash: str = "h1") -> ModelRecord:
    return ModelRecord(version=3, model_name="price_model", as_of_day=dt.date(2024, 6, 17), fit_end=fit_end,
                       holdout_start=dt.date(2024, 6, 17), holdout_end=dt.date(2024, 6, 17), features=["a"],
                       feature_hash=feature_hash, metrics={}, status="champion", params={})


def _never(_: ModelRecord) -> dict[str, float]:
    raise AssertionError("the incumbent must not be scored here")


def test_no_champion_in_force_promotes() -> None:
    c = challenge(None, HOLDOUT, "h1", 1.0, _never)
    assert (c.promote, c.reason, c.incumbent_metrics, c.incumbent_saw_holdout) == (True, "no champion yet", None,
                                                                                   False)


@pytest.mark.parametrize("fit_end", [HOLDOUT, dt.date(2024, 6, 21)])
def test_a_champion_that_saw_the_holdout_is_no_fair_comparison(fit_end: dt.date) -> None:
    c = challenge(_champion(fit_end=fit_end), HOLDOUT, "h1", 0.0, _never)
    assert not c.promote and c.incumbent_saw_holdout and "no fair comparison" in c.reason


def test_other_features_are_not_comparable_and_the_challenger_replaces() -> None:
    c = challenge(_champion(feature_hash="old"), HOLDOUT, "h1", 9.9, _never)
    assert c.promote and not c.incumbent_saw_holdout and "features differ" in c.reason


@pytest.mark.parametrize(("challenger", "incumbent", "promote"), [
    (1.0, 2.0, True), (2.0, 1.0, False), (1.0, 1.0, False),  # strictly below wins
    (float("nan"), 1.0, False), (1.0, float("nan"), True),
])
def test_same_rows_rmse_decides(challenger: float, incumbent: float, promote: bool) -> None:
    scored: list[int] = []

    def score(m: ModelRecord) -> dict[str, float]:
        scored.append(m.version)
        return {"rmse": incumbent, "rows": 10.0}

    c = challenge(_champion(), HOLDOUT, "h1", challenger, score)
    assert c.promote is promote and scored == [3]
    assert c.incumbent_metrics is not None and c.incumbent_metrics["rows"] == 10.0
