"""theory.stability: which kept roots of the limit map are fixed points of RVSM, and which are linearly stable.

The record must be verified; every ``verify_*`` function must fail on a plausible wrong candidate (the mutation
tests): the frozen-(s, q) stability argument (no loss-Hessian coupling), a prox treated as the identity on kept
coordinates, the largest instead of the smaller root, the gap of the wrong branch.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theory import stability as stab
from theory.symbols import a, mu, ns, nw, theta


@pytest.fixture(scope="module")
def record():
    return stab.derive_kept_root_stability()


def test_record_is_verified(record):
    failed = [f"{c.description}: {c.detail}" for c in record.checks if not c.passed]
    assert record.verified, failed
    assert record.name == "kept_root_stability" and record.latex and record.statement
    methods = {c.method for c in record.checks}
    assert {"symbolic", "finite-difference", "brute-force", "numeric"} <= methods


def test_registered():
    from theory import registry

    assert registry.get("kept_root_stability") is stab.derive_kept_root_stability


def test_statement_values():
    kr = stab.kept_root_exprs()
    # the gap of the prox: 0 subcritically, sqrt(2 mu (a+1)) - a supercritically
    gap = sp.lambdify((mu, a), sp.Max(kr["u_tie"], 0))
    assert gap(0.1, 1.0) == 0.0
    assert gap(1.0, 1.0) == pytest.approx(2.0 - 1.0)
    h = stab.loss_hessian_exprs()
    assert sp.simplify(h["radial"] - ns * (k_sym() * sp.sin(theta) + k_sym() ** 2 - k_sym())
                       / (k_sym() ** 2 * sp.pi * nw)) == 0


def k_sym():
    from theory.symbols import k

    return k


def _stab_candidate(**changes):
    cand = dict(stab.stability_exprs())
    cand.update(changes)
    return cand


# ---------------------------------------------------------------------------------------------------------------
# Mutation tests
def test_frozen_sq_stability_is_reported():
    # the one-coordinate argument "the smaller root repels": no coupling through the loss Hessian
    frozen = _stab_candidate(radial=sp.Integer(0), transverse=sp.Integer(0))
    check = stab.verify_stability(frozen)
    assert not check.passed
    assert not stab.verify_loss_hessian(frozen).passed


def test_prox_as_identity_on_kept_coordinates_is_reported():
    assert not stab.verify_stability(_stab_candidate(prox_slope=sp.Integer(1))).passed
    assert not stab.verify_prox_slope(sp.Integer(1)).passed


def test_prox_slope_at_mu_bar_is_reported():
    kr = stab.kept_root_exprs()
    wrong = 1 / kr["X_prime"].subs(stab.mu_bar, 2 * mu)  # the slope at another parameter
    assert not stab.verify_prox_slope(wrong).passed


def test_transverse_sign_is_reported():
    h = stab.loss_hessian_exprs()
    assert not stab.verify_loss_hessian({"radial": h["radial_structured"],
                                         "transverse": -h["transverse_structured"]}).passed


def test_largest_root_instead_of_smaller_is_reported():
    p = a + stab.x
    phi = sp.acos(1 - 27 * stab.mu_bar * a * (a + 1) / (2 * p**3))
    largest = p / 3 * (1 + 2 * sp.cos(phi / 3)) - a
    assert not stab.verify_smaller_root(largest).passed
    third = p / 3 * (1 + 2 * sp.cos((phi + 2 * sp.pi) / 3)) - a  # the root with z <= 0
    assert not stab.verify_smaller_root(third).passed


def test_wrong_gap_is_reported():
    kr = stab.kept_root_exprs()
    assert not stab.verify_kept_roots_are_fixed_points(sp.Integer(0)).passed  # "every root is a fixed point"
    assert not stab.verify_kept_roots_are_fixed_points(sp.Max(kr["u_m"], 0)).passed  # W's minimum, not the tie


def test_nan_candidates_fail():
    assert not stab.verify_prox_slope(sp.nan).passed
    assert not stab.verify_smaller_root(sp.nan).passed
    assert not stab.verify_stability(_stab_candidate(prox_slope=sp.nan)).passed


def test_jacobian_matches_finite_differences_of_a_plain_step():
    # the example's limit: the candidate-built Jacobian equals central differences of one plain RVSM step
    ex = stab._EXAMPLE
    ws = np.asarray(ex["w_star"])
    w, _ = stab._empirical_rate(ws, ex["k"], ex["lam"], ex["beta"], ex["a"], ex["eta"], np.asarray(ex["w0"]), 400)
    from theory.fixed_points import _prox_tl1_np

    u = _prox_tl1_np(w, ex["lam"] / ex["beta"], ex["a"])
    jac = stab.rvsm_jacobian(stab.stability_exprs(), w, u, ws, ex["k"], ex["lam"], ex["beta"], ex["a"], ex["eta"])
    fd = stab._fd_jacobian(ws, ex["k"], ex["lam"], ex["beta"], ex["a"], ex["eta"], w)
    assert np.max(np.abs(jac - fd)) < 1e-7  # central differences at h = 1e-7: rounding ~1e-9
