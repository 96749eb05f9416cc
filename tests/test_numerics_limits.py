"""Tests of numerics.predict (numerics.limits) against independent references.

The reference is a plain-NumPy RVSM iteration written here, with the closed-form population gradient coded here from
theory page section 2 (angle by arctan2 of the perpendicular part, not the code under test) and the prox of
numerics.penalties (tested on its own against brute force). Its limit must be a fixed point that predict reproduces.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import numerics.limits as limits
from numerics import LimitPrediction, Problem, predict
from numerics.penalties import get_penalty

K, BETA, ETA = 4, 0.1, 1.0  # eta < 2/(L + beta) with L ~ (k + (k^2-k)/pi)/k^2 ~ 0.49 near w*


def grad_ref(w: np.ndarray, ws: np.ndarray, k: int) -> np.ndarray:
    """theory page section 2: grad l = (1/k^2)[A w - k (pi - t)/pi w*], A = k + (k^2-k)/pi - k|w*| sin t/(pi|w|)
    - (k^2-k)|w*|/(pi|w|)."""
    wn = np.linalg.norm(w, axis=-1, keepdims=True)
    sn = np.linalg.norm(ws, axis=-1, keepdims=True)
    dot = np.sum(w * ws, axis=-1, keepdims=True)
    perp = w - dot / sn**2 * ws
    t = np.arctan2(np.linalg.norm(perp, axis=-1, keepdims=True) * sn, dot)
    a = k + (k * k - k) / math.pi - k * sn * np.sin(t) / (math.pi * wn) - (k * k - k) * sn / (math.pi * wn)
    return (a * w - k * (math.pi - t) / math.pi * ws) / k**2


def rvsm_ref(ws, k, pen, lam, beta, eta, w0, iters):
    """u0 = prox(w0); w <- w - eta (grad l(w) + beta (w - u)); u <- prox(w). Returns w, u and the last step size."""
    mu = lam / beta
    w = np.array(w0, dtype=float)
    u = pen.prox(w, mu)
    step = np.inf
    for _ in range(iters):
        w_new = w - eta * (grad_ref(w, ws, k) + beta * (w - u))
        u = pen.prox(w_new, mu)
        step = np.max(np.abs(w_new - w))
        w = w_new
    return w, u, step


def teachers(rng, n, d):
    """Coordinates 0, +-0.01 (far below every threshold here) or +-U(0.6, 1.5) (far above): outside every band."""
    kind = rng.integers(0, 3, size=(n, d))
    big = rng.uniform(0.6, 1.5, size=(n, d))
    ws = np.where(kind == 0, 0.0, np.where(kind == 1, 0.01, big)) * rng.choice([-1.0, 1.0], size=(n, d))
    ws[:, 0] = 1.0  # nonzero teacher
    return ws


CASES = [  # (name, a, lam): TL1 a = 1 has mu = 0.01 <= a^2/(2(a+1)) = 0.25 (subcritical), a = 0.1 has
    ("l1", None, 1e-2),  # mu = 0.01 > 0.0045 (supercritical, the prox jumps)
    ("l0", None, 1e-3),
    ("tl1", 1.0, 1e-3),
    ("tl1", 0.1, 1e-3),
]


def _pen(name, a):
    return get_penalty(name) if a is None else get_penalty(name, a=a)


@pytest.mark.parametrize(("name", "a", "lam"), CASES, ids=["l1", "l0", "tl1-sub", "tl1-super"])
def test_matches_simulated_limit_outside_band(name, a, lam):
    if name == "tl1":
        sub = lam / BETA <= a * a / (2 * (a + 1))
        assert sub == (a == 1.0)  # the two TL1 cases are in the two regimes
    rng = np.random.default_rng(1)
    ws = teachers(rng, 12, 8)
    w0 = ws + 0.05 * rng.normal(size=ws.shape)
    w, u, step = rvsm_ref(ws, K, _pen(name, a), lam, BETA, ETA, w0, 2500)
    assert step < 1e-14  # the simulation has converged
    p = predict(Problem(ws, K, name, lam, BETA, a=a))
    assert isinstance(p, LimitPrediction)
    assert not p.band.any() and p.ok.all()
    assert np.array_equal(p.support, u != 0)
    # observed ~1e-15; 1e-10 is far below any modelling error (e.g. the mutation below misses by ~1e-3)
    assert np.max(np.abs(p.w - w)) < 1e-10
    assert np.max(np.abs(p.u - u)) < 1e-10


def test_mutated_mu_bar_disagrees_with_simulation(monkeypatch):
    rng = np.random.default_rng(1)
    ws = teachers(rng, 6, 8)
    _, u, _ = rvsm_ref(ws, K, get_penalty("l1"), 1e-2, BETA, ETA, ws, 2500)
    assert np.max(np.abs(predict(Problem(ws, K, "l1", 1e-2, BETA)).u - u)) < 1e-10
    monkeypatch.setattr(limits, "_mu_bar", lambda lam, beta, q: lam / beta)  # the 1/q term dropped
    bad = predict(Problem(ws, K, "l1", 1e-2, BETA))
    assert np.max(np.abs(bad.u - u)) > 1e-3


def test_l0_band_two_starts_reach_the_two_candidates():
    lam = 1e-3  # gamma = sqrt(2 lam/beta) = 0.141; band r|w*_i| in (gamma, gamma (1 + beta/q)] ~ (0.141, 0.198]
    ws1 = np.array([1.0, -0.8, 0.5, 0.17, 0.0, 0.01])
    ws = np.stack([ws1, ws1])
    w0 = ws.copy()
    w0[1, 3] = 0.0  # second start: the band coordinate starts (and stays) below the threshold
    w, u, step = rvsm_ref(ws, K, get_penalty("l0"), lam, BETA, ETA, w0, 2500)
    assert step < 1e-14
    supp = u != 0
    assert supp[0, 3] and not supp[1, 3] and np.array_equal(supp[0, [0, 1, 2, 4, 5]], supp[1, [0, 1, 2, 4, 5]])
    p = predict(Problem(ws, K, "l0", lam, BETA), support=supp)
    assert p.ok.all()
    assert np.max(np.abs(p.w - w)) < 1e-10 and np.max(np.abs(p.u - u)) < 1e-10
    one = Problem(ws1, K, "l0", lam, BETA)
    keep, zero = predict(one), predict(one, band="zero")
    assert keep.band[3] and zero.band[3] and keep.band.sum() == 1
    assert np.max(np.abs(keep.w - w[0])) < 1e-10 and np.max(np.abs(zero.w - w[1])) < 1e-10
    assert abs(np.max(np.abs(keep.w - zero.w))) > 1e-3  # two genuinely different fixed points
    # both candidates of the band coordinate are reported; the kept one is the simulated kept value
    assert abs(keep.u_kept[3] - u[0, 3]) < 1e-10 and keep.u_zeroed[3] == 0.0
    assert abs(keep.w_zeroed[3] - keep.s * ws1[3] / (keep.q + BETA)) < 1e-15


def test_inconsistent_support_is_reported():
    ws1 = np.array([1.0, -0.8, 0.5, 0.0])
    # the support drops a large coordinate
    p = predict(Problem(ws1, K, "l0", 1e-3, BETA), support=np.array([True, False, True, False]))
    assert p.converged and not p.consistent[1] and not p.ok
    assert p.residual > 1e-3


def _fixed_point_residual(p, ws, pen, lam, beta, k):
    g = grad_ref(p.w, ws, k) + beta * (p.w - p.u)
    return np.max(np.abs(g)), np.max(np.abs(pen.prox(p.w, lam / beta) - p.u))


@pytest.mark.parametrize(("name", "a", "lam"), CASES, ids=["l1", "l0", "tl1-sub", "tl1-super"])
def test_prediction_solves_fixed_point_equations(name, a, lam, monkeypatch):
    rng = np.random.default_rng(2)
    ws = rng.normal(size=(200, 20)) * (rng.random((200, 20)) < 0.6)
    ws[:, 0] = 1.0
    p = predict(Problem(ws, 10, name, lam, BETA, a=a))
    assert p.ok.all()
    rg, rp = _fixed_point_residual(p, ws, _pen(name, a), lam, BETA, 10)
    # |w*| up to ~3.5 and coefficients ~1: a few ulp of 3.5 is ~1e-15; observed <= 2e-14
    assert rg < 5e-14 and rp < 5e-14
    monkeypatch.setattr(limits, "_mu_bar", lambda lam, beta, q: lam / beta)
    # w is built from u through the gradient equation, so the mutation shows up in u = prox(w)
    bad = predict(Problem(ws, 10, name, lam, BETA, a=a))
    _, rp_bad = _fixed_point_residual(bad, ws, _pen(name, a), lam, BETA, 10)
    if name != "l0":  # l0's kept branch does not depend on mu_bar (shrink is the identity)
        assert rp_bad > 1e-6


@pytest.mark.parametrize("a", [1.0, 0.1])
def test_tl1_kept_value_is_largest_root_of_stationarity(a):
    rng = np.random.default_rng(3)
    ws = rng.normal(size=(50, 10))
    lam = 1e-3
    p = predict(Problem(ws, K, "tl1", lam, BETA, a=a))
    assert p.ok.all()

    def stationarity(u, x, mu):  # u + mu rho_a'(|u|) sign u - x, rho_a' coded here
        return u + mu * np.sign(u) * a * (a + 1) / (a + np.abs(u)) ** 2 - x

    x = p.r[:, None] * ws
    kept = p.support
    mb = np.broadcast_to(p.mu_bar[:, None], ws.shape)
    assert np.max(np.abs(stationarity(p.u, x, mb)[kept]) / (np.abs(x[kept]) + 1)) < 1e-14
    # a wrong parameter (mu = lam/beta instead of mu_bar) in the same check fails
    assert np.max(np.abs(stationarity(p.u, x, lam / BETA)[kept])) > 1e-4
    # largest root z of z^3 - (a + |x|) z^2 + mu_bar a (a+1) = 0, |u| = z - a
    for i, j in zip(*np.nonzero(kept), strict=True):
        roots = np.roots([1.0, -(a + abs(x[i, j])), 0.0, p.mu_bar[i] * a * (a + 1)])
        z = np.max(roots[np.abs(roots.imag) < 1e-9].real)
        assert abs(abs(p.u[i, j]) - (z - a)) < 1e-12 * (1 + z)


def _slope(lams, errs):
    return np.polyfit(np.log(lams), np.log(errs), 1)[0]


@pytest.mark.parametrize(("name", "a"), [("l1", None), ("tl1", 1.0)])
def test_small_lambda_is_first_order(name, a):
    ws = np.array([1.0, -0.7, 0.45, 0.9, -0.3, 0.6])
    lams = 1e-3 * 10.0 ** (-np.arange(7) / 2)
    eu, es, eq = [], [], []
    for lam in lams:
        p = predict(Problem(ws, K, name, lam, BETA, a=a))
        assert p.ok
        eu.append(np.max(np.abs(p.u - ws)))
        es.append(abs(K * p.s - 1))
        eq.append(abs(K * p.q - 1))
    for e in (eu, es, eq):
        assert 0.95 < _slope(lams, e) < 1.05
    # the same slope check rejects an O(sqrt(lam)) error
    assert not 0.95 < _slope(lams, np.sqrt(lams)) < 1.05


def test_small_lambda_l0_all_kept_is_exact():
    ws = np.array([1.0, -0.7, 0.45, 0.0])
    for lam in (1e-4, 1e-6):
        p = predict(Problem(ws, K, "l0", lam, BETA))
        assert p.ok and np.max(np.abs(p.u - ws)) < 1e-15 and abs(K * p.s - 1) < 1e-15


@pytest.mark.parametrize(("name", "a"), [("l1", None), ("l0", None), ("tl1", 1.0), ("tl1", 0.1)])
def test_no_false_positives(name, a):
    rng = np.random.default_rng(4)
    ws = rng.normal(size=(300, 12)) * (rng.random((300, 12)) < 0.5)
    ws[:, 0] = 1.0
    for lam in (1e-3, 1e-2, 5e-2):
        p = predict(Problem(ws, 10, name, lam, BETA, a=a))
        ok = p.ok
        assert ok.mean() > 0.99
        zero = ws == 0
        assert np.all(p.u[zero] == 0) and np.all(p.w[zero] == 0) and not p.support[zero].any()
        assert np.all(p.w[ok][~zero[ok]] != 0)


def test_lambda_zero_gives_teacher():
    rng = np.random.default_rng(5)
    ws = rng.normal(size=(5, 7))
    for name, a in (("l1", None), ("l0", None), ("tl1", 0.5)):
        p = predict(Problem(ws, 6, name, 0.0, BETA, a=a))
        assert p.ok.all()
        assert np.max(np.abs(p.w - ws)) < 1e-15 and np.max(np.abs(p.u - ws)) < 1e-15
        assert np.max(np.abs(p.s - 1 / 6)) < 1e-16 and np.max(np.abs(p.q - 1 / 6)) < 1e-16


def test_l1_never_has_a_band():
    rng = np.random.default_rng(6)
    ws = rng.normal(size=(500, 10)) * 0.2
    ws[:, 0] = 1.0
    p = predict(Problem(ws, K, "l1", 1e-2, BETA))
    assert p.ok.all() and not p.band.any()
    assert np.array_equal(np.isnan(p.u_kept), ~p.support)  # the kept candidate exists exactly on the support


def test_scipy_fallback_agrees_with_newton(monkeypatch):
    rng = np.random.default_rng(7)
    ws = rng.normal(size=(8, 6))
    ref = predict(Problem(ws, K, "tl1", 1e-3, BETA, a=0.1))
    monkeypatch.setattr(limits, "_NEWTON_MAXITER", 0)
    fb = predict(Problem(ws, K, "tl1", 1e-3, BETA, a=0.1))
    assert fb.converged.all()
    assert np.max(np.abs(fb.w - ref.w)) < 1e-13


def test_batch_parameters_and_shapes():
    rng = np.random.default_rng(8)
    ws = rng.normal(size=(3, 5))
    lam, beta = np.array([1e-3, 1e-2, 0.0]), np.array([0.1, 1.0, 0.5])
    p = predict(Problem(ws, K, "l1", lam, beta))
    assert p.w.shape == (3, 5) and p.s.shape == (3,) and p.residual.shape == (3,)
    for i in range(3):
        pi = predict(Problem(ws[i], K, "l1", float(lam[i]), float(beta[i])))
        assert pi.w.shape == (5,) and pi.s.shape == ()
        assert np.max(np.abs(pi.w - p.w[i])) < 1e-15
    assert np.allclose(p.mu_bar, lam * (1 / beta + 1 / p.q), rtol=1e-15)


def test_other_backends_are_converted_to_numpy(backend):
    rng = np.random.default_rng(9)
    ws = rng.normal(size=(4, 6))
    ref = predict(Problem(ws, K, "tl1", 1e-3, BETA, a=1.0))
    p = predict(Problem(backend.asarray(ws), K, "tl1", backend.asarray(np.full(4, 1e-3)), BETA, a=1.0))
    assert isinstance(p.w, np.ndarray) and p.w.dtype == np.float64
    assert np.array_equal(p.w, ref.w) and np.array_equal(p.u, ref.u)


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"lam": -1e-3}, "lam"),
    ({"lam": np.array([1e-3, np.nan])}, "lam"),
    ({"beta": 0.0}, "beta"),
    ({"beta": -1.0}, "beta"),
    ({"k": 0}, "k"),
    ({"k": 2.5}, "k"),
    ({"w_star": np.zeros((2, 3))}, "w_star"),
    ({"w_star": np.array([[1.0, np.inf, 0.0], [1.0, 1.0, 1.0]])}, "w_star"),
    ({"lam": np.array([1e-3, 1e-3, 1e-3])}, "lam"),
    ({"beta": np.ones((2, 3))}, "beta"),
    ({"penalty": "l2"}, "penalty"),
    ({"penalty": "tl1"}, "a"),
    ({"penalty": "tl1", "a": -1.0}, "a"),
    ({"penalty": get_penalty("l1"), "a": 1.0}, "a"),
])
def test_problem_validation_errors_name_the_parameter(kwargs, param):
    # the problem's own parameters are checked when it is built, before any prediction
    args = {"w_star": np.array([[1.0, 0.5, 0.0], [0.3, -1.0, 0.0]]), "k": K, "penalty": "l1", "lam": 1e-3,
            "beta": BETA}
    args.update(kwargs)
    with pytest.raises(ValueError, match=param):
        Problem(args.pop("w_star"), args.pop("k"), args.pop("penalty"), args.pop("lam"), args.pop("beta"), **args)


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"band": "both"}, "band"),
    ({"tol": 0.0}, "tol"),
    ({"support": np.ones((2, 4), dtype=bool)}, "support"),
    ({"support": np.ones((2, 3))}, "support"),
    ({"support": np.array([True, True, True])}, "support"),  # True where w* = 0
])
def test_validation_errors_name_the_parameter(kwargs, param):
    problem = Problem(np.array([[1.0, 0.5, 0.0], [0.3, -1.0, 0.0]]), K, "l1", 1e-3, BETA)
    with pytest.raises(ValueError, match=param):
        predict(problem, **kwargs)


def test_distances_take_the_nearer_branch_in_the_band_only():
    """``LimitPrediction.distances``: zero at the prediction; on a band coordinate either fixed point (kept or zeroed)
    is at distance 0 and a point between them is at the distance to the nearer; off the band the zeroed branch is
    not accepted."""
    import numerics as nm

    ws = np.array([[1.0, 0.3, -0.6]])
    pred = nm.predict(nm.Problem(ws, 4, "l0", 0.05, 0.2))
    band = np.asarray(pred.band, dtype=bool)[0]
    assert band.any() and not band.all()  # an instance with a band coordinate and one outside it
    du, dw = pred.distances(pred.w, pred.u)
    assert du[0] == 0 and dw[0] == 0
    i = int(np.flatnonzero(band)[0])
    u, w = np.array(pred.u, dtype=float), np.array(pred.w, dtype=float)
    u[0, i], w[0, i] = pred.u_zeroed[0, i], pred.w_zeroed[0, i]
    assert pred.distances(w, u)[0][0] == 0 and pred.distances(w, u)[1][0] == 0
    mid = 0.25 * pred.u_kept[0, i] + 0.75 * pred.u_zeroed[0, i]
    u[0, i] = mid
    expect = min(abs(mid - pred.u_kept[0, i]), abs(mid - pred.u_zeroed[0, i]))
    np.testing.assert_allclose(pred.distances(w, u)[0][0], expect, rtol=1e-15)
    j = int(np.flatnonzero(~band)[0])  # off the band only the unique prediction counts
    u2 = np.array(pred.u, dtype=float)
    u2[0, j] = 0.0
    assert pred.distances(pred.w, u2)[0][0] == abs(pred.u[0, j])
