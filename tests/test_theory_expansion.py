"""theory.expansion: the first-order small-lambda expansion of the l1 RVSM limit.

The exact limit used as reference is checked here once more against an independent plain-NumPy RVSM (gradient and
soft threshold typed from the theory page); the expansion must leave a remainder of order lam^2, and the naive expansion
(r'(0) = 0) must be reported as failed by the same verification.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theory import expansion as ex
from theory import fixed_points as fp
from theory.symbols import k, ns


def _grad(w, w_star, k_):
    n, ns_ = np.linalg.norm(w), np.linalg.norm(w_star)
    e = w_star / ns_
    par = w @ e
    t = np.arctan2(np.linalg.norm(w - par * e), par)
    A = k_ + (k_ * k_ - k_) / np.pi - k_ * ns_ * np.sin(t) / (np.pi * n) - (k_ * k_ - k_) * ns_ / (np.pi * n)
    return (A * w - k_ * (np.pi - t) / np.pi * w_star) / k_**2


def _rvsm_l1(w_star, k_, lam, beta, eta, max_iter=50_000):
    w = np.array(w_star, dtype=float)
    u = np.sign(w) * np.maximum(np.abs(w) - lam / beta, 0)
    for _ in range(max_iter):
        w_new = w - eta * (_grad(w, w_star, k_) + beta * (w - u))
        u = np.sign(w_new) * np.maximum(np.abs(w_new) - lam / beta, 0)
        done = np.linalg.norm(w_new - w) <= 4e-16 * np.linalg.norm(w_new)
        w = w_new
        if done:
            break
    return u


@pytest.fixture(scope="module")
def record():
    return ex.derive_small_lambda_expansion()


def test_derivation_is_verified(record):
    assert record.name == "small_lambda_expansion"
    assert record.verified, [f"{c.description}: {c.detail}" for c in record.checks if not c.passed]
    assert {"s1", "q1", "r1"} <= set(record.statement)


def test_registry_name_resolves():
    from theory import registry

    assert registry.get("small_lambda_expansion") is ex.derive_small_lambda_expansion


def test_expansion_against_independent_rvsm():
    # |u(lam) - (w* + lam v)| / lam^2 stays bounded while |u(lam) - w*| / lam does not vanish
    w_star = np.array([0.8, 0.0, -0.6, 0.3, 1.1])
    k_, beta = 3, 2.0
    v = ex.first_order_direction(w_star, k_, beta)
    ratios1, ratios2 = [], []
    for lam in (4e-3, 1e-3, 2.5e-4):
        u = _rvsm_l1(w_star, k_, lam, beta, eta=0.3)
        ratios1.append(np.linalg.norm(u - w_star) / lam)
        ratios2.append(np.linalg.norm(u - w_star - lam * v) / lam**2)
    assert min(ratios1) > 1.0
    # second-order remainder: lam^-2 |remainder| converges (consecutive ratios agree to a few percent)
    assert abs(ratios2[2] / ratios2[1] - 1) < 0.05 and abs(ratios2[1] / ratios2[0] - 1) < 0.2
    # the naive direction leaves a first-order error
    vn = ex.naive_first_order_direction(w_star, k_, beta)
    u = _rvsm_l1(w_star, k_, 2.5e-4, beta, eta=0.3)
    assert np.linalg.norm(u - w_star - 2.5e-4 * vn) / 2.5e-4 > 0.1 * ratios1[-1]


def test_r1_closed_form_and_independence_of_the_orthogonal_part():
    d = ex.expansion_derivatives_exprs()
    assert sp.simplify(d["r1"] - k * (k - 1) * ex.L1 / (ns**2 * (sp.pi + k - 1))) == 0
    assert not d["r1"].has(ex.p_perp)
    assert sp.simplify(d["q1"] - (d["s1"] - d["r1"] / k)) == 0
    assert d["r1"].subs(k, 1) == 0  # one patch: the naive expansion is exact to first order


def test_naive_expansion_is_reported_as_failed():
    check = ex.verify_first_order_direction(ex.naive_first_order_direction)
    assert not check.passed
    assert "slope remainder = 1.0" in check.detail  # the remainder is only first order


def test_wrong_r1_sign_is_reported_as_failed():
    def flipped(w_star, k_, beta):
        v = ex.first_order_direction(w_star, k_, beta)
        vn = ex.naive_first_order_direction(w_star, k_, beta)
        return vn - (v - vn)  # -r'(0) w* instead of +r'(0) w*

    assert not ex.verify_first_order_direction(flipped).passed


def test_first_order_direction_vs_exact_solver_and_support():
    w_star = np.array([0.0, 1.0, -2.0, 0.0])
    v = ex.first_order_direction(w_star, 5, 1.0)
    assert v[0] == 0 and v[3] == 0
    lam = 1e-6
    u = fp.predicted_limit(w_star, 5, "l1", lam, 1.0)["u"]
    np.testing.assert_allclose((u - w_star) / lam, v, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("args", "param"),
    [(([0.0, 0.0], 2, 1.0), "w_star"), (([1.0], 0, 1.0), "k"), (([1.0], 2, -1.0), "beta"),
     (([np.nan], 2, 1.0), "w_star")],
)
def test_first_order_direction_rejects_bad_input(args, param):
    with pytest.raises(ValueError, match=rf"^{param}\b"):
        ex.first_order_direction(*args)
