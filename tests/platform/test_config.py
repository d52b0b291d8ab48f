"""Settings from the environment: a malformed value is one clear error, naming the variable."""

from __future__ import annotations

import pytest

from tickflow.config import load_settings


def test_rehearsal_days_are_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKFLOW_REHEARSAL_DAYS", " 2024-06-21, 2024-06-20 ,")
    assert load_settings().rehearsal_days == ("2024-06-21", "2024-06-20")
    monkeypatch.setenv("TICKFLOW_REHEARSAL_DAYS", "2024-06-21,2024-13-01")
    with pytest.raises(ValueError, match=r"TICKFLOW_REHEARSAL_DAYS: '2024-13-01' is not a date"):
        load_settings()
