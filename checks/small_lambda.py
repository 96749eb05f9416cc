"""Check of the small-lambda behaviour of the RVSM limit (theory page section 5, "Small lambda"), l1 penalty.

``small_lambda_orders``
    For a geometric sequence of lam, the predicted limit ``u_bar(lam)`` (:func:`numerics.predict`, itself
    checked against RVSM by ``limit_matches_prediction``) satisfies ``|u_bar - w*| = O(lam)`` and
    ``|u_bar - w* - lam v| = O(lam^2)``, with ``v`` the first-order direction of :mod:`theory.expansion`
    (ingredient ``"direction"``):

        v = r'(0) w* - (k + 1/beta) sign(w*),   r'(0) = k (k - 1) |w*|_1 / (|w*|^2 (pi + k - 1)).

    Both orders are read off as least-squares slopes of ``log error`` against ``log lam``.

The lam sequence: 4 values from ``lam_max = 0.1 m/(k + 1/beta)`` down by a factor 100 (``m`` the smallest nonzero
``|w*_i|``), so that every nonzero coordinate stays kept (the threshold ``mu_bar ~ lam (k + 1/beta)`` is at most a
tenth of it) and the relative size of the next-order term, ``~ lam (k + 1/beta)/m <= 0.1``, bounds the curvature of
the log-log curves: a slope over the range deviates from its order by at most about that (seen: see the tolerances).
Scaling lam with the instance instead of a fixed 1e-2..1e-4 keeps large ``k + 1/beta`` (up to 28 here) out of the
thresholded regime.

Only l1 has its expansion in :mod:`theory.expansion` (l0: ``u_bar = w*`` exactly while every coordinate is kept, so
there is no first-order term to check; TL1: not derived there).

Mutations (ingredient ``direction``; on the spec, :data:`SMALL_LAMBDA_ORDERS`): ``naive_prox_direction`` (``r'(0) = 0``,
the direction of ``prox_{lam (k + 1/beta) P}(w*)``; fails whenever ``k >= 2``) and ``direction_missing_inverse_beta``
(``v = r'(0) w* - k sign(w*)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import numerics as nm
from theory import expansion

from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import _DIMS, _PATCHES, log_uniform, teachers

__all__ = ["lam_sequence"]

#: Slope windows. The first-order slope is 1 up to the relative curvature ~ lam (k + 1/beta)/m <= 0.1 at the top of
#: the range (and ~1e-3 at the bottom), so its fitted value lies within ~0.05 of 1: window [0.9, 1.1]. Same argument
#: for the remainder (next term relative ~0.1): [1.8, 2.2]. A wrong direction leaves a remainder ~ lam |delta v|, of
#: slope ~1, outside the second window by 0.7 or more.
_SLOPE1 = (0.9, 1.1)
_SLOPE2 = (1.8, 2.2)
#: Where the expansion is exact (k = 1 and |w*_i| all equal: r = 1, t = 0 and u_bar = w* - lam (1 + 1/beta) sign w*
#: for every lam) the remainder is rounding: the predictor's (s, q) solve (1e-14 relative) and float64. A remainder
#: below 1e-12 |w*| at every lam of the sequence passes without a slope (a wrong v leaves >= lam |delta v| >> 1e-12
#: at the largest lam, >= 7e-4 |delta v| here).
_ROUNDING = 1e-12


def lam_sequence(w_star: np.ndarray, k: int, beta: float, n: int = 4) -> np.ndarray:
    """``n`` lam values, geometric from ``0.1 m/(k + 1/beta)`` down by a factor 100 (module docstring)."""
    m = float(np.min(np.abs(w_star[w_star != 0])))
    return 0.1 * m / (k + 1.0 / beta) * np.logspace(0.0, -2.0, n)


@st.composite
def _cases(draw, profile: str) -> dict[str, Any]:
    d = draw(st.integers(*_DIMS[profile]))
    k = draw(st.integers(*_PATCHES[profile]))
    beta = draw(log_uniform(0.05, 1.0))
    w_star = draw(teachers(d, draw(st.sampled_from(("dense", "sparse")))))
    return {"w_star": w_star, "k": k, "beta": beta}


def _slope(lams: np.ndarray, err: np.ndarray) -> float:
    with np.errstate(divide="ignore"):  # an exact expansion has err = 0: slope NaN, handled by the caller
        logs = np.log(err)
    return float(np.polyfit(np.log(lams), logs, 1)[0]) if np.all(np.isfinite(logs)) else float("nan")


def _window_discrepancy(slope: float, window: tuple[float, float]) -> float:
    """0 at the window's centre, 1 at its edges."""
    centre, half = 0.5 * (window[0] + window[1]), 0.5 * (window[1] - window[0])
    return abs(slope - centre) / half if np.isfinite(slope) else float("inf")


def _prop_orders(case: dict[str, Any], ingr: dict[str, Any]) -> Outcome:
    ws = np.asarray(case["w_star"], dtype=np.float64)
    k, beta = case["k"], case["beta"]
    lams = lam_sequence(ws, k, beta)
    pred = ingr["predict"](nm.Problem(np.broadcast_to(ws, (lams.size, ws.size)), k, "l1", lams, beta))
    if not bool(np.all(pred.ok)) or not np.array_equal(pred.support, np.broadcast_to(ws != 0, pred.support.shape)):
        return Outcome(float("inf"), f"prediction not a fixed point with support supp(w*) (ok={pred.ok})")
    v = np.asarray(ingr["direction"](ws, k, beta), dtype=np.float64)
    dev = np.asarray(pred.u) - ws
    err1 = np.linalg.norm(dev, axis=1)
    err2 = np.linalg.norm(dev - lams[:, None] * v, axis=1)
    s1, s2 = _slope(lams, err1), _slope(lams, err2)
    exact = bool(np.all(err2 <= _ROUNDING * np.linalg.norm(ws)))
    disc = max(_window_discrepancy(s1, _SLOPE1), 0.0 if exact else _window_discrepancy(s2, _SLOPE2))
    detail = (f"lam {lams[0]:.2e}..{lams[-1]:.2e}: slope |u-w*| = {s1:.4f} (window {_SLOPE1}), slope of the "
              f"remainder = {s2:.4f} (window {_SLOPE2}); remainder/|u-w*| at the smallest lam = "
              f"{err2[-1] / err1[-1]:.2e}" + (" (expansion exact to rounding)" if exact else ""))
    return Outcome(disc, detail)


def _missing_inverse_beta(w_star: np.ndarray, k: int, beta: float) -> np.ndarray:
    return expansion.first_order_direction(w_star, k, beta) + np.sign(w_star) / beta


SMALL_LAMBDA_ORDERS = register(CheckSpec(
    name="small_lambda_orders",
    statement=("For small lam the l1 limit satisfies |u_bar - w*| = O(lam), and u_bar = w* + lam v + O(lam^2) with "
               "v = r'(0) w* - (k + 1/beta) sign(w*) (theory page s.5)"),
    section="5",
    strategy=lambda profile: _cases(profile),
    prop=_prop_orders,
    ingredients=lambda: {"direction": expansion.first_order_direction, "predict": nm.predict},
    max_examples={"quick": 15, "thorough": 300},
    mutations=(
        Mutation("naive_prox_direction",
                 "r'(0) = 0: the naive prox_{lam (k + 1/beta) P}(w*) as first-order expansion",
                 {"direction": expansion.naive_first_order_direction}),
        Mutation("direction_missing_inverse_beta", "v without its 1/beta term: v = r'(0) w* - k sign(w*)",
                 {"direction": _missing_inverse_beta}),
    ),
))
