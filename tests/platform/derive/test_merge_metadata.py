"""One asset's metadata over the days of a run (derive.entry_points.merge_metadata, used by the
bars, signals and ML assets alike)."""

from __future__ import annotations

from tickflow.derive.entry_points import merge_metadata


def test_one_day_is_its_own_metadata_without_nulls() -> None:
    day = {"day": "2024-06-21", "rows": 0, "model_version": None, "note": "no champion"}
    assert merge_metadata([day]) == {"day": "2024-06-21", "rows": 0, "note": "no champion"}
    assert merge_metadata([]) == {}


def test_a_range_sums_rows_and_timings_and_keeps_the_last_days_values_apart() -> None:
    metas = [{"day": "2024-06-20", "rows": 10, "symbols": 3, "seconds_load": 0.5, "written": True,
              "model_version": 1, "rmse": 0.2},
             {"day": "2024-06-21", "rows": 7, "symbols": 4, "seconds_load": 0.25, "seconds_write": 1.0,
              "written": False, "model_version": 2, "rmse": float("nan")}]
    out = merge_metadata(metas)
    assert out == {"partitions": 2, "first_day": "2024-06-20", "last_day": "2024-06-21", "rows": 17, "symbols": 4,
                   "not_written": ["2024-06-21"], "seconds_load": 0.75, "seconds_write": 1.0,
                   "last_day_values": {"day": "2024-06-21", "rows": 7, "symbols": 4, "seconds_load": 0.25,
                                       "seconds_write": 1.0, "written": False, "model_version": 2, "rmse": None}}
    # a one-day value is never passed off as the range's
    assert "model_version" not in out and "rmse" not in out
