"""Cross-checks of the data of the figures population_loss, convergence, thresholding_map and tradeoff against theory.

Each check is a small function applied to the figure's data (read back from its CSV after ``make(tmp_path, "tiny")``
or computed directly), and each has a companion test feeding a deliberately wrong ingredient through the same check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from numerics import population
from paper_figures import convergence, population_loss, thresholding_map, tradeoff
from paper_figures.data import read_csv


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    data = {}
    for mod in (population_loss, convergence, thresholding_map, tradeoff):
        paths = mod.make(out, "tiny")
        assert {p.suffix for p in paths} == {".csv", ".png", ".pdf"}
        assert all(p.exists() and p.stat().st_size > 0 for p in paths)
        d = read_csv(out / f"{mod.NAME}.csv")
        assert tuple(d) == tuple(mod.COLUMNS)
        assert all(np.all(np.isfinite(v)) for v in d.values())
        data[mod.NAME] = d
    return data


# ----------------------------------------------------------------------------------------------------------------------
# population_loss: Monte Carlo within its own standard error of the closed form
# ----------------------------------------------------------------------------------------------------------------------
Z_MAX = 4.0  # 4 standard errors: P(|z| > 4) = 6e-5 per point for a correct formula; ~60 points in all


def mc_max_zscore(d: dict, loss_fn) -> float:
    """max |MC - loss_fn| / se over the MC rows; a point with se = 0 (w = w*, exactly 0) must match to 1e-12."""
    m = d["is_mc"] == 1
    w_norm, ang, k = d["norm_w"][m], d["angle"][m], d["k"][m].astype(int)
    ref = np.array([loss_fn(n, t, kk) for n, t, kk in zip(w_norm, ang, k, strict=True)])
    se = d["loss_mc_se"][m]
    diff = np.abs(d["loss_mc"][m] - ref)
    zero = se == 0
    assert np.all(diff[zero] <= 1e-12)
    return float(np.max(diff[~zero] / se[~zero]))


def _closed(norm, t, k):
    w = np.array([norm * math.cos(t), norm * math.sin(t)])
    return float(population.loss(w, np.array([1.0, 0.0]), k))


def test_population_loss_mc_within_standard_errors(made):
    d = made["population_loss"]
    assert set(d["k"].astype(int)) == {2, 8} and set(d["sweep"].astype(int)) == {0, 1}
    # the curve column is the closed form of numerics.population at the row's (|w|, t), recomputed in a 2-D plane
    np.testing.assert_allclose(d["loss_closed_form"],
                               [_closed(n, t, int(k)) for n, t, k in zip(d["norm_w"], d["angle"], d["k"],
                                                                        strict=True)], rtol=1e-12, atol=1e-15)
    assert mc_max_zscore(d, _closed) < Z_MAX


@pytest.mark.parametrize("wrong", ["no_cross_patch_term", "half_factor", "cos_kernel"])
def test_population_loss_check_rejects_wrong_formula(made, wrong):
    def bad(norm, t, k):
        ns = 1.0
        g = norm * ns * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi)
        cross = (k * k - k) / (2 * math.pi) * (norm - ns) ** 2
        if wrong == "no_cross_patch_term":
            cross = 0.0
        if wrong == "cos_kernel":  # the linear-kernel mistake E[relu(u.x) relu(v.x)] = u.v / 2
            g = norm * ns * math.cos(t) / 2
        val = (0.5 * k * (norm**2 + ns**2) - 2 * k * g + cross) / k**2
        return 0.5 * val if wrong == "half_factor" else val

    assert mc_max_zscore(made["population_loss"], bad) > Z_MAX


# ----------------------------------------------------------------------------------------------------------------------
# convergence: the fitted tail factor against the linearized factor
# ----------------------------------------------------------------------------------------------------------------------
# J is symmetric (I - eta (H + beta (I - D)), H a Hessian, D diagonal), so in the linear regime |e_{t+1}| <= rho |e_t|:
# the fitted factor cannot exceed rho (up to the fit's rounding, 1e-6). It can be slightly smaller while modes with the
# next eigenvalues (l1: 0.8815 vs 0.8805) still carry weight in the window: allow 3% in log rho (seen: <= 1.0%).
LOG_RATE_RTOL = 0.03


def rate_matches(fitted: float, rho: float) -> bool:
    return fitted <= rho * (1 + 1e-6) and abs(math.log(fitted) / math.log(rho) - 1) <= LOG_RATE_RTOL


def test_convergence_fitted_rate_matches_jacobian(made):
    d = made["convergence"]
    for code in (0, 1, 2):
        s = d["penalty"] == code
        rho, fitted = d["rate_jacobian"][s][0], d["rate_fitted"][s][0]
        assert rate_matches(fitted, rho), (code, rho, fitted)
        assert d["fit_t_end"][s][0] - d["fit_t_start"][s][0] >= 50
        assert d["dist_u"][s][-1] < 1e-12  # the run reached the predicted limit
        # the gap is non-increasing (descent, THEORY 5) up to rounding
        assert np.all(np.diff(d["lagrangian_gap"][s]) <= 1e-14)


def test_convergence_check_rejects_wrong_rates(made):
    d = made["convergence"]
    s = d["penalty"] == 0
    fitted = d["rate_fitted"][s][0]
    # the crude small-lam factor 1 - eta/k is ~5% off in log rate here (q(w_bar) != 1/k at lam = 0.02)
    assert not rate_matches(fitted, 1 - convergence.ETA / convergence.K)
    # forgetting that u moves with w (prox' = 0 on the support): J = I - eta (H + beta I)
    pred_ws = convergence.teacher()
    import numerics as nm

    p = nm.predict(nm.Problem(pred_ws, convergence.K, "l1", convergence.LAM, convergence.BETA))
    h = 1e-6
    eye = np.eye(pred_ws.size)
    gp = np.asarray(population.grad(p.w + h * eye, pred_ws, convergence.K))
    gm = np.asarray(population.grad(p.w - h * eye, pred_ws, convergence.K))
    hess = (gp - gm) / (2 * h)
    wrong = np.eye(pred_ws.size) - convergence.ETA * (hess + convergence.BETA * np.eye(pred_ws.size))
    assert not rate_matches(fitted, convergence.spectral_radius(wrong))
    # the right D (1 on the support) rebuilds the finite-difference Jacobian of the RVSM step
    right = eye - convergence.ETA * (hess + convergence.BETA * np.diag((p.u == 0).astype(float)))
    np.testing.assert_allclose(convergence.spectral_radius(right), d["rate_jacobian"][s][0], rtol=1e-7)


# ----------------------------------------------------------------------------------------------------------------------
# thresholding_map: the simulated limits lie on the predicted curves
# ----------------------------------------------------------------------------------------------------------------------
ON_CURVE_TOL = 1e-8  # RVSM stops at |w^{t+1} - w^t| < 1e-14 with rate <= ~0.95: distance to the limit < ~1e-12


def max_off_curve(d: dict, curve) -> float:
    """max over simulated rows of |u_sim_1 - curve(panel, w*_1, kept)|, kept = (u_sim_1 != 0)."""
    s = d["is_sim"] == 1
    worst = 0.0
    for panel, w1, u in zip(d["panel"][s], d["w_star_1"][s], d["u_bar_1"][s], strict=True):
        worst = max(worst, abs(u - curve(int(panel), w1, u != 0)))
    return worst


def _curve_from_csv(d):
    c = d["is_sim"] == 0

    def curve(panel, w1, kept):
        m = c & (d["panel"] == panel) & (d["w_star_1"] == w1) & (d["branch"] == int(kept))
        assert np.count_nonzero(m) == 1, "a simulated point has no consistent predicted branch at its w*_1"
        return d["u_bar_1"][m][0]

    return curve


def test_thresholding_map_points_on_curves(made):
    d = made["thresholding_map"]
    s = d["is_sim"] == 1
    assert np.all(d["sim_converged"][s] == 1) and np.all(d["consistent"][s] == 1)
    assert max_off_curve(d, _curve_from_csv(d)) < ON_CURVE_TOL
    assert np.max(d["sim_error"][s]) < ON_CURVE_TOL  # all d coordinates, not only the plotted one
    # l0 band: the two starts reach the two different fixed points (hysteresis)
    band = s & (d["panel"] == 1) & (d["band"] == 1)
    assert np.any(band & (d["u_bar_1"] != 0)) and np.any(band & (d["u_bar_1"] == 0))
    # no band for l1 (THEORY 5: the l1 limit is unique)
    assert not np.any(d["band"][d["panel"] == 0])


def test_thresholding_map_check_rejects_naive_prox(made):
    # the pitfall: the limit as the prox of the truth itself, prox_{lam/beta P}(w*_1), ignoring r = s/q and mu_bar
    d = made["thresholding_map"]
    mu = thresholding_map.LAM / thresholding_map.BETA

    def naive(panel, w1, kept):
        pen = thresholding_map.penalty_of(panel)
        return float(pen.prox(np.array([w1]), mu)[0])

    assert max_off_curve(d, naive) > 1e-2


# ----------------------------------------------------------------------------------------------------------------------
# tradeoff: O(lam) error at the smallest lam; l1 zeros non-decreasing in lam
# ----------------------------------------------------------------------------------------------------------------------
# THEORY 5: |u_bar - w*| = O(lam). For l1 to first order the kept coordinates move by mu_bar = lam (1/beta + 1/q)
# ~ lam (1/beta + k) plus (r - 1) w* = O(lam), so |u_bar - w*|/|w*| ~ lam (1/beta + k) sqrt(#kept)/|w*| ~ 5 lam here
# (entries N(0, 1): sqrt(#kept)/|w*| ~ 1); we allow C = 2 (1/beta + k) = 10. l0 with the exact support has u_bar = w*.
def small_lam_ok(d: dict, code: int, c: float) -> bool:
    s = d["penalty"] == code
    lam, err = d["lam"][s], d["relerr_median"][s]
    return bool(err[0] <= c * lam[0])


def test_tradeoff_small_lam_error_is_order_lam(made):
    d = made["tradeoff"]
    c = 2 * (1 / tradeoff.BETA + tradeoff.K)
    for code in (0, 1, 2):
        assert small_lam_ok(d, code, c), code
    # l1 and TL1: the error scales linearly between the two smallest lam (ratio of errors / ratio of lams ~ 1)
    for code in (0, 2):
        s = d["penalty"] == code
        lam, err = d["lam"][s], d["relerr_median"][s]
        assert 0.8 <= (err[1] / err[0]) / (lam[1] / lam[0]) <= 1.25


def test_tradeoff_small_lam_check_rejects_wrong_scaling(made):
    # an error that does not vanish with lam (e.g. comparing with prox(w*) at a fixed mu) fails the same check
    d = {k: v.copy() for k, v in made["tradeoff"].items()}
    d["relerr_median"] = d["relerr_median"] + 0.01
    assert not small_lam_ok(d, 0, 2 * (1 / tradeoff.BETA + tradeoff.K))


def nondecreasing(x: np.ndarray, axis: int = 0) -> bool:
    return bool(np.all(np.diff(x, axis=axis) >= 0))


def test_tradeoff_l1_zeros_nondecreasing(made):
    # THEORY 5 (l1): u_bar_i = 0 iff |w*_i| <= tau(lam) = lam (1 + q/beta)/s: the zero set is always the set of the
    # smallest |w*_i|, so the number of zeros of one teacher is non-decreasing in lam wherever tau is; tau =
    # lam (1/beta + k) (1 + O(lam)) grows with lam. Tested per trial (same teacher and start at every lam) and on the
    # median in the CSV (a median of non-decreasing sequences is non-decreasing).
    d = made["tradeoff"]
    assert nondecreasing(d["zeros_median"][d["penalty"] == 0])
    sim = tradeoff.simulate("l1", None, np.logspace(-3, -0.5, 8), 3, 2)
    assert nondecreasing(sim["zeros"], axis=0)
    # and the zero set is the set of the smallest teacher coordinates (nested thresholding)
    for i in range(sim["u"].shape[0]):
        for j in range(sim["u"].shape[1]):
            z = sim["u"][i, j] == 0
            a = np.abs(sim["w_star"][j])
            assert not z.any() or z.all() or a[z].max() < a[~z].min()


def test_tradeoff_monotone_check_rejects_decreasing():
    assert not nondecreasing(np.array([0.5, 0.55, 0.5]))
