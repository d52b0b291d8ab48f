"""Training throughput of the model pipeline against plain XGBoost (make bench-train).

A fresh embedded PostgreSQL gets ``--days`` trading days of feature rows for ``--symbols``
symbols (390 one-minute bars a day) through the pipeline's own writer. The rows are
synthetic, with a weak planted signal so that early stopping behaves as on real data:
feature *computation* is benchmarked with the signals (bench/signals.py), not here.

    (a) ours: :func:`tickflow.ml.pipeline.run_training` for the last day: load the window
        from the store, assemble the matrix, fit (hist, early stopping on a time-ordered
        split), score the holdout, score the champion on it, register (UBJ artifact) --
        with walk-forward validation off, so both sides fit one model
    (b) plain: ``xgboost.train`` with the same parameters on the same fit/validation
        matrices already in memory (DMatrix construction included)

A warm-up run of (a) registers the first champion; then (a) and (b) alternate, best of
``--repeat`` each. Two trainings of the same data differ by several percent from run to run,
so the overhead is taken inside one run of (a): ``overhead_share = (a - x) / a`` with ``x``
the time that run spent in XGBoost itself (DMatrix construction and ``xgboost.train``, the
work (b) does); (b) is printed beside ``x`` to show they agree, and ``a / b`` as the
throughput ratio. ``rows_per_s`` = fitted rows / (a).
Last line: ``RESULT train overhead_share=<x> rows_per_s=<x>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

import numpy as np
import pandas as pd
import psycopg
import xgboost as xgb

from tickflow import sessions
from tickflow.ml import pipeline
from tickflow.ml.feature_store import read_features, write_features
from tickflow.ml.features import FEATURE_NAMES, FeatureParams
from tickflow.ml.train import TrainParams
from tickflow.stack.postgres import scratch_server
from tickflow.store.schema import ensure_current

MIN = 60_000_000_000


def synthetic_day(day: dt.date, n_symbols: int, rng: np.random.Generator) -> pd.DataFrame:
    open_ns, close_ns = sessions.session_bounds_ns(day)
    n_bins = (close_ns - open_ns) // MIN
    n = n_symbols * n_bins
    df = pd.DataFrame({"sym": np.repeat([f"S{i:03d}" for i in range(n_symbols)], n_bins),
                       "ts": np.tile(open_ns + np.arange(n_bins) * MIN, n_symbols)})
    x = rng.normal(0, 1, (n, len(FEATURE_NAMES)))
    x[rng.uniform(size=x.shape) < 0.02] = np.nan  # some undefined values, as on real days
    for j, name in enumerate(FEATURE_NAMES):
        df[name] = x[:, j] * 1e-3
    signal = 0.15 * np.nan_to_num(df["ret_lag_1"]) - 0.1 * np.nan_to_num(df["ma_gap_5"])
    df["target"] = signal + rng.normal(0, 1e-3, n)
    df["baseline_last"] = df["ret_lag_1"]
    return df


def plain(df: pd.DataFrame, params: TrainParams, purge_ns: int) -> tuple[float, int]:
    """(b): fit rows and the time-ordered validation split as the pipeline makes them, in
    memory; the timed part is DMatrix construction and ``xgboost.train``."""
    fit_days = sorted(df["day"].unique())[: -params.holdout_days]
    fit = df[df["day"].isin(fit_days) & np.isfinite(df["target"].to_numpy())]
    times = np.sort(fit["ts"].unique())
    cut = times[int(len(times) * (1.0 - params.valid_fraction))]
    a, b = fit[fit["ts"] < cut - purge_ns], fit[fit["ts"] >= cut]  # the pipeline's purged split
    xa, ya = a[list(FEATURE_NAMES)].to_numpy(np.float32), a["target"].to_numpy(np.float32)
    xb, yb = b[list(FEATURE_NAMES)].to_numpy(np.float32), b["target"].to_numpy(np.float32)
    t = time.perf_counter()
    da = xgb.DMatrix(xa, label=ya, feature_names=list(FEATURE_NAMES))
    db = xgb.DMatrix(xb, label=yb, feature_names=list(FEATURE_NAMES))
    booster = xgb.train(params.booster_params("cpu"), da, num_boost_round=params.num_boost_round,
                        evals=[(da, "fit"), (db, "valid")], early_stopping_rounds=params.early_stopping_rounds,
                        verbose_eval=False)
    return time.perf_counter() - t, int(booster.best_iteration)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    os.environ.setdefault("TICKFLOW_TRAIN_DEVICE", "cpu")
    days = sessions.trading_days(dt.date(2024, 5, 1), dt.date(2024, 7, 31))[: args.days]
    fp = FeatureParams()
    tp = TrainParams(window_days=args.days, walk_forward_folds=0)
    with scratch_server("tickflow-bench-") as pg:
        dsn = pg.ensure_database("bench")
        ensure_current(dsn)
        rng = np.random.default_rng(5)
        t0 = time.perf_counter()
        with psycopg.connect(dsn) as conn:
            for d in days:
                with conn.transaction():
                    write_features(conn, d, synthetic_day(d, args.symbols, rng), fp)
            df = read_features(dsn, days, fp.interval_min, fp.horizon)
        print(f"stored {len(df):,} feature rows ({args.symbols} symbols x {args.days} days x 390 bars, "
              f"{len(FEATURE_NAMES)} features) in {time.perf_counter() - t0:.1f}s")
        pipeline.run_training(dsn, days[-1], fp, tp)  # warm-up; registers the first champion
        ours, theirs = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            rep = pipeline.run_training(dsn, days[-1], fp, tp)
            ours.append((time.perf_counter() - t, rep))
            theirs.append(plain(df, tp, fp.horizon * fp.interval_min * MIN))
        a, rep = min(ours, key=lambda r: r[0])
        b, best_plain = min(theirs)
        fitted = rep["rows"]["fit"]
        print(f"fit rows {fitted:,}, holdout rows {rep['rows']['holdout']:,}; best iteration "
              f"{rep['best_iteration']} (plain: {best_plain}); device {rep['device']}")
        x = rep["seconds"]["fit_in_xgboost"]
        print(f"{'step':28s} {'seconds':>8s}")
        for k, v in rep["seconds"].items():
            print(f"  ours: {k:20s} {v:>8.3f}" + ("   (part of fit)" if k == "fit_in_xgboost" else ""))
        print(f"{'ours (run_training)':28s} {a:>8.3f}   load + assemble + fit + holdout + champion + registry")
        print(f"{'  of which in XGBoost':28s} {x:>8.3f}   DMatrix + xgboost.train inside that run")
        print(f"{'plain xgboost.train':28s} {b:>8.3f}   same params, same matrices in memory (separate run)")
        share = (a - x) / a
        print(f"overhead {a - x:.3f}s = {100 * share:.1f}% of ours; ours takes {a / b:.3f}x the time of plain; "
              f"{fitted / a:,.0f} fitted rows/s (plain {fitted / b:,.0f})")
        print(f"RESULT train overhead_share={share:.3f} rows_per_s={fitted / a:.0f}")


if __name__ == "__main__":
    main()
