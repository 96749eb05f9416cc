"""theory.fixed_points: the RVSM fixed-point equations and the l1 / l0 / TL1 limit maps.

The reference here is an independent plain-NumPy RVSM written in this file (gradient and proxes typed from their
closed forms in theory page sections 2-3, the TL1 prox in its trigonometric form), iterated to convergence; the derived
map's two-parameter fixed point must match it to 1e-10. Mutation tests feed wrong formulas through the module's own
verification functions and assert they are reported as failed.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theory import fixed_points as fp
from theory import thresholding

# ---------------------------------------------------------------------------------------------------------------
# An independent RVSM in plain NumPy.


def _grad(w, w_star, k):
    n, ns = np.linalg.norm(w), np.linalg.norm(w_star)
    e = w_star / ns
    par = w @ e
    t = np.arctan2(np.linalg.norm(w - par * e), par)
    A = k + (k * k - k) / np.pi - k * ns * np.sin(t) / (np.pi * n) - (k * k - k) * ns / (np.pi * n)
    return (A * w - k * (np.pi - t) / np.pi * w_star) / k**2


def _soft(x, mu):
    return np.sign(x) * np.maximum(np.abs(x) - mu, 0.0)


def _hard(x, mu):
    return np.where(np.abs(x) > np.sqrt(2 * mu), x, 0.0)  # tie |x| = sqrt(2 mu) -> 0


def _tl1(x, mu, a):
    ax = np.abs(x)
    thr = mu * (a + 1) / a if mu <= a * a / (2 * (a + 1)) else np.sqrt(2 * mu * (a + 1)) - a / 2
    phi = np.arccos(np.clip(1 - 27 * mu * a * (a + 1) / (2 * (a + ax) ** 3), -1.0, 1.0))
    g = np.sign(x) * (2.0 / 3.0 * (a + ax) * np.cos(phi / 3) - 2 * a / 3 + ax / 3)
    return np.where(ax > thr, g, 0.0)


def _rvsm(w_star, k, penalty, lam, beta, w0, *, eta, a=None, max_iter=50_000):
    mu = lam / beta
    prox = {"l1": lambda v: _soft(v, mu), "l0": lambda v: _hard(v, mu), "tl1": lambda v: _tl1(v, mu, a)}[penalty]
    w = np.array(w0, dtype=float)
    u = prox(w)
    for _ in range(max_iter):
        w_new = w - eta * (_grad(w, w_star, k) + beta * (w - u))
        u = prox(w_new)
        done = np.linalg.norm(w_new - w) <= 4e-16 * np.linalg.norm(w_new)
        w = w_new
        if done:
            break
    return w, u


# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def records():
    return {name: getattr(fp, f"derive_{name}")()
            for name in ("fixed_point_equations", "limit_map_l1", "limit_map_l0", "limit_map_tl1")}


@pytest.mark.parametrize("name", ["fixed_point_equations", "limit_map_l1", "limit_map_l0", "limit_map_tl1"])
def test_derivation_is_verified(records, name):
    der = records[name]
    assert der.name == name
    failed = [f"{c.description}: {c.detail}" for c in der.checks if not c.passed]
    assert der.verified, failed
    assert len(der.checks) >= 3
    assert der.latex and der.statement


def test_registry_names_resolve():
    from theory import registry

    for name in ("fixed_point_equations", "limit_map_l1", "limit_map_l0", "limit_map_tl1"):
        assert registry.get(name) is getattr(fp, f"derive_{name}")


# ---------------------------------------------------------------------------------------------------------------
# The derived map vs the independent RVSM.
L1_CASE = dict(w_star=[0.9, -0.4, 0.0, 0.7, 0.12, -1.1], k=4, lam=0.03, beta=0.8)


def test_l1_map_matches_independent_rvsm():
    c = L1_CASE
    ws = np.array(c["w_star"])
    pred = fp.predicted_limit(ws, c["k"], "l1", c["lam"], c["beta"])
    assert pred["consistent"]
    for w0 in (ws, np.array([0.2, 0.3, -0.5, -0.1, 0.4, 0.2])):
        w, u = _rvsm(ws, c["k"], "l1", c["lam"], c["beta"], w0, eta=0.6)
        np.testing.assert_allclose(u, pred["u"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(w, pred["w"], rtol=0, atol=1e-10)
    # the closed form of the map at the solved (s, q): soft threshold of r w* at mu_bar
    r, mu_bar = pred["s"] / pred["q"], c["lam"] * (1 / c["beta"] + 1 / pred["q"])
    np.testing.assert_allclose(pred["u"], _soft(r * ws, mu_bar), rtol=0, atol=1e-14)
    assert pred["u"][2] == 0 and pred["w"][2] == 0  # no false positive off the support
    assert pred["u"][4] == 0 and pred["w"][4] != 0  # thresholded coordinate: w_bar != 0 where w* != 0


def test_l0_band_two_starts_give_the_two_candidates():
    # gamma = 0.1, q ~ 1/2, beta = 1: band in r|w*_i| is (0.1, ~0.3]; coordinate 3 (0.15) is in it.
    ws = np.array([1.0, -0.8, 0.6, 0.15, -0.05, 0.0])
    k, lam, beta = 2, 0.005, 1.0
    results = {}
    for label, w0 in (("kept", ws), ("zeroed", np.where(np.arange(6) == 3, 0.0, ws))):
        w, u = _rvsm(ws, k, "l0", lam, beta, w0, eta=0.5)
        pred = fp.predicted_limit(ws, k, "l0", lam, beta, prefer_kept=(label == "kept"))
        assert pred["consistent"]
        np.testing.assert_allclose(u, pred["u"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(w, pred["w"], rtol=0, atol=1e-10)
        lo, hi = (float(e.subs({fp.s: pred["s"], fp.q: pred["q"], fp.lam: lam, fp.beta: beta}))
                  for e in fp.l0_band_edges_exprs())
        rx = pred["s"] / pred["q"] * abs(ws[3])
        assert lo < rx <= hi  # inside the band at this limit
        results[label] = u
    assert results["kept"][3] != 0 and results["zeroed"][3] == 0
    assert np.all((results["kept"] != 0) == np.array([1, 1, 1, 1, 0, 0], dtype=bool))


def test_tl1_band_two_starts_and_kept_equation():
    ws = np.array([1.0, -0.7, 0.5, 0.3, -0.15, 0.0])
    k, lam, beta, a = 3, 0.01, 1.0, 0.1  # supercritical prox: mu = 0.01 > a^2/(2(a+1))
    kept_eq = sp.lambdify((fp.u_i, fp.w_star_i, fp.s, fp.q, fp.lam, fp.beta, fp.a), fp.tl1_kept_equation())
    outcomes = []
    for prefer, w0 in ((True, ws), (False, np.where(np.arange(6) == 3, 0.0, ws))):
        w, u = _rvsm(ws, k, "tl1", lam, beta, w0, eta=0.5, a=a)
        pred = fp.predicted_limit(ws, k, "tl1", lam, beta, a=a, prefer_kept=prefer)
        assert pred["consistent"]
        np.testing.assert_allclose(u, pred["u"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(w, pred["w"], rtol=0, atol=1e-10)
        kept = u != 0
        # the RVSM limit's kept coordinates satisfy u + mu_bar rho'(u) = r w*_i at its own (s, q)
        res = kept_eq(u[kept], ws[kept], pred["s"], pred["q"], lam, beta, a)
        assert np.max(np.abs(res)) < 1e-12
        # ... and u is the TL1 shrink (largest stationary root) of r|w*_i| at parameter mu_bar (thresholding module)
        mu_bar = lam * (1 / beta + 1 / pred["q"])
        shrink = sp.lambdify((thresholding.x, thresholding.mu, thresholding.a), thresholding.tl1_shrink_expr())
        np.testing.assert_allclose(np.abs(u[kept]), shrink(pred["s"] / pred["q"] * np.abs(ws[kept]), mu_bar, a),
                                   rtol=1e-12)
        outcomes.append(kept)
    assert outcomes[0][3] and not outcomes[1][3]


def test_tl1_threshold_matches_thresholding_module():
    sub_thr, sup_thr, crit = thresholding.tl1_threshold_exprs()
    t = fp.limit_map_tl1_exprs()["threshold"]
    sub = {thresholding.mu: fp.mu, thresholding.a: fp.a}
    assert sp.simplify(t.args[0][0] - sub_thr.subs(sub)) == 0
    assert sp.simplify(t.args[1][0] - sup_thr.subs(sub)) == 0
    assert sp.simplify(fp._tl1_analysis()["critical_mu"] - crit.subs(sub)) == 0
    gamma = fp.limit_map_l0_exprs()["gamma"]
    assert sp.simplify(gamma - thresholding.hard_threshold_level_expr().subs(thresholding.mu, fp.lam / fp.beta)) == 0


def test_band_edges_lambdify_and_order():
    lo, hi = fp.l0_band_edges_exprs()
    f = sp.lambdify((fp.s, fp.q, fp.lam, fp.beta), [lo, hi])
    lo_v, hi_v = f(0.5, 0.5, 0.005, 1.0)
    assert lo_v == pytest.approx(0.1, rel=1e-15) and hi_v == pytest.approx(0.3, rel=1e-15)
    tlo, thi = fp.tl1_band_edges_exprs()
    g = sp.lambdify((fp.s, fp.q, fp.lam, fp.beta, fp.a), [tlo, thi])
    # subcritical prox (mu = 0.1 <= 1/4) with mu_bar = 0.1 (1 + 1/0.32) > 1/4: a band appears
    lo_v, hi_v = g(0.34, 0.32, 0.1, 1.0, 1.0)
    assert lo_v < hi_v
    # subcritical with mu_bar below the critical value: no band (kept edge = zeroed edge)
    lo_v, hi_v = g(0.5, 0.52, 0.02, 1.0, 2.0)
    assert lo_v == pytest.approx(hi_v, rel=1e-12)


def test_l0_tie_convention_at_the_exact_edges():
    # Exact arithmetic: lam/beta = 1/8 (gamma = 1/2), s = q = 1/2 (r = 1), beta = 1.
    m = fp.limit_map_l0_exprs()
    vals = {fp.s: sp.Rational(1, 2), fp.q: sp.Rational(1, 2), fp.lam: sp.Rational(1, 8), fp.beta: 1}
    lo, hi = (m[key].subs(vals) for key in ("kept_edge", "zeroed_edge"))
    assert (lo, hi) == (sp.Rational(1, 2), sp.Rational(3, 2))
    mu_ = sp.Rational(1, 8)
    for w_tie in (m["w_kept"].subs(vals).subs(fp.w_star_i, lo), m["w_zeroed"].subs(vals).subs(fp.w_star_i, hi)):
        # both candidates sit exactly at |w| = gamma, where the prox objective ties (mu * 1 == w^2/2): prox -> 0.
        assert w_tie == sp.Rational(1, 2) and mu_ == w_tie**2 / 2
    # So the kept candidate at r|w*_i| = kept_edge is NOT a fixed point (prox returns 0 != w), the zeroed one at
    # r|w*_i| = zeroed_edge IS. The numeric map encodes this as strict / non-strict inequalities:
    s_, q_, lam, beta = 0.5, 0.5, 0.125, 1.0
    cmap = fp._coordinate_map("l0", m, lam, beta, None)
    f_edges = sp.lambdify((fp.s, fp.q, fp.lam, fp.beta), [m["kept_edge"], m["zeroed_edge"]])
    lo_f, hi_f = f_edges(s_, q_, lam, beta)
    _, _, kept, _ = cmap(np.array([lo_f]), s_, q_, np.array([True]))
    assert not kept[0]
    _, _, kept, cons = cmap(np.array([hi_f]), s_, q_, np.array([False]))
    assert not kept[0] and cons[0]


# ---------------------------------------------------------------------------------------------------------------
# Mutation tests: wrong formulas through the same verification functions.
def _failed(checks):
    return [c.description for c in checks if not c.passed]


def test_l1_wrong_sign_is_reported():
    cand = dict(fp.limit_map_l1_exprs())
    r = fp.s / fp.q
    cand["u_kept"] = sp.sign(fp.w_star_i) * (r * sp.Abs(fp.w_star_i) + cand["mu_bar"])  # + instead of -
    failed = _failed(fp.verify_limit_map_l1(cand))
    assert any("kept branch" in d for d in failed)
    assert any("RVSM" in d for d in failed)


def test_l1_mu_bar_without_one_over_q_is_reported():
    cand = dict(fp.limit_map_l1_exprs())
    wrong_mu = fp.lam / fp.beta
    cand["mu_bar"] = wrong_mu
    cand["u_kept"] = sp.sign(fp.w_star_i) * (fp.s / fp.q * sp.Abs(fp.w_star_i) - wrong_mu)
    failed = _failed(fp.verify_limit_map_l1(cand))
    assert any("case edges" in d for d in failed)
    assert any("RVSM" in d for d in failed)
    assert any("brute-force" in d for d in failed)


def test_l0_band_edge_without_factor_is_reported():
    cand = dict(fp.limit_map_l0_exprs())
    cand["zeroed_edge"] = cand["gamma"]  # missing (1 + beta/q)
    failed = _failed(fp.verify_limit_map_l0(cand))
    assert any("band edges" in d for d in failed)
    assert any("brute-force" in d for d in failed)
    assert any("RVSM" in d for d in failed)


def test_l0_wrong_sign_is_reported():
    cand = dict(fp.limit_map_l0_exprs())
    cand["w_zeroed"] = fp.s * fp.w_star_i / (fp.q - fp.beta)
    assert _failed(fp.verify_limit_map_l0(cand, numeric=False))


def test_tl1_mu_instead_of_mu_bar_is_reported():
    cand = dict(fp.limit_map_tl1_exprs())
    # the pitfall of using lam/beta (the prox parameter) instead of mu_bar = lam (1/beta + 1/q)
    cand["kept_equation"] = fp.u_i + fp.lam / fp.beta * cand["rho_prime"] - fp.s / fp.q * fp.w_star_i
    failed = _failed(fp.verify_limit_map_tl1(cand))
    assert any("kept branch" in d for d in failed)
    assert any("RVSM" in d for d in failed)


def test_tl1_zeroed_edge_without_factor_is_reported():
    cand = dict(fp.limit_map_tl1_exprs())
    cand["zeroed_edge"] = cand["threshold"].subs(fp.mu, fp.lam / fp.beta)
    failed = _failed(fp.verify_limit_map_tl1(cand))
    assert any("brute-force" in d for d in failed)


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        (dict(w_star=[0.0, 0.0], k=2, penalty="l1", lam=0.1, beta=1.0), "w_star"),
        (dict(w_star=[1.0, 0.5], k=0, penalty="l1", lam=0.1, beta=1.0), "k"),
        (dict(w_star=[1.0, 0.5], k=2, penalty="l2", lam=0.1, beta=1.0), "penalty"),
        (dict(w_star=[1.0, 0.5], k=2, penalty="l1", lam=-0.1, beta=1.0), "lam"),
        (dict(w_star=[1.0, 0.5], k=2, penalty="l1", lam=0.1, beta=0.0), "beta"),
        (dict(w_star=[1.0, 0.5], k=2, penalty="tl1", lam=0.1, beta=1.0), "a"),
    ],
)
def test_predicted_limit_rejects_bad_input(kwargs, param):
    with pytest.raises(ValueError, match=rf"^{param}\b"):
        fp.predicted_limit(**kwargs)
