"""Deterministic simulator of one US-equity trading day of trades and quotes (Polygon flat JSON).

One call of :func:`simulate_day` builds, for ``N`` symbols, the regular session 09:30-16:00
America/New_York of a given date (the UTC offset comes from :mod:`zoneinfo`, so EST and EDT
days are both right) as numpy columns; :func:`render_messages` turns them into Polygon
websocket events (``ev`` ``T``/``Q``, ``t`` in nanoseconds) for Kafka, and
:func:`write_ground_truth` writes the injected jumps. Everything is a pure function of
``(date, seed, symbol index, parameters)``: symbol ``i`` draws from its own
``SeedSequence([seed, date.toordinal()])`` child, so it gets the same path whether 5 or 500
symbols are simulated.

Model (per symbol ``i``; session clock ``tau`` in seconds, ``T = 23400``, ``u = tau / T``;
the latent state lives on the 1-second grid ``k = 0 .. T-1``)

Intensity (Cox process).
    ``lambda_i(tau) = Nbar_i * w_i(tau) / integral(w_i)``, with
    ``w_i(tau) = s(u) * h_k ** (kappa/2) * exp(a_k)`` and the U-shape
    ``s(u) = 1 + A_o exp(-u / t_o) + A_c exp(-(1 - u) / t_c)``
    (defaults ``A_o = 2.5, t_o = 0.05, A_c = 2.0, t_c = 0.04``: the first and the last
    30 minutes trade about 2x the midday rate). ``h_k`` is the GARCH variance state below
    (``kappa = 1``: trading is busier when volatility is high) and ``a_k`` a Gaussian AR(1)
    "activity" factor, ``a_k = phi_a a_{k-1} + sd_a sqrt(1 - phi_a^2) e_k`` with a ~45 s memory.
    Given the path, the number of trades is ``Poisson(Nbar_i)`` and their times are
    ``Lambda^{-1}(U_(j))`` for sorted uniforms ``U_(j)`` (``Lambda`` = cumulative intensity,
    piecewise linear on the grid): the exact inhomogeneous Poisson process by time change,
    fully vectorised. Quotes are a second, independent stream with the same intensity shape
    and ``quotes_per_symbol`` events, plus one quote at 09:30:00 so a quote always prevails.
    ``Nbar_i = trades_per_symbol * m_i``, ``m_i`` lognormal (mean 1, sd ~0.3) per symbol.
    *Exercises*: intraday periodicity/deseasonalisation, ACD duration models (clustered,
    seasonal durations), volume-volatility relations.

Volatility (periodic GARCH(1,1) on 1-second deseasonalised increments).
    ``sigma_i(tau) = sigmabar_i * v(u) * sqrt(h_k)``, ``sigmabar_i = vol_ann / sqrt(252 T)``
    (annual vol lognormal around 30 %), ``h_{k+1} = omega + alpha z_k^2 h_k + beta h_k``,
    ``omega = 1 - alpha - beta`` (unit mean), ``z_k ~ N(0, 1)``, default ``alpha = 0.02``,
    ``beta = 0.979`` (persistence 0.999/s, half-life ~11.5 min, sd(h) ~0.8 mean(h); on
    deseasonalised 1-minute returns this gives a lag-1 autocorrelation of squared returns
    ~0.1 and a kurtosis ~4). The seasonal factor
    ``v(u)^2 ∝ 1 + B_o exp(-u / th_o) + B_c exp(-(1 - u) / th_c)`` is normalised to mean 1
    (open ~3x, close ~1.5x the midday variance).
    *Exercises*: GARCH fits on 1-/5-minute returns, realised-volatility persistence,
    local-volatility estimation in jump tests.

Efficient log-price ``X = D + F + J`` (``mid = P0 * exp(X)``).
    ``D`` (diffusion): ``D(k+1) - D(k) = sqrt(1 - phi) sigma_k z_k`` -- the GARCH shock itself --
    with a Brownian bridge between grid points, so returns at any sampling frequency have the
    right variance. ``F`` (permanent order-flow impact, Glosten-Harris/Hasbrouck style): each
    trade ``j`` moves it by
    ``sigma(tau_j) sqrt(phi / lambda(tau_j)) sqrt(size_j / mean size) (d_j - rho d_{j-1}) / sqrt(1 - rho^2)``
    where ``d_j = ±1`` is the trade side and ``rho`` the side autocorrelation, so only the
    *unexpected* flow moves the price (X stays a martingale) and ``F`` carries a share
    ``phi = 0.2`` of the spot variance ``sigma^2``. ``J`` (jumps): ``Poisson(jumps_per_symbol)``
    jumps, uniform on 09:35-15:55 with at least 10 minutes between jumps of one symbol,
    size ``sign * c * sigma(tau_j) * sqrt(60)`` with ``c ~ U(4, 10)`` local standard deviations
    of a 1-minute return and a fair random sign. GARCH does not react to jumps, so the
    ground truth stays clean. ``SimulatedDay.jumps`` holds (symbol, ts_ns, log_size, size_sd).
    *Exercises*: Lee-Mykland / BNS / ABD jump tests (RV vs bipower variation) with ground truth,
    OFI / Kyle-lambda regressions, integrated variance (``params.integrated_var``).

Quotes.
    At each quote time the spread is ``n = 1 + Poisson(max(b_i g(u) sqrt(h_k) - 1, 0))`` ticks
    of $0.01 (``b_i`` ~ 1.8 bp of the price, so ~1 tick at $50, ~6 at $300; ``g`` widens the
    spread after the open), ``bid = round(100 mid - n / 2) / 100``, ``ask = bid + n / 100``
    (the mid is always inside). Sizes are ``100 * max(1, round(LogN(ln 3, 0.9)))`` shares;
    ``bx``, ``ax`` are drawn from Polygon's lit-venue ids (1, 2, 3, 7, 8, 9, 10, 11, 12, 15, 17,
    18, 19, 21; the listing venue is favoured); conditions ``[]``, 2 % ``[1]``.
    ``quotes["mid_true"]`` keeps the efficient mid (not rendered).
    *Exercises*: quoted/effective/realised spreads, Roll's estimator and bid-ask bounce,
    spread seasonality, quote-based (Lee-Ready) classification.

Trades.
    The side follows a two-state Markov chain (``P(same side) = 0.7``, ground truth in
    ``trades["side"]``). Against the prevailing quote (last quote with ``ts <= t``) a trade
    prints at the touch (ask for a buy, bid for a sell), with probability 0.25 inside the
    spread when it is >= 2 ticks (buys in the upper half, sells in the lower half, so the
    midpoint rule falls back to the tick test as in real data), and with probability 0.003
    one or two ticks outside (late / trade-through prints; >99 % of trades lie in [bid, ask]).
    Sizes: odd lots (1-99 shares, probability rising with the price: ~20 % at $100) carry
    condition 37; round lots are ``100 * max(1, round(LogN(0, 0.8)))``. ~30 % of trades (70 %
    of inside-spread ones) print on the FINRA TRF (x = 4), the rest on lit venues, 8 % of
    those as intermarket sweeps (conditions 14, 41). Tape ``z`` is fixed per symbol (1, 2, 3
    = NYSE, NYSE Arca/American, Nasdaq listed). ``i`` is an increasing int64 id unique per
    symbol-day; ``q`` is one increasing sequence per symbol over trades and quotes together.
    *Exercises*: tick rule, Lee-Ready, bulk volume classification, order-flow imbalance,
    odd-lot / condition filters in bar building.

Timestamps are nanoseconds since the epoch (UTC), strictly increasing per symbol within
trades and within quotes. Columns are stored symbol-major (all rows of symbol 0, then 1, ...),
time-ordered within a symbol; condition codes are flattened into ``cond`` (int16) with
per-row ``cond_start`` (int64, into ``cond``) and ``cond_len`` (int32), as in
:mod:`tickflow.feed.events`.

Rendering is a numba kernel writing the JSON bytes of a chunk of messages into one buffer,
so the cost per event is a few hundred nanoseconds; messages of all symbols are merged in
time order of their first event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numba import njit

NEW_YORK = ZoneInfo("America/New_York")
SESSION_OPEN = dt.time(9, 30)
SESSION_CLOSE = dt.time(16, 0)
SESSION_SECONDS = 23_400
TICK = 0.01

# Polygon stock exchange ids (v3/reference/exchanges)
LIT_VENUES = np.array([1, 2, 3, 7, 8, 9, 10, 11, 12, 15, 17, 18, 19, 21], dtype=np.int16)
_LIT_WEIGHTS = np.array(
    [0.01, 0.03, 0.02, 0.03, 0.10, 0.02, 0.03, 0.12, 0.15, 0.05, 0.04, 0.10, 0.04, 0.08]
)
TRF_VENUE = 4
LISTING_VENUE = {1: 10, 2: 11, 3: 12}  # tape -> NYSE, NYSE Arca, Nasdaq

# Polygon trade / quote condition ids used here
COND_ISO = 14  # intermarket sweep
COND_ODD_LOT = 37
COND_TRADE_THRU_EXEMPT = 41
QUOTE_COND = 1

_NS = 1_000_000_000


@dataclass(frozen=True)
class SimParams:
    """Model constants (see the module docstring for where each enters)."""

    # intensity shape s(u)
    open_boost: float = 2.5
    open_decay: float = 0.05
    close_boost: float = 2.0
    close_decay: float = 0.04
    vol_intensity_power: float = 1.0  # kappa
    activity_memory_s: float = 45.0
    activity_sd: float = 0.4
    intensity_dispersion: float = 0.3  # sd of log m_i
    # volatility
    annual_vol_median: float = 0.30
    annual_vol_dispersion: float = 0.35
    garch_alpha: float = 0.02
    garch_beta: float = 0.979
    vol_open_boost: float = 2.0
    vol_open_decay: float = 0.03
    vol_close_boost: float = 0.6
    vol_close_decay: float = 0.03
    flow_share: float = 0.2  # phi
    # prices / spreads
    price_median: float = 120.0
    price_dispersion: float = 0.55
    spread_bps_median: float = 1.8
    spread_open_boost: float = 1.0
    spread_open_decay: float = 0.03
    # jumps
    jump_min_sd: float = 4.0
    jump_max_sd: float = 10.0
    jump_edge_s: float = 300.0
    jump_min_gap_s: float = 600.0
    # trades
    side_persistence: float = 0.7
    p_inside: float = 0.25
    p_outside: float = 0.003
    p_trf: float = 0.3
    p_trf_inside: float = 0.7
    p_iso: float = 0.08
    round_lot_sigma: float = 0.8
    # quotes
    quote_lots_median: float = 3.0
    quote_lots_sigma: float = 0.9
    p_quote_cond: float = 0.02


@dataclass
class SimulatedDay:
    """One simulated session. ``trades``/``quotes`` are dicts of numpy columns (see module doc).

    trades: sym_idx(int32) ts_ns(int64) price(f8) size(f8) exchange(int16) tape(int16)
    seq(int64) trade_id(int64) cond(int16, flattened) cond_start(int64) cond_len(int32)
    side(int8, +1 buy / -1 sell).
    quotes: sym_idx ts_ns bid_price bid_size ask_price ask_size bid_exchange ask_exchange tape
    seq cond cond_start cond_len mid_true(f8, efficient mid, ground truth).
    jumps: DataFrame(symbol, ts_ns, log_size, size_sd, sym_idx, local_sd_1m).
    params: per-symbol DataFrame (base_price, annual_vol, intensity_mult, tape,
    spread_ticks, integrated_var = sum of spot variance over the session, jumps excluded).
    """

    date: dt.date
    symbols: list[str]
    trades: dict[str, np.ndarray]
    quotes: dict[str, np.ndarray]
    jumps: pd.DataFrame
    seed: int = 0
    open_ns: int = 0
    close_ns: int = 0
    params: pd.DataFrame = field(default_factory=pd.DataFrame)
    model: SimParams = field(default_factory=SimParams)

    @property
    def n_events(self) -> int:
        return int(self.trades["ts_ns"].shape[0] + self.quotes["ts_ns"].shape[0])


# ----------------------------------------------------------------------------- symbols

_LETTER_FREQ = np.array(
    [8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.4, 0.8, 4.0, 2.4,
     6.7, 7.5, 1.9, 0.3, 6.0, 6.3, 9.1, 2.8, 1.0, 2.4, 0.4, 2.0, 0.3]
)


def make_symbols(n: int) -> list[str]:
    """``n`` distinct, deterministic, realistic-looking tickers (prefix-stable in ``n``).

    They are synthetic and may coincide with listed tickers; pass ``symbols=`` to
    :func:`simulate_day` to choose names.
    """
    rng = np.random.default_rng(0x71C4F10)
    p = _LETTER_FREQ / _LETTER_FREQ.sum()
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        length = int(rng.choice([2, 3, 4, 5], p=[0.05, 0.4, 0.5, 0.05]))
        sym = "".join(rng.choice(letters, size=length, p=p).tolist())
        if sym not in seen:
            seen.add(sym)
            out.append(sym)
    return out


def _full_session_ns(date: dt.date) -> tuple[int, int]:
    """(open, close) of a full 09:30-16:00 New York session on ``date`` in ns since the epoch:
    the model's clock (an early close is not modelled; tickflow.sessions has the real one)."""
    o = dt.datetime.combine(date, SESSION_OPEN, tzinfo=NEW_YORK)
    c = dt.datetime.combine(date, SESSION_CLOSE, tzinfo=NEW_YORK)
    return int(o.timestamp()) * _NS, int(c.timestamp()) * _NS


# ----------------------------------------------------------------------------- kernels


@njit(cache=True)
def _garch_variance(z: np.ndarray, omega: float, alpha: float, beta: float, h0: float) -> np.ndarray:
    n = z.shape[0]
    h = np.empty(n)
    hk = h0
    for k in range(n):
        h[k] = hk
        hk = omega + (alpha * z[k] * z[k] + beta) * hk
    return h


@njit(cache=True)
def _ar1(e: np.ndarray, phi: float, a0: float) -> np.ndarray:
    n = e.shape[0]
    a = np.empty(n)
    ak = a0
    for k in range(n):
        ak = phi * ak + e[k]
        a[k] = ak
    return a


def _sorted_uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """n sorted U(0,1) order statistics in O(n) (normalised exponential spacings)."""
    if n == 0:
        return np.empty(0)
    e = rng.standard_exponential(n + 1)
    c = np.cumsum(e)
    return c[:-1] / c[-1]


def _strictly_increasing(x: np.ndarray) -> np.ndarray:
    """Smallest non-decreasing lift of ``x`` (int64) that is strictly increasing."""
    if x.shape[0] == 0:
        return x
    r = np.arange(x.shape[0], dtype=np.int64)
    return np.maximum.accumulate(x - r) + r


def _flatten_flags(flags: np.ndarray, codes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (n, k) flags of sorted ``codes`` -> (flattened int16 codes, per-row lengths)."""
    code_arr = np.broadcast_to(np.asarray(codes, dtype=np.int16), flags.shape)
    return code_arr[flags].astype(np.int16), flags.sum(axis=1).astype(np.int32)


# ----------------------------------------------------------------------------- one symbol


@dataclass
class _SymbolPath:
    params: dict[str, float]
    trades: dict[str, np.ndarray]
    quotes: dict[str, np.ndarray]
    jumps: dict[str, np.ndarray]


def _simulate_symbol(
    rng: np.random.Generator,
    i: int,
    p: SimParams,
    trades_per_symbol: float,
    quotes_per_symbol: float,
    jumps_per_symbol: float,
) -> _SymbolPath:
    S = SESSION_SECONDS
    # -- symbol characteristics
    base_price = float(np.round(np.clip(p.price_median * np.exp(p.price_dispersion * rng.standard_normal()), 5.0, 3000.0), 2))
    ann_vol = float(np.clip(p.annual_vol_median * np.exp(p.annual_vol_dispersion * rng.standard_normal()), 0.05, 2.0))
    sd_m = p.intensity_dispersion
    mult = float(np.exp(sd_m * rng.standard_normal() - 0.5 * sd_m * sd_m))
    tape = int(rng.choice([1, 2, 3], p=[0.4, 0.15, 0.45]))
    spread_bps = p.spread_bps_median * float(np.exp(0.35 * rng.standard_normal()))
    spread_ticks = max(1.0, base_price * spread_bps * 1e-4 / TICK)
    sigma_bar = ann_vol / np.sqrt(252.0 * S)

    # -- latent state on the 1 s grid
    u = (np.arange(S) + 0.5) / S
    v2 = 1.0 + p.vol_open_boost * np.exp(-u / p.vol_open_decay) + p.vol_close_boost * np.exp(-(1.0 - u) / p.vol_close_decay)
    v2 /= v2.mean()
    z = rng.standard_normal(S)
    omega = 1.0 - p.garch_alpha - p.garch_beta
    h0 = float(np.exp(0.25 * rng.standard_normal() - 0.03125))
    h = _garch_variance(z, omega, p.garch_alpha, p.garch_beta, h0)
    sig = sigma_bar * np.sqrt(v2 * h)  # total spot sd per sqrt(second)
    phi = p.flow_share
    r = np.sqrt(1.0 - phi) * sig * z
    D = np.concatenate(([0.0], np.cumsum(r)))

    phi_a = float(np.exp(-1.0 / p.activity_memory_s))
    a = _ar1(p.activity_sd * np.sqrt(1.0 - phi_a * phi_a) * rng.standard_normal(S), phi_a,
             p.activity_sd * rng.standard_normal())
    shape = 1.0 + p.open_boost * np.exp(-u / p.open_decay) + p.close_boost * np.exp(-(1.0 - u) / p.close_decay)
    w = shape * h ** (0.5 * p.vol_intensity_power) * np.exp(a)
    w /= w.sum()
    Lam = np.concatenate(([0.0], np.cumsum(w)))
    Lam[-1] = 1.0
    grid = np.arange(S + 1, dtype=np.float64)

    nbar_t = trades_per_symbol * mult
    n_t = int(rng.poisson(nbar_t))
    n_q = int(rng.poisson(quotes_per_symbol * mult))
    t_sec = np.interp(_sorted_uniform(rng, n_t), Lam, grid)
    q_sec = np.concatenate(([0.0], np.interp(_sorted_uniform(rng, n_q), Lam, grid)))
    last_ns = S * _NS - 1
    t_ns = _strictly_increasing(np.minimum((t_sec * _NS).astype(np.int64), last_ns))
    q_ns = _strictly_increasing(np.minimum((q_sec * _NS).astype(np.int64), last_ns))
    # strict lifting can (astronomically rarely) push past the close; pull back to it
    t_ns = np.minimum(t_ns, last_ns)
    q_ns = np.minimum(q_ns, last_ns)
    n_t = t_ns.shape[0]
    n_q = q_ns.shape[0]
    t_sec = t_ns / _NS
    q_sec = q_ns / _NS
    t_k = np.minimum(t_sec.astype(np.int64), S - 1)
    q_k = np.minimum(q_sec.astype(np.int64), S - 1)

    # -- jumps: uniform on [edge, T - edge] with a minimum gap, exact via spacing
    n_j = int(rng.poisson(jumps_per_symbol)) if jumps_per_symbol > 0 else 0
    span = S - 2.0 * p.jump_edge_s
    gap = min(p.jump_min_gap_s, span / max(n_j, 1))
    j_sec = np.sort(rng.uniform(0.0, span - (n_j - 1) * gap if n_j > 0 else span, n_j)) + gap * np.arange(n_j) + p.jump_edge_s
    j_ns = (j_sec * _NS).astype(np.int64)
    j_k = np.minimum(j_ns // _NS, S - 1)
    j_sd1m = sig[j_k] * np.sqrt(60.0)
    j_c = rng.uniform(p.jump_min_sd, p.jump_max_sd, n_j)
    j_sign = np.where(rng.random(n_j) < 0.5, -1.0, 1.0)
    j_size = j_sign * j_c * j_sd1m

    # -- trade sides and sizes
    flips = rng.random(n_t) >= p.side_persistence
    first = 1 if rng.random() < 0.5 else -1
    side = (first * np.where(np.cumsum(flips) % 2 == 0, 1, -1)).astype(np.int8)
    if n_t:
        side[0] = first
    p_odd = float(np.clip(0.08 + base_price / 800.0, 0.08, 0.6))
    odd = rng.random(n_t) < p_odd
    lots = np.maximum(1.0, np.rint(np.exp(p.round_lot_sigma * rng.standard_normal(n_t))))
    size = np.where(odd, rng.integers(1, 100, n_t).astype(np.float64), 100.0 * lots)

    # -- permanent impact of the unexpected order flow
    rho = 2.0 * p.side_persistence - 1.0
    rate = nbar_t * w  # expected trades per second in each grid second
    if n_t:
        prev = np.concatenate(([0.0], side[:-1].astype(np.float64)))
        innov = (side - rho * prev) / np.sqrt(1.0 - rho * rho)
        g = np.sqrt(size / size.mean())
        impact = sig[t_k] * np.sqrt(phi / np.maximum(rate[t_k], 1e-12)) * g * innov
    else:
        impact = np.empty(0)
    F_cum = np.concatenate(([0.0], np.cumsum(impact)))

    # -- efficient log price at quote times: D (Brownian bridge inside seconds) + F + J
    pos_q = np.searchsorted(grid, q_sec, side="right") + np.arange(n_q)
    pos_g = np.searchsorted(q_sec, grid, side="left") + np.arange(S + 1)
    merged = np.empty(n_q + S + 1)
    merged[pos_q] = q_sec
    merged[pos_g] = grid
    W = np.cumsum(np.sqrt(np.diff(merged, prepend=0.0)) * rng.standard_normal(merged.shape[0]))
    Wq = W[pos_q]
    Wg = W[pos_g]
    f = q_sec - q_k
    bridge = Wq - Wg[q_k] - f * (Wg[q_k + 1] - Wg[q_k])
    X_q = D[q_k] + f * r[q_k] + np.sqrt(1.0 - phi) * sig[q_k] * bridge
    X_q += F_cum[np.searchsorted(t_ns, q_ns, side="left")]
    J_cum = np.concatenate(([0.0], np.cumsum(j_size)))
    X_q += J_cum[np.searchsorted(j_ns, q_ns, side="right")]
    mid = base_price * np.exp(X_q)

    # -- quotes
    widen = 1.0 + p.spread_open_boost * np.exp(-q_sec / S / p.spread_open_decay)
    n_spread = 1 + rng.poisson(np.maximum(spread_ticks * widen * np.sqrt(h[q_k]) - 1.0, 0.0))
    bid_t = np.maximum(np.rint(mid / TICK - 0.5 * n_spread).astype(np.int64), 1)
    ask_t = bid_t + n_spread
    lit_w = _LIT_WEIGHTS.copy()
    lit_w[LIT_VENUES == LISTING_VENUE[tape]] += 0.2
    lit_w /= lit_w.sum()
    bx = rng.choice(LIT_VENUES, size=n_q, p=lit_w)
    ax = rng.choice(LIT_VENUES, size=n_q, p=lit_w)
    qlog = np.log(p.quote_lots_median)
    bs = 100.0 * np.maximum(1.0, np.rint(np.exp(qlog + p.quote_lots_sigma * rng.standard_normal(n_q))))
    as_ = 100.0 * np.maximum(1.0, np.rint(np.exp(qlog + p.quote_lots_sigma * rng.standard_normal(n_q))))
    q_cond, q_cond_len = _flatten_flags((rng.random(n_q) < p.p_quote_cond)[:, None], [QUOTE_COND])

    # -- trades against the prevailing quote
    jq = np.searchsorted(q_ns, t_ns, side="right") - 1
    tb = bid_t[jq]
    ta = ask_t[jq]
    nsp = ta - tb
    kind = rng.random(n_t)
    outside = kind < p.p_outside
    inside = (~outside) & (kind < p.p_outside + p.p_inside) & (nsp >= 2)
    buy = side > 0
    price_t = np.where(buy, ta, tb)
    ui = rng.random(n_t)
    lo_b = (nsp + 1) // 2
    off_b = lo_b + (ui * (nsp - lo_b)).astype(np.int64)  # [ceil(n/2), n-1]
    off_s = 1 + (ui * (nsp // 2)).astype(np.int64)  # [1, floor(n/2)]
    price_t = np.where(inside, tb + np.where(buy, off_b, off_s), price_t)
    k_out = rng.integers(1, 3, n_t)
    price_t = np.where(outside, np.where(buy, ta + k_out, np.maximum(tb - k_out, 1)), price_t)

    trf = np.where(inside, rng.random(n_t) < p.p_trf_inside, rng.random(n_t) < p.p_trf)
    venue_t = rng.choice(LIT_VENUES, size=n_t, p=lit_w)
    exch_t = np.where(trf, np.int16(TRF_VENUE), venue_t).astype(np.int16)
    iso = (~trf) & (rng.random(n_t) < p.p_iso)
    t_cond, t_cond_len = _flatten_flags(np.stack([iso, odd, iso], axis=1).reshape(n_t, 3),
                                        [COND_ISO, COND_ODD_LOT, COND_TRADE_THRU_EXEMPT])
    trade_id = int(rng.integers(10**13, 9 * 10**13)) + np.cumsum(rng.integers(1, 2000, n_t))

    # -- one sequence over trades and quotes (a quote at the same ns comes first)
    seq0 = int(rng.integers(1_000, 100_000))
    seq_t = seq0 + np.searchsorted(q_ns, t_ns, side="right") + np.arange(n_t)
    seq_q = seq0 + np.searchsorted(t_ns, q_ns, side="left") + np.arange(n_q)

    return _SymbolPath(
        params={
            "base_price": base_price,
            "annual_vol": ann_vol,
            "intensity_mult": mult,
            "tape": tape,
            "spread_ticks": spread_ticks,
            "integrated_var": float(np.sum(sig * sig)),
        },
        trades={
            "sym_idx": np.full(n_t, i, dtype=np.int32),
            "ts_ns": t_ns,
            "price": price_t / 100.0,
            "size": size,
            "exchange": exch_t,
            "tape": np.full(n_t, tape, dtype=np.int16),
            "seq": seq_t.astype(np.int64),
            "trade_id": trade_id.astype(np.int64),
            "cond": t_cond,
            "cond_len": t_cond_len,
            "side": side,
        },
        quotes={
            "sym_idx": np.full(n_q, i, dtype=np.int32),
            "ts_ns": q_ns,
            "bid_price": bid_t / 100.0,
            "bid_size": bs,
            "ask_price": ask_t / 100.0,
            "ask_size": as_,
            "bid_exchange": bx.astype(np.int16),
            "ask_exchange": ax.astype(np.int16),
            "tape": np.full(n_q, tape, dtype=np.int16),
            "seq": seq_q.astype(np.int64),
            "cond": q_cond,
            "cond_len": q_cond_len,
            "mid_true": mid,
        },
        jumps={"ts_ns": j_ns, "log_size": j_size, "size_sd": j_c, "local_sd_1m": j_sd1m},
    )


def _concat(parts: list[dict[str, np.ndarray]], open_ns: int) -> dict[str, np.ndarray]:
    out = {k: np.concatenate([d[k] for d in parts]) for k in parts[0]}
    out["ts_ns"] = out["ts_ns"] + np.int64(open_ns)
    out["cond_start"] = (np.cumsum(out["cond_len"], dtype=np.int64) - out["cond_len"]).astype(np.int64)
    return out


def simulate_day(
    date: dt.date,
    n_symbols: int = 20,
    seed: int = 0,
    trades_per_symbol: int = 25_000,
    quotes_per_symbol: int = 50_000,
    jumps_per_symbol: float = 3.0,
    *,
    symbols: Sequence[str] | None = None,
    params: SimParams | None = None,
) -> SimulatedDay:
    """Simulate the regular session of ``date`` for ``n_symbols`` symbols (see module doc).

    ``trades_per_symbol``/``quotes_per_symbol`` are expected counts for an average symbol
    (each symbol scales them by its own intensity multiplier); ``jumps_per_symbol`` is the
    Poisson mean of the number of jumps per symbol. ``symbols`` overrides the generated
    tickers (its length then wins over ``n_symbols``).
    """
    if symbols is None:
        if n_symbols < 1:
            raise ValueError("n_symbols must be >= 1")
        syms = make_symbols(n_symbols)
    else:
        syms = [str(s) for s in symbols]
        if not syms or len(set(syms)) != len(syms):
            raise ValueError("symbols must be non-empty and distinct")
    if trades_per_symbol < 0 or quotes_per_symbol < 0 or jumps_per_symbol < 0:
        raise ValueError("counts and rates must be >= 0")
    p = params or SimParams()
    open_ns, close_ns = _full_session_ns(date)
    root = np.random.SeedSequence([int(seed), date.toordinal()])
    children = root.spawn(len(syms))

    trades: list[dict[str, np.ndarray]] = []
    quotes: list[dict[str, np.ndarray]] = []
    rows: list[dict[str, object]] = []
    jumps: list[pd.DataFrame] = []
    for i, child in enumerate(children):
        res = _simulate_symbol(np.random.default_rng(child), i, p, float(trades_per_symbol),
                               float(quotes_per_symbol), float(jumps_per_symbol))
        trades.append(res.trades)
        quotes.append(res.quotes)
        rows.append({"symbol": syms[i], **res.params})
        j = res.jumps
        n_j = int(j["ts_ns"].shape[0])
        jumps.append(pd.DataFrame({
            "symbol": pd.Series([syms[i]] * n_j, dtype=object),
            "ts_ns": j["ts_ns"] + np.int64(open_ns),
            "log_size": j["log_size"],
            "size_sd": j["size_sd"],
            "sym_idx": np.full(n_j, i, dtype=np.int32),
            "local_sd_1m": j["local_sd_1m"],
        }))
    jump_df = pd.concat(jumps, ignore_index=True).astype(
        {"ts_ns": "int64", "log_size": "float64", "size_sd": "float64", "sym_idx": "int32", "local_sd_1m": "float64"}
    )
    return SimulatedDay(
        date=date,
        symbols=syms,
        trades=_concat(trades, open_ns),
        quotes=_concat(quotes, open_ns),
        jumps=jump_df,
        seed=int(seed),
        open_ns=open_ns,
        close_ns=close_ns,
        params=pd.DataFrame(rows),
        model=p,
    )


# ----------------------------------------------------------------------------- rendering


def _lit(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8).copy()


_T_HEAD = _lit('{"ev":"T","sym":"')
_T_T = _lit('","t":')
_T_P = _lit(',"p":')
_T_S = _lit(',"s":')
_T_X = _lit(',"x":')
_T_I = _lit(',"i":"')
_T_C = _lit('","c":[')
_Q_HEAD = _lit('{"ev":"Q","sym":"')
_Q_BP = _lit(',"bp":')
_Q_BS = _lit(',"bs":')
_Q_AP = _lit(',"ap":')
_Q_AS = _lit(',"as":')
_Q_BX = _lit(',"bx":')
_Q_AX = _lit(',"ax":')
_Q_C = _lit(',"c":[')
_Z = _lit('],"z":')
_Q = _lit(',"q":')
_MAX_EVENT_BYTES = 320  # bound on one event's bytes, symbol and conditions excluded


@njit(cache=True, inline="always")
def _put_lit(buf: np.ndarray, pos: int, lit: np.ndarray) -> int:
    for k in range(lit.shape[0]):
        buf[pos + k] = lit[k]
    return pos + lit.shape[0]


@njit(cache=True)
def _put_int(buf: np.ndarray, pos: int, v: int) -> int:
    if v < 0:
        buf[pos] = 45
        pos += 1
        v = -v
    if v == 0:
        buf[pos] = 48
        return pos + 1
    n = 0
    t = v
    while t > 0:
        t //= 10
        n += 1
    p = pos + n - 1
    while v > 0:
        buf[p] = 48 + v % 10
        v //= 10
        p -= 1
    return pos + n


@njit(cache=True)
def _put_cents(buf: np.ndarray, pos: int, c: int) -> int:
    if c < 0:
        buf[pos] = 45
        pos += 1
        c = -c
    pos = _put_int(buf, pos, c // 100)
    buf[pos] = 46
    buf[pos + 1] = 48 + (c // 10) % 10
    buf[pos + 2] = 48 + c % 10
    return pos + 3


@njit(cache=True)
def _put_size(buf: np.ndarray, pos: int, x: float) -> int:
    if x == np.floor(x) and abs(x) < 1e15:
        return _put_int(buf, pos, int(x))
    if x < 0:
        buf[pos] = 45
        pos += 1
        x = -x
    micro = int(np.rint(x * 1e6))
    pos = _put_int(buf, pos, micro // 1_000_000)
    frac = micro % 1_000_000
    if frac == 0:
        return pos
    buf[pos] = 46
    pos += 1
    div = 100_000
    while frac > 0:
        buf[pos] = 48 + frac // div
        pos += 1
        frac %= div
        div //= 10
    return pos


@njit(cache=True)
def _put_sym(buf: np.ndarray, pos: int, text: np.ndarray, off: np.ndarray, s: int) -> int:
    for k in range(off[s], off[s + 1]):
        buf[pos] = text[k]
        pos += 1
    return pos


@njit(cache=True)
def _put_conds(buf: np.ndarray, pos: int, cond: np.ndarray, start: int, n: int) -> int:
    for k in range(n):
        if k:
            buf[pos] = 44
            pos += 1
        pos = _put_int(buf, pos, cond[start + k])
    return pos


@njit(cache=True)
def _render_trades(order, bounds, as_array, cap, text, off, sym_idx, ts, cents, size, exch,
                   tid, cond, cond_start, cond_len, tape, seq):  # type: ignore[no-untyped-def]
    buf = np.empty(cap, dtype=np.uint8)
    n_msg = bounds.shape[0] - 1
    ends = np.empty(n_msg, dtype=np.int64)
    pos = 0
    for m in range(n_msg):
        if as_array:
            buf[pos] = 91
            pos += 1
        for jj in range(bounds[m], bounds[m + 1]):
            if jj > bounds[m]:
                buf[pos] = 44
                pos += 1
            e = order[jj]
            pos = _put_lit(buf, pos, _T_HEAD)
            pos = _put_sym(buf, pos, text, off, sym_idx[e])
            pos = _put_lit(buf, pos, _T_T)
            pos = _put_int(buf, pos, ts[e])
            pos = _put_lit(buf, pos, _T_P)
            pos = _put_cents(buf, pos, cents[e])
            pos = _put_lit(buf, pos, _T_S)
            pos = _put_size(buf, pos, size[e])
            pos = _put_lit(buf, pos, _T_X)
            pos = _put_int(buf, pos, exch[e])
            pos = _put_lit(buf, pos, _T_I)
            pos = _put_int(buf, pos, tid[e])
            pos = _put_lit(buf, pos, _T_C)
            pos = _put_conds(buf, pos, cond, cond_start[e], cond_len[e])
            pos = _put_lit(buf, pos, _Z)
            pos = _put_int(buf, pos, tape[e])
            pos = _put_lit(buf, pos, _Q)
            pos = _put_int(buf, pos, seq[e])
            buf[pos] = 125
            pos += 1
        if as_array:
            buf[pos] = 93
            pos += 1
        ends[m] = pos
    return buf, ends


@njit(cache=True)
def _render_quotes(order, bounds, as_array, cap, text, off, sym_idx, ts, bp, bs, ap, as_, bx, ax,
                   cond, cond_start, cond_len, tape, seq):  # type: ignore[no-untyped-def]
    buf = np.empty(cap, dtype=np.uint8)
    n_msg = bounds.shape[0] - 1
    ends = np.empty(n_msg, dtype=np.int64)
    pos = 0
    for m in range(n_msg):
        if as_array:
            buf[pos] = 91
            pos += 1
        for jj in range(bounds[m], bounds[m + 1]):
            if jj > bounds[m]:
                buf[pos] = 44
                pos += 1
            e = order[jj]
            pos = _put_lit(buf, pos, _Q_HEAD)
            pos = _put_sym(buf, pos, text, off, sym_idx[e])
            pos = _put_lit(buf, pos, _T_T)
            pos = _put_int(buf, pos, ts[e])
            pos = _put_lit(buf, pos, _Q_BP)
            pos = _put_cents(buf, pos, bp[e])
            pos = _put_lit(buf, pos, _Q_BS)
            pos = _put_size(buf, pos, bs[e])
            pos = _put_lit(buf, pos, _Q_AP)
            pos = _put_cents(buf, pos, ap[e])
            pos = _put_lit(buf, pos, _Q_AS)
            pos = _put_size(buf, pos, as_[e])
            pos = _put_lit(buf, pos, _Q_BX)
            pos = _put_int(buf, pos, bx[e])
            pos = _put_lit(buf, pos, _Q_AX)
            pos = _put_int(buf, pos, ax[e])
            pos = _put_lit(buf, pos, _Q_C)
            pos = _put_conds(buf, pos, cond, cond_start[e], cond_len[e])
            pos = _put_lit(buf, pos, _Z)
            pos = _put_int(buf, pos, tape[e])
            pos = _put_lit(buf, pos, _Q)
            pos = _put_int(buf, pos, seq[e])
            buf[pos] = 125
            pos += 1
        if as_array:
            buf[pos] = 93
            pos += 1
        ends[m] = pos
    return buf, ends


def _cents(x: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=np.float64) * 100.0).astype(np.int64)


def message_plan(
    sym_idx: np.ndarray, ts_ns: np.ndarray, batch: int = 1, batch_ms: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group symbol-major, time-ordered rows into messages and merge them in time order.

    Returns ``(order, bounds, msg_sym, msg_ts_ns)``: message ``m`` holds rows
    ``order[bounds[m]:bounds[m + 1]]``; messages are sorted by the timestamp of their first
    row (then symbol, then position), so each symbol's rows stay in order. With ``batch_ms``
    a message is the rows of one symbol in one ``batch_ms`` window of epoch time (split
    further into at most ``batch`` rows when ``batch > 1``); otherwise consecutive runs of at
    most ``batch`` rows of one symbol.
    """
    n = int(ts_ns.shape[0])
    if batch < 1:
        raise ValueError("batch must be >= 1")
    if batch_ms is not None and batch_ms <= 0:
        raise ValueError("batch_ms must be > 0")
    idx = np.arange(n, dtype=np.int64)
    if n == 0:
        return idx, np.zeros(1, np.int64), np.empty(0, np.int32), np.empty(0, np.int64)
    if batch == 1 and batch_ms is None:
        order = np.lexsort((idx, sym_idx, ts_ns)).astype(np.int64)
        return order, np.arange(n + 1, dtype=np.int64), sym_idx[order], ts_ns[order]
    run_break = np.ones(n, dtype=bool)
    run_break[1:] = sym_idx[1:] != sym_idx[:-1]
    if batch_ms is not None:
        win = ts_ns // (np.int64(batch_ms) * 1_000_000)
        run_break[1:] |= win[1:] != win[:-1]
    first = run_break
    if batch > 1:
        run_start = np.flatnonzero(run_break)
        run_id = np.cumsum(run_break) - 1
        rank = idx - run_start[run_id]
        first = rank % batch == 0
    starts = np.flatnonzero(first).astype(np.int64)
    lens = np.diff(np.append(starts, n))
    m_order = np.lexsort((starts, sym_idx[starts], ts_ns[starts]))
    s_sorted = starts[m_order]
    l_sorted = lens[m_order]
    bounds = np.concatenate(([0], np.cumsum(l_sorted))).astype(np.int64)
    order = np.repeat(s_sorted - bounds[:-1], l_sorted) + np.arange(n, dtype=np.int64)
    return order, bounds, sym_idx[s_sorted], ts_ns[s_sorted]


def render_messages(
    day: SimulatedDay,
    kind: Literal["T", "Q"],
    batch: int = 1,
    batch_ms: int | None = None,
    *,
    chunk_events: int = 1 << 18,
) -> Iterator[tuple[bytes, bytes, int]]:
    """Yield ``(key = symbol bytes, value = JSON bytes, timestamp_ms)`` Kafka messages.

    ``batch == 1`` and no ``batch_ms``: one event object per message. Otherwise every message
    is a JSON array of events of ONE symbol (see :func:`message_plan`). The timestamp is the
    exchange time of the first event in ms. Messages of all symbols are merged in time
    order. Prices print with exactly two decimals (they are on the $0.01 grid), integral
    sizes as integers, other sizes with up to 6 decimals. Rendering runs in chunks of about
    ``chunk_events`` events, so memory stays bounded.
    """
    if kind not in ("T", "Q"):
        raise ValueError("kind must be 'T' or 'Q'")
    cols = day.trades if kind == "T" else day.quotes
    order, bounds, msg_sym, msg_ts = message_plan(cols["sym_idx"], cols["ts_ns"], batch, batch_ms)
    as_array = bool(batch > 1 or batch_ms is not None)
    sym_bytes = [s.encode() for s in day.symbols]
    text = np.frombuffer(b"".join(sym_bytes), dtype=np.uint8) if sym_bytes else np.empty(0, np.uint8)
    off = np.concatenate(([0], np.cumsum([len(b) for b in sym_bytes]))).astype(np.int64)
    max_sym = max(len(b) for b in sym_bytes)
    if kind == "T":
        args: tuple[np.ndarray, ...] = (
            cols["sym_idx"], cols["ts_ns"], _cents(cols["price"]), cols["size"].astype(np.float64),
            cols["exchange"].astype(np.int64), cols["trade_id"].astype(np.int64), cols["cond"].astype(np.int64),
            cols["cond_start"].astype(np.int64), cols["cond_len"].astype(np.int64),
            cols["tape"].astype(np.int64), cols["seq"].astype(np.int64),
        )
        kernel: Callable[..., tuple[np.ndarray, np.ndarray]] = _render_trades
    else:
        args = (
            cols["sym_idx"], cols["ts_ns"], _cents(cols["bid_price"]), cols["bid_size"].astype(np.float64),
            _cents(cols["ask_price"]), cols["ask_size"].astype(np.float64),
            cols["bid_exchange"].astype(np.int64), cols["ask_exchange"].astype(np.int64),
            cols["cond"].astype(np.int64), cols["cond_start"].astype(np.int64),
            cols["cond_len"].astype(np.int64), cols["tape"].astype(np.int64), cols["seq"].astype(np.int64),
        )
        kernel = _render_quotes
    cond_len = cols["cond_len"]
    keys = sym_bytes
    n_msg = int(msg_sym.shape[0])
    ts_ms = (msg_ts // 1_000_000).tolist()
    msg_sym_l = msg_sym.tolist()
    m0 = 0
    while m0 < n_msg:
        m1 = int(np.searchsorted(bounds, bounds[m0] + chunk_events, side="right")) - 1
        m1 = min(max(m1, m0 + 1), n_msg)
        sub_order = order[bounds[m0]:bounds[m1]]
        sub_bounds = bounds[m0:m1 + 1] - bounds[m0]
        n_ev = int(sub_order.shape[0])
        cap = n_ev * (_MAX_EVENT_BYTES + max_sym) + 8 * int(cond_len[sub_order].sum()) + 2 * (m1 - m0) + 16
        buf, ends = kernel(sub_order, sub_bounds, as_array, cap, text, off, *args)
        data = buf[: int(ends[-1])].tobytes()
        start = 0
        for m, end in zip(range(m0, m1), ends.tolist(), strict=True):
            yield keys[msg_sym_l[m]], data[start:end], ts_ms[m]
            start = end
        m0 = m1


# ----------------------------------------------------------------------------- ground truth


def write_ground_truth(day: SimulatedDay, path: str | Path) -> tuple[Path, Path]:
    """Write the jumps as CSV to ``path`` and a JSON summary next to it (``<stem>.json``).

    If ``path`` is an existing directory, writes ``jumps.csv`` and ``summary.json`` in it.
    Returns the two paths written.
    """
    p = Path(path)
    if p.is_dir():
        csv_path, json_path = p / "jumps.csv", p / "summary.json"
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = p, p.with_suffix(".json")
    day.jumps.to_csv(csv_path, index=False)
    n_sym = len(day.symbols)
    t_counts = np.bincount(day.trades["sym_idx"], minlength=n_sym)
    q_counts = np.bincount(day.quotes["sym_idx"], minlength=n_sym)
    j_counts = np.bincount(day.jumps["sym_idx"].to_numpy(), minlength=n_sym)
    per_symbol = []
    for i, sym in enumerate(day.symbols):
        row: dict[str, object] = {"symbol": sym, "trades": int(t_counts[i]), "quotes": int(q_counts[i]),
                                  "jumps": int(j_counts[i])}
        if not day.params.empty:
            for col in day.params.columns:
                if col != "symbol":
                    val = day.params[col].iloc[i]
                    row[col] = val.item() if hasattr(val, "item") else val
        per_symbol.append(row)
    summary = {
        "date": day.date.isoformat(),
        "seed": day.seed,
        "session_open_ns": day.open_ns,
        "session_close_ns": day.close_ns,
        "symbols": day.symbols,
        "n_trades": int(t_counts.sum()),
        "n_quotes": int(q_counts.sum()),
        "n_jumps": int(j_counts.sum()),
        "per_symbol": per_symbol,
        "model": asdict(day.model),
    }
    json_path.write_text(json.dumps(summary, indent=2))
    return csv_path, json_path
