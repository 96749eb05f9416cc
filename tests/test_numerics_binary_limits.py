"""numerics.binary_limits: the predicted limit of the normalized binary split iteration against the iteration itself.

The reference is a plain NumPy loop written here (w <- w - eta (g + beta (w - u)), w <- w/|w|, u <- prox(w)) with
the expected coarse gradient of numerics.binary (checked against Monte Carlo in test_numerics_binary.py). Also: the
behaviour without the normalization step (what actually happens), and mutation tests for every comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics import Problem, binary, penalties, predict_binary

K, D, B = 4, 10, 24
PENALTIES = {"l1": None, "l0": None, "tl1": 1.0}
TOL = 1e-8


def iterate(ws, k, pen, lam, beta, eta, w0, iters, ste="relu", normalize=True):
    """The split iteration with the expected coarse gradient, batched over rows; returns the last two (w, u)."""
    lam, beta = np.asarray(lam, dtype=float), np.asarray(beta, dtype=float)
    mu = lam / beta  # () or (B,): the prox's leading-axis rule
    beta = beta[..., None] if beta.ndim else beta
    w = w0 / np.linalg.norm(w0, axis=-1, keepdims=True) if normalize else w0.copy()
    u = pen.prox(w, mu)
    prev = (w, u)
    for _ in range(iters):
        prev = (w, u)
        w = w - eta * (binary.expected_coarse_grad(w, ws, k, ste) + beta * (w - u))
        if normalize:
            w = w / np.linalg.norm(w, axis=-1, keepdims=True)
        u = pen.prox(w, mu)
    return w, u, prev


def teachers(rng, n=B, d=D):
    ws = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.6)
    ws[:, 0] += np.where(ws[:, 0] >= 0, 1.0, -1.0)  # every teacher nonzero
    return ws


def max_error(u_sim, u_pred):
    return np.max(np.abs(np.asarray(u_sim) - np.asarray(u_pred)), axis=-1)


# ----------------------------------------------------------------------------------------------------------------------
# l1 and subcritical TL1: unique limit, reached from random starts
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ste", ["relu", "identity"])
@pytest.mark.parametrize("name", ["l1", "tl1"])
def test_limit_matches_normalized_iteration_from_random_starts(name, ste):
    rng = np.random.default_rng(11)
    ws = teachers(rng)
    a = PENALTIES[name]
    pen = penalties.get_penalty(name) if a is None else penalties.get_penalty(name, a=a)
    lam = np.where(np.arange(B) % 2 == 0, 0.01, 0.003)
    beta = np.where(np.arange(B) % 3 == 0, 1.0, 0.1)
    w, u, _ = iterate(ws, K, pen, lam, beta, 0.5, rng.standard_normal((B, D)), 3000, ste)
    p = predict_binary(Problem(ws, K, name, lam, beta, a=a), ste=ste)
    assert np.all(p.ok)
    assert np.all(p.residual < 1e-13)
    assert np.all(max_error(u, p.u) < TOL) and np.all(max_error(w, p.w) < TOL)
    assert not np.any(p.band)
    # u_bar = 0 wherever w* = 0 (no false positives) and |w_bar| = 1
    assert np.all(p.u[ws == 0] == 0)
    np.testing.assert_allclose(np.linalg.norm(p.w, axis=1), 1.0, rtol=0, atol=1e-13)


def test_l1_closed_form_and_error_bound():
    # u_bar = r' soft(e*, tau), tau = lam/c + lam/(beta r') (THEORY s.6, with e* = w*/|w*| for |w*| != 1)
    rng = np.random.default_rng(12)
    ws = 3.0 * teachers(rng)
    lam, beta = 0.01, 0.2
    p = predict_binary(Problem(ws, K, "l1", lam, beta))
    c = binary.coarse_coefficient(K)
    es = ws / np.linalg.norm(ws, axis=1, keepdims=True)
    tau = lam / c + lam / (beta * p.r)
    np.testing.assert_allclose(p.tau, tau, rtol=1e-13)
    soft = np.sign(es) * np.maximum(np.abs(es) - tau[:, None], 0)
    np.testing.assert_allclose(p.u, p.r[:, None] * soft, rtol=0, atol=1e-14)
    # error estimates: |u/r' - e*|_inf <= tau and |u/r' - e*|_2 <= tau sqrt(|supp e*|)
    err = p.u / p.r[:, None] - es
    assert np.all(np.max(np.abs(err), axis=1) <= tau * (1 + 1e-12))
    assert np.all(np.linalg.norm(err, axis=1) <= tau * np.sqrt(np.sum(es != 0, axis=1)) * (1 + 1e-12))


@pytest.mark.parametrize("mutation", ["tau_without_beta_term", "tau_lam_over_beta", "r_equal_one",
                                      "teacher_not_normalized"])
def test_l1_wrong_limit_is_rejected_by_the_simulation(mutation):
    rng = np.random.default_rng(13)
    ws = 2.0 * teachers(rng, n=6)
    lam, beta = 0.01, 0.3
    pen = penalties.get_penalty("l1")
    _, u, _ = iterate(ws, K, pen, lam, beta, 0.5, rng.standard_normal((6, D)), 3000)
    p = predict_binary(Problem(ws, K, "l1", lam, beta))
    assert np.all(max_error(u, p.u) < TOL)
    c = binary.coarse_coefficient(K)
    es = ws / np.linalg.norm(ws, axis=1, keepdims=True)
    r, tau = p.r[:, None], p.tau[:, None]
    wrong = {"tau_without_beta_term": r * np.sign(es) * np.maximum(np.abs(es) - lam / c, 0),
             "tau_lam_over_beta": r * np.sign(es) * np.maximum(np.abs(es) - lam / beta, 0),
             "r_equal_one": np.sign(es) * np.maximum(np.abs(es) - tau, 0),
             "teacher_not_normalized": r * np.sign(ws) * np.maximum(np.abs(ws) - tau, 0)}[mutation]
    assert np.all(max_error(u, wrong) > 1e-4)


# ----------------------------------------------------------------------------------------------------------------------
# l0 (and TL1 with a jump): bands of two fixed points; the reached support is predicted exactly
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,a", [("l0", None), ("tl1", 0.1)])
def test_band_penalties_reached_support_is_predicted(name, a):
    rng = np.random.default_rng(14)
    ws = teachers(rng)
    pen = penalties.get_penalty(name) if a is None else penalties.get_penalty(name, a=a)
    lam, beta = 0.003, 0.05
    _, u, _ = iterate(ws, K, pen, lam, beta, 2.0, rng.standard_normal((B, D)), 3000)
    sup = u != 0
    fp = np.any(sup & (ws == 0), axis=1)  # spurious limits kept off the support of w* (see the next test)
    assert np.mean(~fp) > 0.8
    p = predict_binary(Problem(ws[~fp], K, name, lam, beta, a=a), support=sup[~fp])
    assert np.all(p.ok)
    assert np.all(max_error(u[~fp], p.u) < TOL)
    # the band is real: random starts reach both branches somewhere, and band="keep" is a fixed point everywhere
    pk = predict_binary(Problem(ws, K, name, lam, beta, a=a))
    assert np.all(pk.ok) and np.any(pk.band)
    # mutation: the l0 zeroed-edge without the factor (1 + beta r'/c) would declare no band at all
    if name == "l0":
        gamma = np.sqrt(2 * lam / beta)
        es = np.abs(ws / np.linalg.norm(ws, axis=1, keepdims=True))
        r = pk.r[:, None]
        true_band = (r * es > gamma) & (r * es <= gamma * (1 + beta * r / binary.coarse_coefficient(K)))
        assert np.array_equal(true_band, pk.band)
        wrong_band = (r * es > gamma) & (r * es <= gamma)
        assert not np.array_equal(wrong_band, pk.band)


def test_l0_narrow_band_regime_unique_limit_from_random_starts():
    # with beta << c the band factor beta r'/c is small: random starts then reach the band="keep" prediction
    rng = np.random.default_rng(15)
    ws = teachers(rng)
    pen = penalties.get_penalty("l0")
    lam, beta = 1e-4, 0.002
    _, u, _ = iterate(ws, K, pen, lam, beta, 2.0, rng.standard_normal((B, D)), 3000)
    p = predict_binary(Problem(ws, K, "l0", lam, beta))
    band_rows = np.any(p.band, axis=1)
    assert np.all(p.ok)
    assert np.all(max_error(u[~band_rows], p.u[~band_rows]) < TOL)
    assert np.mean(band_rows) < 0.3


def test_l0_spurious_limit_off_the_support_exists():
    # a fixed point with u supported where w* = 0: nu = beta, every true coordinate zeroed (w_i = c e*_i/beta),
    # the rest of the unit norm on one coordinate j with e*_j = 0. It is a fixed point when c max|e*|/beta <= gamma.
    ws = np.array([1.0, -0.5, 0.0, 0.8, 0.0])
    es = ws / np.linalg.norm(ws)
    lam, beta = 0.005, 2.0
    c = binary.coarse_coefficient(K)
    gamma = np.sqrt(2 * lam / beta)
    assert c * np.max(np.abs(es)) / beta <= gamma
    w = c * es / beta
    w[2] = np.sqrt(1 - np.sum(w * w))
    pen = penalties.get_penalty("l0")
    w_end, u_end, _ = iterate(ws, K, pen, lam, beta, 0.5, w, 200)
    np.testing.assert_allclose(w_end, w, rtol=0, atol=1e-14)
    assert u_end[2] != 0 and np.all(u_end[es != 0] == 0)


# ----------------------------------------------------------------------------------------------------------------------
# No normalization: |w| shrinks but not to 0; the iteration ends on a 2-cycle
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ste", ["relu", "identity"])
def test_without_normalization_two_cycle(ste):
    # Observed and derived here: when u = 0 along the cycle, w <- (1 - eta beta) w - eta c (w/|w| - e*) has no fixed
    # point but the 2-cycle w = rho (cos(phi) e* +- sin(phi) v) with rho = eta c/(2 - eta beta),
    # cos(phi) = 1 - eta beta/2 (mirror images about e*); the iterates converge to it, not to 0.
    rng = np.random.default_rng(16)
    ws = teachers(rng, n=8)
    es = ws / np.linalg.norm(ws, axis=1, keepdims=True)
    lam, beta, eta = 0.01, 0.1, 0.5
    c = binary.coarse_coefficient(K, ste)
    pen = penalties.get_penalty("l1")
    w, u, (w_prev, _) = iterate(ws, K, pen, lam, beta, eta, rng.standard_normal((8, D)), 4000, ste,
                                normalize=False)
    rho = eta * c / (2 - eta * beta)
    assert np.all(u == 0)  # the sparse variable collapses to 0 ...
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), rho, rtol=1e-9)  # ... but |w| does not
    cos = np.sum(w * es, axis=1) / np.linalg.norm(w, axis=1)
    np.testing.assert_allclose(cos, 1 - eta * beta / 2, rtol=1e-9)
    assert np.all(np.linalg.norm(w - w_prev, axis=1) > 1e-3 * rho)  # oscillates: not a fixed point
    w2, _, _ = iterate(ws, K, pen, lam, beta, eta, w, 2, ste, normalize=False)
    np.testing.assert_allclose(w2, w, rtol=0, atol=1e-12 * rho)  # period 2
    # mutation: the claim "w -> 0" is rejected by the same run
    assert np.all(np.linalg.norm(w, axis=1) > 1e-3)


def test_without_normalization_norm_shrinks():
    # the norm equation of the unnormalized fixed point, sum_kept (e*_i - (lam/c) sign)^2 + sum_zeroed (...) = 1,
    # has no solution with lam > 0: every kept term is below e*_i^2 and every zeroed term below e*_i^2
    rng = np.random.default_rng(17)
    ws = teachers(rng, n=8)
    pen = penalties.get_penalty("l1")
    w, _, _ = iterate(ws, K, pen, 0.01, 1.0, 0.1, rng.standard_normal((8, D)), 6000, normalize=False)
    assert np.all(np.linalg.norm(w, axis=1) < 0.1)  # |w| shrinks far below its start |w0| ~ sqrt(D)


def test_validation():
    with pytest.raises(ValueError, match="ste"):
        predict_binary(Problem(np.ones(3), 2, "l1", 0.1, 1.0), ste="sign")
    # lam and beta are checked when the problem is built
    with pytest.raises(ValueError, match="lam"):
        Problem(np.ones(3), 2, "l1", -0.1, 1.0)
    with pytest.raises(ValueError, match="beta"):
        Problem(np.ones(3), 2, "l1", 0.1, 0.0)
    with pytest.raises(ValueError, match="tol"):
        predict_binary(Problem(np.ones(3), 2, "l1", 0.1, 1.0), tol=0.0)
    with pytest.raises(ValueError, match="support"):
        predict_binary(Problem(np.array([1.0, 0.0]), 2, "l1", 0.1, 1.0), support=np.array([True, True]))
    with pytest.raises(ValueError, match="band"):
        predict_binary(Problem(np.ones(3), 2, "l1", 0.1, 1.0), band="both")


def test_all_zeroed_limit():
    # lam large: every coordinate zeroed, w_bar = e*, u_bar = 0 (also when c <= beta)
    ws = np.array([1.0, -1.0, 0.5])
    for beta in (0.01, 1.0):
        p = predict_binary(Problem(ws, K, "l1", 2.0 * beta, beta))
        assert p.ok
        np.testing.assert_allclose(p.w, ws / np.linalg.norm(ws), rtol=1e-15)
        assert np.all(p.u == 0)
        _, u, _ = iterate(ws, K, penalties.get_penalty("l1"), 2.0 * beta, beta, 0.5, np.array([0.3, 1.0, -2.0]), 2000)
        assert np.all(u == 0)
