"""The verification primitives fail on NaN and on genuine disagreement, and pass on agreement."""

import math

import numpy as np
import sympy as sp

from theory.verify import verify_monte_carlo, verify_numeric, verify_symbolic_zero

x = sp.Symbol("x", positive=True)


def test_verify_numeric_rejects_nan_on_either_side():
    pts = [(1.0,), (2.0,)]
    assert verify_numeric(lambda v: v, lambda v: v, pts, "same").passed
    assert not verify_numeric(lambda v: 1.0, lambda v: math.nan, pts, "nan reference").passed
    assert not verify_numeric(lambda v: math.nan, lambda v: 1.0, pts, "nan candidate").passed
    assert not verify_numeric(lambda v: v * (1 + 1e-6), lambda v: v, pts, "off by 1e-6").passed


def test_verify_symbolic_zero_numeric_fallback_rejects_nan_and_nonzero():
    # sqrt(x^2) - x simplifies to 0 for positive x; the others must fail
    assert verify_symbolic_zero(sp.sqrt(x**2) - x, "zero").passed
    assert not verify_symbolic_zero(x - x + sp.Float(1e-6), "nonzero").passed
    # an expression SymPy leaves alone, evaluated at a point where it is NaN
    nan_expr = sp.Function("f")(x) - sp.Function("f")(x) + sp.nan * x
    assert not verify_symbolic_zero(nan_expr, "nan", numeric_points=[{x: 1}]).passed


def test_verify_monte_carlo_uses_the_samples_standard_error():
    rng = np.random.default_rng(0)
    samples = rng.normal(1.0, 1.0, size=10_000)
    assert verify_monte_carlo(samples, 1.0, "mean 1").passed
    assert not verify_monte_carlo(samples, 1.1, "mean 1.1 (10 standard errors off)").passed
    assert not verify_monte_carlo(samples, math.nan, "nan").passed
