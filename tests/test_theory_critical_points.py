"""Tests for theory.critical_points: saddle scale by brute-force minimization along the ray, Hessian eigenvalues by
finite differences, the origin maximum numerically, and mutations fed through the same verifications."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy import optimize

from theory import critical_points as cp
from theory.loss import loss_expr
from theory.symbols import k, ns, nw, theta


@pytest.fixture(scope="module")
def loss_fn():
    return sp.lambdify((nw, ns, theta, k), loss_expr(), "numpy")


def _loss_vec(loss_fn, w, w_star, k_val):
    unit = w_star / np.linalg.norm(w_star)
    along = w @ unit
    t = np.arctan2(np.linalg.norm(w - along * unit), along)
    return loss_fn(np.linalg.norm(w), np.linalg.norm(w_star), t, k_val)


def test_record_is_verified():
    rec = cp.derive_critical_points()
    assert rec.name == "critical_points"
    assert rec.verified, [c for c in rec.checks if not c.passed]
    assert {"saddle_scale", "hessian_eigenvalue_perp", "hessian_eigenvalue_par"} <= set(rec.statement)


@pytest.mark.parametrize("k_val", [2, 3, 7, 25])
def test_saddle_scale_is_the_minimum_along_the_opposite_ray(loss_fn, k_val):
    # On the ray t = pi the loss is convex in |w|; its minimizer there is the critical point. Found by brute force.
    res = optimize.minimize_scalar(lambda r: loss_fn(r, 1.0, np.pi, k_val), bounds=(0.0, 3.0), method="bounded",
                                   options={"xatol": 1e-10})
    c = float(cp.saddle_scale_expr().subs(k, k_val))
    assert c == pytest.approx(res.x, abs=1e-7)


def test_saddle_scale_vanishes_for_k1():
    assert cp.saddle_scale_expr().subs(k, 1) == 0


@pytest.mark.parametrize("k_val", [1, 3, 8])
def test_hessian_eigenvalues_vs_own_finite_differences(loss_fn, k_val):
    rng = np.random.default_rng(k_val)
    dim = 4
    w_star = rng.standard_normal(dim)
    h = 2e-4
    hess = np.empty((dim, dim))
    eye = np.eye(dim)
    for i in range(dim):
        for j in range(dim):
            a, b = h * eye[i], h * eye[j]
            hess[i, j] = (_loss_vec(loss_fn, w_star + a + b, w_star, k_val)
                          - _loss_vec(loss_fn, w_star + a - b, w_star, k_val)
                          - _loss_vec(loss_fn, w_star - a + b, w_star, k_val)
                          + _loss_vec(loss_fn, w_star - a - b, w_star, k_val)) / (4 * h * h)
    eig = np.sort(np.linalg.eigvalsh(hess))
    lam_perp, lam_par = (float(e.subs(k, k_val)) for e in cp.hessian_eigenvalues_at_teacher())
    expected = np.sort([lam_perp] * (dim - 1) + [lam_par])
    # The loss is C^2 but not C^3 at w* (a |t|^3 term), so second differences carry an O(h) error (~2e-5 here).
    np.testing.assert_allclose(eig, expected, atol=2e-4)


@pytest.mark.parametrize("k_val", [2, 5])
def test_origin_is_local_max_numerically(loss_fn, k_val):
    rng = np.random.default_rng(0)
    w_star = np.array([0.3, -1.1, 0.5])
    l0 = loss_fn(0.0, np.linalg.norm(w_star), 0.0, k_val)  # at |w| = 0 the angle does not enter
    for v in [-w_star, w_star, *rng.standard_normal((30, 3))]:
        v = v / np.linalg.norm(v)
        assert _loss_vec(loss_fn, 1e-3 * v, w_star, k_val) < l0


def test_origin_not_strict_for_k1_opposite_direction():
    # For k = 1 the O(eps) coefficient vanishes at t = pi: the k >= 2 hypothesis is needed.
    coeff = cp.origin_leading_coefficient_expr().subs({k: 1, theta: sp.pi})
    assert sp.simplify(coeff) == 0


# ---- mutations ---------------------------------------------------------------------------------------------------


def test_mutation_wrong_saddle_scale_fails():
    wrong = (k**2 - k) / (k**2 + sp.pi * k)  # (pi - 1) replaced by pi
    check = cp.verify_saddle(wrong)
    assert not check.passed
    assert cp.verify_saddle(cp.saddle_scale_expr()).passed


def test_mutation_wrong_hessian_eigenvalues_fail():
    lam_perp, lam_par = cp.hessian_eigenvalues_at_teacher()
    assert not cp.verify_hessian_finite_difference(1 / k**2, lam_par).passed
    assert not cp.verify_hessian_finite_difference(lam_perp, 1 / k).passed  # dropped (k^2-k)/pi term


def test_mutation_loss_without_offdiagonal_term_fails_origin_max():
    # Without the (k^2-k)/(2 pi)(|w|-|w*|)^2 term the O(eps) coefficient vanishes at t = pi.
    wrong = loss_expr() - (k**2 - k) / (2 * sp.pi) * (nw - ns) ** 2 / k**2
    assert not cp.verify_origin_local_max(wrong).passed


def test_mutation_wrong_kernel_constant_fails_global_minimum():
    # Kernel with 1/pi instead of 1/(2 pi) in the cross term: l(w*) != 0 and the minimum moves.
    g = nw * ns * (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / (2 * sp.pi)
    wrong = loss_expr() - 2 * g / k  # cross term -2k g / k^2 doubled
    assert not cp.verify_global_minimum(wrong).passed
