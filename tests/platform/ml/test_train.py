"""Training on data with a known signal, the metrics against scipy, confidence calibration,
and where training runs (GPU when visible and usable, else the CPU with one log line)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tickflow.ml import device
from tickflow.ml.train import TrainParams, calibrate, confidence, evaluate, train_model

FEATS = ["signal", "noise"]


def _window(n_days: int = 5, rows_per_day: int = 2000, beta: float = 0.5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_days):
        x = rng.normal(0, 1e-3, rows_per_day)
        y = beta * x + rng.normal(0, 5e-4, rows_per_day)
        parts.append(pd.DataFrame({"day": dt.date(2024, 6, 3) + dt.timedelta(days=i),
                                   "ts": i * 10**12 + np.arange(rows_per_day) * 10**9, "signal": x,
                                   "noise": rng.normal(0, 1, rows_per_day), "target": y,
                                   "baseline_last": rng.normal(0, 1e-3, rows_per_day)}))
    return pd.concat(parts, ignore_index=True)


def test_learns_a_known_signal_and_beats_the_baselines() -> None:
    df = _window()
    res = train_model(df, FEATS, TrainParams(window_days=5, walk_forward_folds=2), device="cpu")
    assert res.holdout_days == [df["day"].max()] and len(res.fit_days) == 4
    m = res.metrics
    assert m["rmse"] < 0.8 * m["rmse_zero"] and m["rmse"] < m["rmse_last"]
    assert m["ic"] > 0.6 and m["directional_accuracy"] > 0.75
    assert res.walk_forward["folds"] == 2 and res.walk_forward["ic"] > 0.6
    assert res.importance["signal"] > 0.9
    assert res.best_iteration < TrainParams().num_boost_round  # early stopping stopped it


def test_pure_noise_does_not_beat_zero() -> None:
    df = _window(beta=0.0, seed=3)
    res = train_model(df, FEATS, TrainParams(), device="cpu")
    assert res.metrics["rmse"] >= 0.99 * res.metrics["rmse_zero"]
    assert abs(res.metrics["ic"]) < 0.1


def test_metrics_match_scipy() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 500)
    y[:10] = 0.0
    pred = y + rng.normal(0, 1, 500)
    last = rng.normal(0, 1, 500)
    y_nan = y.copy()
    y_nan[-5:] = np.nan
    m = evaluate(y_nan, pred, last)
    ok = np.isfinite(y_nan)
    assert m["rows"] == ok.sum()
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred[ok] - y[ok]) ** 2)))
    assert m["rmse_zero"] == pytest.approx(np.sqrt(np.mean(y[ok] ** 2)))
    assert m["ic"] == pytest.approx(stats.spearmanr(pred[ok], y[ok]).statistic)
    assert m["ic_last"] == pytest.approx(stats.spearmanr(last[ok], y[ok]).statistic)
    live = ok & (y != 0)
    assert m["directional_accuracy"] == pytest.approx(np.mean(np.sign(pred[live]) == np.sign(y[live])))


def test_confidence_is_the_holdout_hit_rate_by_size() -> None:
    rng = np.random.default_rng(2)
    pred = rng.normal(0, 1, 10_000)
    # large predictions are right 90% of the time, small ones are coin flips
    right = np.where(np.abs(pred) > 1.0, rng.uniform(size=pred.size) < 0.9, rng.uniform(size=pred.size) < 0.5)
    y = np.where(right, np.sign(pred), -np.sign(pred)) * rng.uniform(0.1, 1, pred.size)
    cal = calibrate(pred, y, bins=4)
    c = confidence(np.array([0.01, -0.02, 2.5, -3.0, 0.0]), cal)
    assert c[0] == pytest.approx(0.5, abs=0.05) and c[1] == pytest.approx(0.5, abs=0.05)
    assert c[2] > 0.85 and c[3] > 0.85 and c[4] == 0.0


def test_window_must_leave_days_to_fit() -> None:
    with pytest.raises(ValueError, match="window_days"):
        TrainParams(window_days=1, holdout_days=1)
    with pytest.raises(ValueError, match="at least 2"):
        train_model(_window(n_days=1), FEATS, TrainParams(), device="cpu")


def _fake_nvidia_smi(tmp_path: Path) -> str:
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-00000000)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    return f"{tmp_path}:{os.environ['PATH']}"


def test_cpu_fallback_logs_one_clear_line(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                          tmp_path: Path) -> None:
    monkeypatch.delenv(device.DEVICE_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    with caplog.at_level(logging.INFO, logger="tickflow.ml.device"):
        assert device.training_device() == "cpu"
    assert [r.getMessage() for r in caplog.records] == ["training on the CPU: no GPU visible"]


def test_gpu_used_when_visible_and_xgboost_has_cuda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(device.DEVICE_ENV, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", _fake_nvidia_smi(tmp_path))
    assert device.visible_gpus() == 1
    monkeypatch.setattr(device, "xgboost_has_cuda", lambda: True)
    assert device.training_device() == "cuda"
    assert TrainParams().booster_params("cuda")["device"] == "cuda"
    # a GPU but a CPU-only xgboost: CPU, and the log says how to fix it
    monkeypatch.setattr(device, "xgboost_has_cuda", lambda: False)
    with caplog.at_level(logging.WARNING, logger="tickflow.ml.device"):
        assert device.training_device() == "cpu"
    assert "install the gpu extra" in caplog.records[-1].getMessage()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device.visible_gpus() == 0



def test_early_stopping_rows_come_after_every_fitted_target(monkeypatch: pytest.MonkeyPatch) -> None:
    from tickflow.ml import train as train_mod

    made: list[np.ndarray] = []
    real = train_mod.xgb.DMatrix

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, data: np.ndarray, *args: object, **kwargs: object) -> None:
            made.append(np.asarray(data))
            super().__init__(data, *args, **kwargs)

    monkeypatch.setattr(train_mod.xgb, "DMatrix", Recording)
    minute = 60_000_000_000
    ts = np.repeat(np.arange(100), 3) * minute  # 100 bars of 3 symbols
    x = np.column_stack([ts / minute, np.random.default_rng(0).normal(size=ts.size)]).astype(np.float32)
    y = np.random.default_rng(1).normal(size=ts.size)
    train_mod._fit(x, y, ts, ["bar", "noise"], TrainParams(valid_fraction=0.2), "cpu", purge_ns=3 * minute)
    fitted, stopping = made[0][:, 0], made[1][:, 0]
    assert stopping.min() == 80 and fitted.max() == 76  # bars 77..79 reach into bar 80: purged
