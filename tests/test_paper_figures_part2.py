"""Data of the figures learnability, angle, l0_hysteresis and finite_sample against the theory.

Each figure is made once at the ``tiny`` preset and its CSV read back. Each verification is a small function used on
the real data and, in a mutation test, on a deliberately wrong ingredient that it must report as failed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from paper_figures import angle, finite_sample, l0_hysteresis, learnability
from paper_figures.data import read_csv

EPS = np.finfo(float).eps


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs_part2")
    data = {}
    for mod in (learnability, angle, l0_hysteresis, finite_sample):
        paths = mod.make(out, "tiny")
        assert {p.suffix for p in paths} == {".csv", ".png", ".pdf"}
        data[mod.NAME] = read_csv(out / f"{mod.NAME}.csv")
        assert tuple(data[mod.NAME]) == mod.COLUMNS
    return data


# ---------------------------------------------------------------------------------------------------------------------
# learnability
# ---------------------------------------------------------------------------------------------------------------------
def tail_agrees_with_sampling(p_claimed: np.ndarray, d: int, delta: np.ndarray, *, n: int = 200_000,
                              seed: int = 99) -> tuple[bool, float]:
    """Compare claimed P(angle > pi - delta) with this test's own uniform sample on S^{d-1}.

    Sampling is independent of the code under test (normalized NumPy Gaussians, own seed, own angle formula). Returns
    (all |z| <= 4, max |z|), z = (frequency - p) / sqrt(p (1 - p) / n): the binomial standard error under the
    claimed p (defined also where the frequency is 0). 4 standard errors over ~3 x 7 points: a false alarm has
    probability ~1e-3.
    """
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, d))
    cosang = g[:, 0] / np.linalg.norm(g, axis=1)  # w* = e_1 by rotation invariance
    ang = np.arccos(np.clip(cosang, -1.0, 1.0))
    freq = (ang[None, :] > math.pi - delta[:, None]).mean(axis=1)
    p = np.asarray(p_claimed, dtype=float)
    se = np.sqrt(np.clip(p * (1 - p), 0, None) / n)
    diff = np.abs(freq - p)
    z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff > 0, np.inf, 0.0))
    return bool(np.all(z <= 4.0)), float(np.max(z))


def test_learnability_reach_fraction_is_one_well_below_pi(csvs):
    c = csvs["learnability"]
    th = c["theta0"]
    for m in learnability.METHODS:
        assert np.all(c[f"reach_{m}"][th <= math.pi / 2] == 1.0), m
    # GD on the population loss: w* is reached from every angle < pi (BG17); at exactly pi the line through w* is
    # invariant (grad l is parallel to w* there) and the run stays at the saddle.
    assert np.all(c["reach_gd"][th < math.pi] == 1.0)
    assert c["reach_gd"][th == math.pi][0] == 0.0
    assert np.all((c["reach_l0"] >= 0) & (c["reach_l0"] <= 1))


def test_learnability_formula_agrees_with_uniform_sampling(csvs):
    c = csvs["learnability"]
    delta = c["delta"]
    for d in learnability.TAIL_DIMS:
        ok, zmax = tail_agrees_with_sampling(c[f"tail_formula_d{d}"], d, delta)
        assert ok, (d, zmax)
        # the figure's own empirical points agree with its curve within 4 of their standard errors (under p)
        p, n = c[f"tail_formula_d{d}"], c["n_uniform"][0]
        se = np.sqrt(p * (1 - p) / n)
        assert np.all(np.abs(c[f"tail_empirical_d{d}"] - p) <= 4 * se + 1e-15), d
        assert np.all(p <= c["tail_bound"] + 1e-15), d  # the delta/pi bound
    # d = 2: the angle is uniform, the formula equals the bound
    np.testing.assert_allclose(learnability.tail_probability_function()(2, delta), delta / math.pi, atol=1e-14)


@pytest.mark.parametrize("wrong", ["no_half", "d_over_2", "bound"])
def test_learnability_sampling_check_catches_wrong_formula(csvs, wrong):
    delta = csvs["learnability"]["delta"]
    d = 10
    s2 = np.sin(delta) ** 2
    p = {"no_half": special.betainc((d - 1) / 2, 0.5, s2),
         "d_over_2": 0.5 * special.betainc(d / 2, 0.5, s2),
         "bound": delta / math.pi}[wrong]
    ok, zmax = tail_agrees_with_sampling(p, d, delta)
    assert not ok, zmax


# ---------------------------------------------------------------------------------------------------------------------
# angle
# ---------------------------------------------------------------------------------------------------------------------
#: GD's angle may "increase" only by rounding: the angle is 2 atan2(|a - b|, |a + b|) of unit vectors, accurate to a
#: few ulp in absolute terms (rad); 4 eps ~ 9e-16 rad.
ANGLE_ROUNDING = 4 * EPS


def never_increases(series: np.ndarray, tol: float = ANGLE_ROUNDING) -> bool:
    return bool(np.all(np.diff(series) <= tol))


def test_angle_gd_monotone_rvsm_not(csvs):
    c = csvs["angle"]
    assert never_increases(c["angle_gd"])
    assert c["angle_gd"][-1] < 1e-9  # GD reaches w*
    # RVSM: at least one increase far above rounding (found on this instance: a rise of ~2 degrees, 0.038 rad)
    assert not never_increases(c["angle_rvsm"])
    assert np.max(np.diff(c["angle_rvsm"])) > 1e3 * ANGLE_ROUNDING
    assert angle.largest_rise(c["angle_rvsm"]) > math.radians(1.0)


def test_angle_rvsm_ends_at_predicted_angle_and_descends(csvs):
    c = csvs["angle"]
    # linear rate ~ 1 - eta/k = 0.875 per step: after 300 steps the iterate is at its limit to rounding
    assert abs(c["angle_rvsm"][-1] - c["angle_rvsm_limit"][0]) < 1e-9
    lag = c["lagrangian_rvsm"]
    assert np.all(np.diff(lag) <= 1e-13 * np.abs(lag[:-1]) + 1e-15)  # descent: eta = 0.5 < 2/(L + beta) = 1.34


def test_angle_checks_catch_wrong_inputs(csvs):
    c = csvs["angle"]
    # the monotonicity check does flag a non-monotone series ...
    assert not never_increases(np.array([3.0, 2.0, 2.0 + 10 * ANGLE_ROUNDING, 1.0]))
    # ... and the predicted-angle comparison fails for the limit at a 10% wrong lambda
    import numerics as nm
    from numerics import population

    ws_all, _ = angle.candidates()
    ws = ws_all[int(c["candidate"][0])]
    wrong = nm.predict(nm.Problem(ws, angle.K, angle.PENALTY, 1.1 * angle.LAM, angle.BETA))
    assert abs(c["angle_rvsm"][-1] - float(population.angle(wrong.w, ws))) > 1e-4


# ---------------------------------------------------------------------------------------------------------------------
# l0_hysteresis
# ---------------------------------------------------------------------------------------------------------------------
#: Distance of a converged run (last step < TOL) to its fixed point: <= TOL rho / (1 - rho) with the linear rate
#: rho ~ 1 - eta/k = 1/2 here, so ~TOL; 100 TOL leaves room for the rate being asymptotic and for the prediction's own
#: (s, q) tolerance (1e-14).
FP_TOL = 100 * l0_hysteresis.TOL


def matches_candidates(c: dict, u_kept: float, w_zeroed: float, tol: float = FP_TOL) -> np.ndarray:
    """Per run: the final (u_i, w_i) is the kept fixed point (u_i = u_kept) or the zeroed one (u_i = 0 exactly and
    w_i = w_zeroed)."""
    kept = np.abs(c["u_final"] - u_kept) <= tol
    zeroed = (c["u_final"] == 0) & (np.abs(c["w_final"] - w_zeroed) <= tol)
    return kept | zeroed


def two_fixed_points_coexist(u_kept: float, w_zeroed: float, gamma: float) -> bool:
    """The l0 band: the kept value survives hard thresholding (|u_kept| > gamma) and the zeroed w_i stays below it
    (|w_zeroed| <= gamma), gamma = sqrt(2 lam/beta) (theory page section 3)."""
    return bool(abs(u_kept) > gamma and abs(w_zeroed) <= gamma)


def test_l0_hysteresis_finals_are_the_two_fixed_points(csvs):
    c = csvs["l0_hysteresis"]
    assert np.all(c["converged"] == 1)
    u_k, w_z = c["u_kept"][0], c["w_zeroed"][0]
    assert np.all(c["u_zeroed"] == 0)
    assert np.all(matches_candidates(c, u_k, w_z))
    assert 0 < np.sum(c["kept"]) < c["kept"].size  # both basins are hit
    assert abs(u_k) > 0.1  # the two values are far apart
    # kept: u = w (l0 keeps w unchanged): the predicted kept w and u coincide
    assert abs(c["w_kept"][0] - u_k) <= 1e-12
    gamma = c["gamma"][0]
    assert gamma == pytest.approx(math.sqrt(2 * l0_hysteresis.LAM / l0_hysteresis.BETA), rel=1e-15)
    assert two_fixed_points_coexist(u_k, w_z, gamma)


def test_l0_hysteresis_checks_catch_wrong_inputs(csvs):
    c = csvs["l0_hysteresis"]
    u_k, w_z = c["u_kept"][0], c["w_zeroed"][0]
    # a kept value off by 1e-6 (e.g. a wrong rescaling r) is not matched by the kept runs
    assert not np.all(matches_candidates(c, u_k * (1 + 1e-6), w_z))
    # the zeroed w with beta dropped, s w*_i / q = w_zeroed (q + beta)/q ~ w_zeroed (1 + beta k) (q ~ 1/k), is not
    # matched by the zeroed runs
    assert not np.all(matches_candidates(c, u_k, w_z * (1 + l0_hysteresis.BETA * l0_hysteresis.K)))
    # the hard threshold at mu = lam/beta (another library's convention) instead of sqrt(2 mu): no band
    assert not two_fixed_points_coexist(u_k, w_z, l0_hysteresis.LAM / l0_hysteresis.BETA)


# ---------------------------------------------------------------------------------------------------------------------
# finite_sample
# ---------------------------------------------------------------------------------------------------------------------
def slope_is_half(n: np.ndarray, dist: np.ndarray, *, n_se: float = 3.0, max_se: float = 0.1) -> tuple[bool, str]:
    """Fitted log-log slope within n_se standard errors of -1/2, with a standard error small enough to mean it.

    The standard error is that of least squares over independent (N, seed) points: se = s / sqrt(S_xx), with s the
    residual spread of log dist (~0.5 for the norm of a 3-dimensional Gaussian error) and S_xx = n_seeds * sum over
    the N grid of (log N - mean)^2. At the tiny preset (8 seeds, N = 150 ... 4050, S_xx ~ 8 * 4 * 2.0) se ~ 0.06:
    the accepted range is about -0.5 +- 0.2, and se <= 0.1 guarantees it is never wider than -0.5 +- 0.3 (a floor
    or a 1/N law would fall outside).
    """
    a, se, _ = finite_sample.fit_loglog(n, dist)
    return bool(abs(a + 0.5) <= n_se * se and se <= max_se), f"slope {a:.3f} +- {se:.3f}"


def test_finite_sample_slope_is_minus_half(csvs):
    c = csvs["finite_sample"]
    ok, msg = slope_is_half(c["n_samples"], c["dist_u"])
    assert ok, msg
    assert c["fit_slope"][0] == pytest.approx(finite_sample.fit_loglog(c["n_samples"], c["dist_u"])[0], rel=1e-12)
    # the distances are what they claim: |u_N - u_bar| from the stored coordinates
    u = np.stack([c[f"u_{j}"] for j in range(finite_sample.D)], axis=1)
    up = np.stack([c[f"u_pred_{j}"] for j in range(finite_sample.D)], axis=1)
    np.testing.assert_allclose(np.linalg.norm(u - up, axis=1), c["dist_u"], rtol=1e-12)
    assert np.all(c["converged"] == 1) and np.all(c["support_match"] == 1)  # clean support, away from thresholds


def test_finite_sample_slope_check_catches_wrong_inputs(csvs):
    c = csvs["finite_sample"]
    n = c["n_samples"]
    u = np.stack([c[f"u_{j}"] for j in range(finite_sample.D)], axis=1)
    ws = np.asarray(finite_sample.W_STAR)
    lam, beta, k = finite_sample.LAM, finite_sample.BETA, finite_sample.K
    # the naive limit prox_{lam (k + 1/beta)}(w*) (theory page s.5: not the limit; r != 1) leaves an O(lam) floor
    naive = np.sign(ws) * np.maximum(np.abs(ws) - lam * (k + 1 / beta), 0.0)
    assert not slope_is_half(n, np.linalg.norm(u - naive, axis=1))[0]
    # a 1/N law is rejected too
    assert not slope_is_half(n, c["dist_u"] / np.sqrt(n))[0]
