"""Reusable verification primitives. Each returns a :class:`theory.record.Check` and can fail.

They take the *candidate* expression as an argument, so tests can pass a deliberately wrong formula through the very
same verification and assert that it is reported as failed. Like every verification in :mod:`theory` they are named
``verify_*`` (derivations are ``derive_*``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from .record import Check


def verify_symbolic_zero(expr: sp.Expr, description: str, *, numeric_points: Sequence[dict] = ()) -> Check:
    """Check that ``expr`` simplifies to zero.

    Parameters
    ----------
    expr : sympy expression
        The difference of two forms that should agree.
    description : str
        What the two forms are.
    numeric_points : sequence of dict
        Optional substitutions at which the expression is also evaluated numerically (a guard against a
        simplification that SymPy cannot finish: the check then passes only if every point gives ``|expr| < 1e-12``).

    Notes
    -----
    Tries ``sp.simplify`` first; if the result is not literally zero and ``numeric_points`` are given, the
    expression is evaluated at them with 30 significant digits.
    """
    simplified = sp.simplify(expr)
    if simplified == 0:
        return Check("symbolic", description, True, "difference simplifies to 0")
    if numeric_points:
        worst = 0.0
        for point in numeric_points:
            val = abs(complex(sp.N(expr.subs(point), 30)))
            # a NaN/inf difference is a failure (max() would silently drop a NaN)
            worst = val if not np.isfinite(val) else max(worst, val)
            if not np.isfinite(worst):
                break
        ok = bool(np.isfinite(worst) and worst < 1e-12)
        return Check(
            "symbolic+numeric",
            description,
            ok,
            f"simplify left {sp.count_ops(simplified)} ops; max |difference| at {len(numeric_points)} points = "
            f"{worst:.3e}",
        )
    return Check("symbolic", description, False, f"difference simplifies to {simplified} (not 0)")


def verify_monte_carlo(
    samples: np.ndarray, value: float, description: str, *, n_se: float = 4.0
) -> Check:
    """Check that a closed-form ``value`` lies within ``n_se`` standard errors of the sample mean.

    Parameters
    ----------
    samples : ndarray, shape (N,)
        Independent draws of the random quantity whose expectation is ``value``.
    value : float
        The closed form evaluated at the same parameters.
    description : str
        What is compared.
    n_se : float
        Number of standard errors allowed. The standard error is estimated from the samples,
        ``std(samples, ddof=1) / sqrt(N)``.
    """
    samples = np.asarray(samples, dtype=float)
    n = samples.size
    mean = float(samples.mean())
    se = float(samples.std(ddof=1) / np.sqrt(n))
    z = abs(mean - value) / se if se > 0 else (0.0 if mean == value else np.inf)
    return Check(
        "monte-carlo",
        description,
        z <= n_se,
        f"closed form {value:.6g}, MC mean {mean:.6g} +- {se:.2g} (N={n}): {z:.2f} standard errors "
        f"(allowed {n_se})",
    )


def verify_numeric(
    candidate: Callable[..., float],
    reference: Callable[..., float],
    points: Sequence[tuple],
    description: str,
    *,
    method: str = "numeric",
    rtol: float = 1e-8,
    atol: float = 1e-12,
) -> Check:
    """Check ``candidate(*p)`` against an independent ``reference(*p)`` at each point ``p``.

    Passes when ``|candidate - reference| <= atol + rtol * |reference|`` at every point and both values are finite
    (a NaN on either side is a failure, never a pass).
    """
    worst = 0.0
    worst_at = None
    ok = True
    for p in points:
        c = float(candidate(*p))
        r = float(reference(*p))
        err = abs(c - r)
        if not (np.isfinite(c) and np.isfinite(r) and err <= atol + rtol * abs(r)):
            ok = False
        scaled = err / (atol + rtol * abs(r))
        if not np.isfinite(scaled) or scaled > worst:
            worst, worst_at = scaled, p
    return Check(
        method,
        description,
        ok,
        f"{len(points)} points; worst |diff|/(atol+rtol|ref|) = {worst:.3g} at {worst_at} (rtol={rtol}, atol={atol})",
    )
