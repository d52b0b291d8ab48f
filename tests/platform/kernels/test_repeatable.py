"""Every kernel returns the same output for the same input however often it is called.

The calls come from the real derivation of a simulated day and of a prefix of it (12 session
minutes: the shape that crashed the GARCH fit, a short series then a flat grid), recorded at
each public kernel function; public functions the derivation does not call get explicit
calls. Each recorded call is then replayed twice on fresh copies of its arguments and the
two outputs must be identical bit for bit (NaN where NaN). A kernel reading memory before
writing it, keeping state between calls, or losing an exception in a parallel worker (the
GARCH bug: the first call returned uninitialised arrays, later ones raised) fails here."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import importlib
import pkgutil
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

import tickflow.kernels as kernels_pkg
from tests.platform.day_suite import cut, derive_all, sim_columns
from tickflow.simulate.day import simulate_day
from tickflow.store.day_ticks import from_columns

DAY = dt.date(2024, 6, 21)
# argument checks and helpers that are not numerical kernels
NOT_KERNELS = {"check_starts", "check_columns", "check_grid", "group_starts", "GarchFit"}


def _public_kernels() -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    for info in pkgutil.iter_modules(kernels_pkg.__path__):
        mod = importlib.import_module(f"tickflow.kernels.{info.name}")
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if callable(obj) and name not in NOT_KERNELS and not isinstance(obj, type):
                out[f"{info.name}.{name}"] = obj
    return out


def same(a: Any, b: Any, where: str) -> None:
    """Identical values: arrays bit for bit (NaN positions equal, other bits equal)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}[{k}]")
    elif isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        same(dataclasses.asdict(a), dataclasses.asdict(b), where)
    elif isinstance(a, np.ndarray | np.generic | float | int | bool):
        x, y = np.asarray(a), np.asarray(b)
        assert x.dtype == y.dtype and x.shape == y.shape, where
        if x.dtype.kind == "f":
            nx, ny = np.isnan(x), np.isnan(y)
            assert np.array_equal(nx, ny), f"{where}: NaN at different rows"
            assert x[~nx].tobytes() == y[~ny].tobytes(), f"{where}: values differ"
        else:
            assert x.tobytes() == y.tobytes(), f"{where}: values differ"
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def recorded() -> dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]]:
    calls: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
    public = _public_kernels()
    patches: list[tuple[Any, str, Any]] = []

    def recorder(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls.setdefault(key, []).append((copy.deepcopy(args), copy.deepcopy(kwargs)))
            return fn(*args, **kwargs)
        return wrapped

    # patch the name wherever it was imported (engine modules and the test helper)
    for key, fn in public.items():
        if isinstance(fn, Dispatcher):
            continue  # called from compiled code: patching its name would break compilation
        wrapped = recorder(key, fn)
        for mod in list(sys.modules.values()):
            name = getattr(mod, "__name__", "")
            if not (name.startswith("tickflow") or name.startswith("tests.")):
                continue
            for attr, val in list(vars(mod).items()):
                if val is fn:
                    patches.append((mod, attr, val))
                    setattr(mod, attr, wrapped)
    try:
        sim = simulate_day(DAY, n_symbols=4, seed=3, trades_per_symbol=3000, quotes_per_symbol=6000)
        trades, quotes = sim_columns(sim)
        whole = from_columns(DAY, sim.symbols, trades, quotes)
        derive_all(whole)
        derive_all(cut(whole, whole.open_ns + 12 * 60_000_000_000 + 7_000_000_000))
    finally:
        for mod, attr, val in patches:
            setattr(mod, attr, val)

    # public kernels the derivation does not call, on inputs taken from it
    rng = np.random.default_rng(1)
    degenerate = np.concatenate([rng.normal(0, 1e-3, 60), np.zeros(500)])
    starts = np.array([0, 300, degenerate.size], dtype=np.int64)
    x = np.abs(rng.standard_exponential(400))
    t_ts = whole.trades["ts_ns"]
    q = whole.quotes
    extra: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {
        "garch.fit_garch11": [((degenerate,), {}), ((rng.normal(0, 1, 500),), {})],
        "garch.arch_backcast": [((degenerate,), {})],
        "garch.garch11_sigma": [((degenerate, starts, 1e-7, 0.1, 0.8), {})],
        "acd.acd11_psi": [((x, np.array([0, 200, 400]), 0.1, 0.1, 0.8), {})],
        "jumps.realized_measures": [((degenerate, starts), {})],
        "flow.ofi_events": [((q["bid"], q["bid_size"], q["ask"], q["ask_size"], whole.quote_starts), {})],
        "flow.prevailing_arrays": [((t_ts, whole.trade_starts, q["ts_ns"], q["bid"], q["ask"], whole.quote_starts), {})],
        "trade_stats.trade_log_returns": [((whole.trades["price"], whole.trade_starts), {})],
        "sampling.sample_prev_tick": [((q["ts_ns"], q["bid"], whole.quote_starts, whole.open_ns, 10**10, 2340), {})],
        "sampling.log_returns_on_grid": [((np.exp(rng.normal(0, 1e-3, 4 * 101).cumsum()), 4), {})],
        "optimize.crit_11": [((degenerate**2, 0.1, 0.1, 0.8, True, 1e-6), {})],
        "optimize.filter_11": [((degenerate**2, 0.1, 0.1, 0.8, True, 1e-6), {})],
        "optimize.fit_11": [((degenerate**2, True, 1e-6, np.empty(degenerate.size)), {})],
    }
    for key, more in extra.items():
        if key not in calls:
            calls[key] = more
    return calls


def test_every_public_kernel_is_covered(recorded) -> None:  # type: ignore[no-untyped-def]
    missing = sorted(set(_public_kernels()) - set(recorded))
    assert not missing, f"kernels with no recorded call: {missing}"


@pytest.mark.parametrize("key", sorted(_public_kernels()))
def test_same_output_on_every_call(key: str, recorded) -> None:  # type: ignore[no-untyped-def]
    fn = _public_kernels()[key]
    for i, (args, kwargs) in enumerate(recorded[key][:3]):
        first = fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        second = fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        third = fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        same(first, second, f"{key} call {i}")
        same(first, third, f"{key} call {i}")
