"""Tests for theory.loss: the population loss against Monte Carlo of the network, the gradient against finite
differences, the symbolic agreement with the structured form, and mutations fed through the same verifications."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory import loss as L
from theory.symbols import k, ns, nw, theta


@pytest.fixture(scope="module")
def loss_fn():
    return sp.lambdify((nw, ns, theta, k), L.loss_expr(), "numpy")


@pytest.fixture(scope="module")
def grad_fns():
    q, s = L.gradient_coefficients()
    return sp.lambdify((nw, ns, theta, k), q, "numpy"), sp.lambdify((nw, ns, theta, k), s, "numpy")


def _angle(w, w_star):
    c = w @ w_star / (np.linalg.norm(w) * np.linalg.norm(w_star))
    return float(np.arccos(np.clip(c, -1, 1)))


def test_records_are_verified():
    pop = L.derive_population_loss()
    grad = L.derive_gradient()
    assert pop.name == "population_loss" and pop.verified, [c for c in pop.checks if not c.passed]
    assert grad.name == "gradient" and grad.verified, [c for c in grad.checks if not c.passed]
    assert any("no factor 1/2" in c for c in pop.conventions)
    assert any("no factor 1/2" in c for c in grad.conventions)


@pytest.mark.parametrize(("k_val", "dim"), [(1, 2), (2, 5), (6, 3)])
def test_loss_vs_own_network_monte_carlo(loss_fn, k_val, dim):
    # The network simulated here, independently of theory.loss: f(Z; w) = mean_i relu(Z_i . w).
    rng = np.random.default_rng(10 + k_val)
    w, w_star = rng.standard_normal(dim), rng.standard_normal(dim)
    z = rng.standard_normal((150_000, k_val, dim))
    err2 = (np.maximum(z @ w, 0).mean(1) - np.maximum(z @ w_star, 0).mean(1)) ** 2
    se = err2.std(ddof=1) / np.sqrt(err2.size)
    val = loss_fn(np.linalg.norm(w), np.linalg.norm(w_star), _angle(w, w_star), k_val)
    assert abs(err2.mean() - val) <= 4 * se


def test_loss_zero_at_teacher_and_positive_elsewhere(loss_fn):
    assert sp.simplify(L.loss_expr().subs({nw: ns, theta: 0})) == 0
    assert loss_fn(1.0, 1.0, 0.3, 3) > 0 and loss_fn(1.2, 1.0, 0.0, 3) > 0


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    k_val=st.integers(1, 12),
    w=st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    w_star=st.lists(st.floats(-2, 2), min_size=3, max_size=3),
)
def test_gradient_vs_finite_differences(loss_fn, grad_fns, k_val, w, w_star):
    w, w_star = np.array(w), np.array(w_star)
    assume(np.linalg.norm(w) > 0.2 and np.linalg.norm(w_star) > 0.2)
    t = _angle(w, w_star)
    assume(1e-2 < t < np.pi - 1e-2)  # arccos (this test's own angle) loses accuracy near 0 and pi; FD would be noisy

    def lval(x):
        return loss_fn(np.linalg.norm(x), np.linalg.norm(w_star), _angle(x, w_star), k_val)

    h = 1e-6
    fd = np.array([(lval(w + h * e) - lval(w - h * e)) / (2 * h) for e in np.eye(3)])
    fq, fs = grad_fns
    args = (np.linalg.norm(w), np.linalg.norm(w_star), t, k_val)
    grad = fq(*args) * w - fs(*args) * w_star
    # h = 1e-6: truncation ~1e-12, rounding ~1e-10 relative to O(1) loss values.
    np.testing.assert_allclose(fd, grad, rtol=1e-5, atol=1e-7)


def test_gradient_coefficients_match_structured_form():
    q, s = L.gradient_coefficients()
    qs, ss = L.structured_gradient_coefficients()
    assert sp.simplify(q - qs) == 0 and sp.simplify(s - ss) == 0
    # At w = w*: grad = (q - s) w* = 0, and q = s = 1/k there.
    assert sp.simplify(q.subs({nw: ns, theta: 0}) - 1 / k) == 0
    assert sp.simplify(s.subs(theta, 0) - 1 / k) == 0


def test_pair_counting_verification_passes():
    assert L.verify_pair_counting(L.cross_moment_expr()).passed


# ---- mutations ---------------------------------------------------------------------------------------------------


def _drop_offdiagonal_loss():
    # The loss without the (k^2 - k)/(2 pi) (|w| - |w*|)^2 off-diagonal term.
    return L.loss_expr() - (k**2 - k) / (2 * sp.pi) * (nw - ns) ** 2 / k**2


def test_mutation_loss_without_offdiagonal_term_fails_monte_carlo():
    check = L.verify_loss_monte_carlo(_drop_offdiagonal_loss(), n_samples=100_000)
    assert not check.passed


def test_mutation_loss_with_factor_half_fails_monte_carlo():
    assert not L.verify_loss_monte_carlo(L.loss_expr() / 2, n_samples=100_000).passed


def test_mutation_pair_count_k_squared_fails():
    from theory.gaussian import NU, NV, arccos_kernel_expr, independent_patch_expr

    wrong = (k * arccos_kernel_expr() + k**2 * independent_patch_expr()) / k**2  # k^2 instead of k^2 - k
    assert not L.verify_pair_counting(wrong).passed
    assert NU in wrong.free_symbols and NV in wrong.free_symbols


def _dropped_offdiagonal_gradient():
    qs, ss = L.structured_gradient_coefficients()
    return qs - (k**2 - k) / sp.pi / k**2, ss  # A(w) without its (k^2-k)/pi term


def test_mutation_dropped_term_in_gradient_fails_symbolic():
    assert not L.verify_gradient_symbolic(*_dropped_offdiagonal_gradient()).passed


def test_mutation_dropped_term_in_gradient_fails_finite_difference():
    assert not L.verify_gradient_finite_difference(*_dropped_offdiagonal_gradient()).passed


def test_mutation_wrong_s_fails_explicit_vectors():
    q, _ = L.gradient_coefficients()
    assert not L.verify_gradient_explicit_vectors(q, (sp.pi - theta) / (k**2 * sp.pi)).passed  # 1/k^2 for 1/k


def test_mutation_sign_error_fails_finite_difference():
    q, s = L.gradient_coefficients()
    assert not L.verify_gradient_finite_difference(q, -s).passed


def test_network_loss_samples_validates():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="k_val"):
        L.network_loss_samples(np.ones(2), np.ones(2), 0, 10, rng)
    with pytest.raises(ValueError, match="n_samples"):
        L.network_loss_samples(np.ones(2), np.ones(2), 2, 1, rng)
