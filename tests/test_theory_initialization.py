"""Initialization tail probability (1/2) I_{sin^2 delta}((d-1)/2, 1/2) and its bound delta/pi; mutation tests."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from theory import initialization as ini
from theory.symbols import d

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


def wrong_argument(d_, dl):
    """Mutation: cos^2 delta in place of sin^2 delta."""
    return 0.5 * special.betainc((np.asarray(d_, float) - 1) / 2, 0.5, np.cos(dl) ** 2)


def wrong_parameter(d_, dl):
    """Mutation: d/2 in place of (d-1)/2."""
    return 0.5 * special.betainc(np.asarray(d_, float) / 2, 0.5, np.sin(dl) ** 2)


def wrong_sin(d_, dl):
    """Mutation: sin delta in place of sin^2 delta."""
    return 0.5 * special.betainc((np.asarray(d_, float) - 1) / 2, 0.5, np.sin(dl))


def test_derivation_verified():
    rec = ini.derive_initialization_probability()
    assert rec.name == "initialization_probability"
    assert rec.verified, [c for c in rec.checks if not c.passed]
    methods = {c.method for c in rec.checks}
    assert {"monte-carlo", "quadrature", "symbolic", "numeric"} <= methods


@SETTINGS
@given(st.integers(2, 150), st.floats(1e-3, np.pi / 2))
def test_tail_against_angle_quadrature(d_, dl):
    chk = ini.verify_tail_quadrature(ini.init_tail_probability, [(d_, dl)])
    assert chk.passed, chk.detail


@SETTINGS
@given(st.integers(2, 150), st.floats(0.0, np.pi / 2))
def test_bound_and_expr_agree(d_, dl):
    p = float(ini.init_tail_probability(d_, dl))
    assert 0.0 <= p <= dl / np.pi + 1e-15
    f = sp.lambdify((d, ini.delta), ini.init_tail_probability_expr(), "scipy")
    assert f(d_, dl) == pytest.approx(p, rel=1e-12, abs=1e-300)


def test_known_small_d():
    dl = np.linspace(0, np.pi / 2, 9)
    np.testing.assert_allclose(ini.init_tail_probability(2, dl), dl / np.pi, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(ini.init_tail_probability(3, dl), (1 - np.cos(dl)) / 2, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("mutant", [wrong_argument, wrong_parameter, wrong_sin])
def test_mutations_fail_quadrature(mutant):
    pts = [(dv, dl) for dv in (3, 7, 20) for dl in (0.3, 1.0, 1.4)]
    assert not ini.verify_tail_quadrature(mutant, pts).passed
    assert ini.verify_tail_quadrature(ini.init_tail_probability, pts).passed


@pytest.mark.parametrize("mutant", [wrong_argument, wrong_parameter])
def test_mutations_fail_monte_carlo(mutant):
    checks = ini.verify_tail_monte_carlo(mutant, 5, (1.0, 1.5), n=50_000, seed=3)
    assert not all(c.passed for c in checks), [c.detail for c in checks]
    good = ini.verify_tail_monte_carlo(ini.init_tail_probability, 5, (1.0, 1.5), n=50_000, seed=3)
    assert all(c.passed for c in good), [c.detail for c in good]


def test_mutations_fail_bound():
    assert not ini.verify_tail_bound(wrong_sin).passed
    assert not ini.verify_tail_bound(lambda d_, dl: 1.01 * dl / np.pi + 0 * d_).passed
    assert not ini.verify_tail_decreasing_in_d(lambda d_, dl: d_ * dl / (200 * np.pi)).passed


@pytest.mark.parametrize("args", [(1, 0.5), (2.5, 0.5), (3, -0.1), (3, 2.0), (np.nan, 1.0)])
def test_bad_input_raises(args):
    with pytest.raises(ValueError, match=r"d must|delta must"):
        ini.init_tail_probability(*args)
