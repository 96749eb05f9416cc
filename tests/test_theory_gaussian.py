"""Tests for theory.gaussian: the ReLU mean and the arc-cosine kernel against independent numerics, and mutations."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy import integrate

from theory import gaussian
from theory.gaussian import NU, NV, arccos_kernel_expr, independent_patch_expr, relu_mean_expr
from theory.symbols import theta


@pytest.fixture(scope="module")
def record():
    return gaussian.derive_gaussian_moments()


def test_record_is_verified(record):
    assert record.name == "gaussian_moments"
    assert record.verified, [c for c in record.checks if not c.passed]
    assert {"relu_mean", "arccos_kernel", "kernel_same_vector", "independent_patch"} <= set(record.statement)
    assert record.latex.strip() and record.conventions


@pytest.mark.parametrize("nu", [0.3, 1.0, 2.7])
def test_relu_mean_vs_quadrature(nu):
    # E[relu(nu x)] for x ~ N(0,1), by scipy quadrature over the whole line (independent of the SymPy integral).
    ref = integrate.quad(lambda x: max(nu * x, 0.0) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), -np.inf, np.inf,
                         points=None)[0]
    val = float(relu_mean_expr().subs(NU, nu))
    assert val == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize(("nu", "nv", "t"), [(1.0, 1.0, 0.0), (0.9, 1.6, 1.0), (1.4, 0.5, 2.5), (1.2, 1.1, 3.1)])
def test_kernel_vs_own_monte_carlo(nu, nv, t):
    # Monte Carlo written here in d = 6 with u, v in a random orientation; tolerance: 4 of the samples' own SE.
    rng = np.random.default_rng(123)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    u = nu * q[:, 2]
    v = nv * (np.cos(t) * q[:, 2] + np.sin(t) * q[:, 4])
    x = rng.standard_normal((300_000, 6))
    s = np.maximum(x @ u, 0) * np.maximum(x @ v, 0)
    se = s.std(ddof=1) / np.sqrt(s.size)
    val = float(arccos_kernel_expr().subs({NU: nu, NV: nv, theta: t}))
    assert abs(s.mean() - val) <= 4 * se


def test_kernel_vs_polar_quadrature_over_full_circle():
    # Integrate over the full circle with the indicator in the integrand (no wedge limits typed in).
    nu, nv, t = 1.3, 0.8, 1.9

    def integrand(r, phi):
        a = nu * r * np.cos(phi)
        b = nv * r * np.cos(phi - t)
        return max(a, 0) * max(b, 0) * np.exp(-r * r / 2) * r / (2 * np.pi)

    ref = integrate.dblquad(integrand, -np.pi, np.pi, 0, 14, epsabs=1e-12, epsrel=1e-10)[0]
    val = float(arccos_kernel_expr().subs({NU: nu, NV: nv, theta: t}))
    assert val == pytest.approx(ref, rel=1e-7)


def test_special_cases(record):
    assert sp.simplify(record.statement["kernel_same_vector"] - NU**2 / 2) == 0
    assert sp.simplify(independent_patch_expr() - NU * NV / (2 * sp.pi)) == 0
    # g(u, u) = |u|^2 E[x^2 1{x>0}] = |u|^2 / 2 numerically too.
    half = integrate.quad(lambda x: x * x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), 0, np.inf)[0]
    assert half == pytest.approx(0.5, rel=1e-12)
    # Kernel vanishes at t = pi (antipodal vectors are never both positive).
    assert sp.simplify(arccos_kernel_expr().subs(theta, sp.pi)) == 0


def test_verifications_pass_for_derived_expressions():
    assert gaussian.verify_relu_mean(relu_mean_expr(), n_samples=100_000).passed
    assert gaussian.verify_arccos_kernel_quadrature(arccos_kernel_expr()).passed
    assert gaussian.verify_independent_patch(independent_patch_expr(), n_samples=100_000).passed


# ---- mutations: wrong formulas through the same verifications must be reported as failed ----------------------


def test_mutation_wrong_normalisation_of_kernel_fails_mc_and_quadrature():
    wrong = arccos_kernel_expr() * 2  # 1/pi instead of 1/(2 pi)
    assert not gaussian.verify_arccos_kernel_mc(wrong, n_samples=100_000).passed
    assert not gaussian.verify_arccos_kernel_quadrature(wrong).passed


def test_mutation_wrong_angular_factor_fails_quadrature():
    wrong = NU * NV * (sp.sin(theta) + theta * sp.cos(theta)) / (2 * sp.pi)  # t instead of pi - t
    check = gaussian.verify_arccos_kernel_quadrature(wrong)
    assert not check.passed
    assert not gaussian.verify_arccos_kernel_mc(wrong, n_samples=100_000).passed


def test_mutation_wrong_relu_mean_fails():
    assert not gaussian.verify_relu_mean(NU / (2 * sp.pi), n_samples=100_000).passed  # 1/(2 pi) for 1/sqrt(2 pi)


def test_mutation_wrong_independent_patch_term_fails():
    assert not gaussian.verify_independent_patch(NU * NV / sp.pi, n_samples=100_000).passed


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_dim_raises(bad):
    with pytest.raises(ValueError, match="dim"):
        gaussian.verify_relu_mean(relu_mean_expr(), dim=bad)
    with pytest.raises(ValueError, match="dim"):
        gaussian.verify_arccos_kernel_mc(arccos_kernel_expr(), dim=bad + 1)
