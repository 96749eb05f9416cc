"""theory.binary and theory.binary_limits: every derivation verifies, and every verification rejects a plausible
mistake fed through it (dropped constant, wrong threshold, sign error, wrong activation)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theory import binary as B
from theory import binary_limits as BL
from theory import fixed_points as fp
from theory import registry
from theory.symbols import k, ns, nw, theta

NAMES = {
    "binary_moments": B.derive_binary_moments,
    "binary_loss": B.derive_binary_loss,
    "coarse_gradient": B.derive_coarse_gradient,
    "coarse_gradient_correlation": B.derive_coarse_gradient_correlation,
    "binary_split_collapse": BL.derive_binary_split_collapse,
    "binary_split_fixed_points": BL.derive_binary_split_fixed_points,
}


@pytest.mark.parametrize("name", list(NAMES))
def test_derivation_verified_and_registered(name):
    der = NAMES[name]()
    assert der.name == name
    assert der.verified, [f"{c.description}: {c.detail}" for c in der.checks if not c.passed]
    assert len(der.checks) >= 3 and der.latex and der.statement
    assert registry.get(name) is NAMES[name]


def test_closed_forms():
    m = B.moments_exprs()
    assert sp.simplify(m["same_patch"] - (sp.pi - theta) / (2 * sp.pi)) == 0
    assert m["mean"] == sp.Rational(1, 2) and m["independent_patch"] == sp.Rational(1, 4)
    assert sp.simplify(B.loss_expr() - theta / (k * sp.pi)) == 0
    for ste, factor in (("relu", 1), ("identity", 2)):
        a_c, b_c = B.coarse_gradient_coefficients(ste)
        assert sp.simplify(a_c - factor / (k * sp.sqrt(2 * sp.pi))) == 0 and sp.simplify(a_c - b_c) == 0
    assert B.coarse_constant(4) == pytest.approx(1 / (4 * np.sqrt(2 * np.pi)), rel=1e-15)


# ---- mutations of the moments, the loss and the gradients ----------------------------------------------------------
def test_mutation_same_patch_without_half():
    wrong = (sp.pi - theta) / sp.pi
    m = B.moments_exprs()
    assert not B.verify_moments_mc(wrong, m["mean"], m["independent_patch"], n_samples=50_000).passed
    assert not B.verify_same_patch_orthant(wrong).passed
    assert not B.verify_same_patch_orthant(theta / (2 * sp.pi)).passed  # the complementary wedge


def test_mutation_wedge_vector_only_teacher_direction():
    m = B.moments_exprs()
    assert not B.verify_wedge_vector_mc(sp.Integer(0), 2 * m["wedge_v_coef"], m["half_space_vector"],
                                        n_samples=50_000).passed


def test_mutation_loss_factor_half_and_pair_count():
    assert not B.verify_binary_loss_mc(B.loss_expr() / 2, n_samples=50_000).passed
    m = B.moments_exprs()
    wrong = (k * m["same_patch"] + k**2 * m["independent_patch"]) / k**2  # k^2 off-diagonal pairs instead of k^2 - k
    assert not B.verify_pair_counting(wrong).passed


def test_mutation_gradient_sign_and_dropped_sine():
    q_b, s_b = B.true_gradient_coefficients()
    assert not B.verify_gradient_fd(q_b, -s_b).passed
    assert not B.verify_gradient_fd(q_b, s_b * sp.sin(theta)).passed


def test_mutation_sample_gradient_with_relu_activation():
    assert not B.verify_sample_gradient_vanishes(lambda v: np.maximum(v, 0.0)).passed


@pytest.mark.parametrize("ste", B.STES)
def test_mutation_coarse_gradient_other_constant(ste):
    a_c, b_c = B.coarse_gradient_coefficients(ste)
    other = "identity" if ste == "relu" else "relu"  # the constant of the other STE (factor 2 off)
    a_o, b_o = B.coarse_gradient_coefficients(other)
    assert not B.verify_coarse_gradient_mc(a_o, b_o, ste, n_samples=50_000).passed
    assert not B.verify_coarse_gradient_mc(a_c, b_c / 2, ste, n_samples=50_000).passed  # half the teacher term


def test_mutation_correlation_sign_and_factor():
    inner = B.correlation_exprs("relu")["inner"]
    assert not B.verify_positive_on_open_interval(-inner).passed
    assert not B.verify_inner_product_mc(2 * inner, "relu", n_samples=50_000).passed


def test_cos_angle_is_half_angle_numerically():
    rng = np.random.default_rng(0)
    for t in (0.3, 1.5, 2.9):
        w, w_star = B._rotated_pair(t, 5, rng, 1.7, 0.6)
        g, tg = B.expected_coarse_gradient(w, w_star, 3), B.true_gradient(w, w_star, 3)
        assert g @ tg / (np.linalg.norm(g) * np.linalg.norm(tg)) == pytest.approx(np.cos(t / 2), rel=1e-12)
        assert tg @ w == pytest.approx(0.0, abs=1e-14)


def test_population_loss_and_expected_gradient_validate():
    with pytest.raises(ValueError, match="ste"):
        B.expected_coarse_gradient(np.ones(3), np.ones(3), 2, "tanh")
    with pytest.raises(ValueError, match="k"):
        B.coarse_constant(0)
    with pytest.raises(ValueError, match="w"):
        B.expected_coarse_gradient(np.zeros(3), np.ones(3), 2)
    batch = B.expected_coarse_gradient(np.array([[1.0, 0, 0], [0, 2.0, 0]]), np.array([1.0, 1.0, 0]), 2)
    assert batch.shape == (2, 3)
    assert B.population_loss(np.array([1.0, 0.0]), np.array([0.0, 3.0]), 2) == pytest.approx(0.25)


# ---- the split iteration ------------------------------------------------------------------------------------------
def _wrong_c_predictor(*args, ste="relu", **kw):
    # a predictor using the other STE's constant (c off by a factor 2)
    return BL.predicted_binary_limit(*args, ste="identity" if ste == "relu" else "relu", **kw)


def test_mutation_predictor_with_wrong_constant():
    assert not BL.verify_normalized_limit(_wrong_c_predictor, BL.NORMALIZED_CASES[:1]).passed


@pytest.mark.parametrize("tau", [lambda lam, beta, c, r: lam / c,  # the lam/(beta r') term dropped
                                 lambda lam, beta, c, r: lam / beta,  # the raw prox threshold
                                 lambda lam, beta, c, r: lam / c + lam / beta])  # r' dropped
def test_mutation_wrong_tau(tau):
    assert not BL.verify_l1_soft_form(tau, BL.NORMALIZED_CASES[:1]).passed


def test_mutation_error_estimate_with_smaller_tau():
    assert not BL.verify_error_estimates(lambda lam, beta, c, r: lam / c, BL.NORMALIZED_CASES[:1]).passed


def test_mutation_two_cycle_radius_and_angle():
    cyc = BL.two_cycle_exprs()
    cases = ({"penalty": "l0", "lam": 0.01, "beta": 1.0, "eta": 0.5, "k": 4},)
    assert not BL.verify_two_cycle(cyc["radius"] / 2, cyc["cos_t"], cases=cases).passed
    assert not BL.verify_two_cycle(cyc["radius"], 1 - fp.eta * fp.beta, cases=cases).passed


def test_l0_has_a_nonzero_fixed_ray_and_the_collapse_check_sees_it():
    assert not BL.verify_no_nonzero_fixed_point(penalty="l0").passed  # the start 3 e stays put under l0
    assert not BL.verify_l0_ray(lam=0.5).passed  # gamma = 1 > n min|e_i|: the ray point is no fixed point


def test_predictor_l1_soft_form_and_bounds():
    ws = np.array([1.0, -0.8, 0.5, 0.25, -0.1, 0.0])
    p = BL.predicted_binary_limit(ws, 4, "l1", 0.01, 1.0)
    e = ws / np.linalg.norm(ws)
    assert p["consistent"] and p["r"] >= 1
    np.testing.assert_allclose(p["u"], p["r"] * np.sign(e) * np.maximum(np.abs(e) - p["tau"], 0), atol=1e-14)
    assert np.linalg.norm(p["w"]) == pytest.approx(1.0, abs=1e-12)
    # l0 with every coordinate kept: u = e exactly (r' = 1)
    p0 = BL.predicted_binary_limit(ws, 4, "l0", 1e-4, 1.0)
    np.testing.assert_allclose(p0["u"], e, atol=1e-12)
    assert p0["r"] == pytest.approx(1.0, abs=1e-12)
    # smallest vs largest support in the l0 band
    lo = BL.predicted_binary_limit(ws, 4, "l0", 0.01, 1.0, prefer_kept=False)
    hi = BL.predicted_binary_limit(ws, 4, "l0", 0.01, 1.0, prefer_kept=True)
    assert lo["kept"].sum() < hi["kept"].sum()
    assert not hasattr(B, "predicted_binary_limit")  # one home: theory.binary_limits (no re-export, no import cycle)


def test_predictor_validates():
    ws = np.ones(3)
    for kw, match in (({"penalty": "l2"}, "penalty"), ({"lam": -1.0}, "lam"), ({"beta": 0.0}, "beta"),
                      ({"penalty": "tl1"}, "a")):
        args = {"penalty": "l1", "lam": 0.01, "beta": 1.0} | kw
        with pytest.raises(ValueError, match=match):
            BL.predicted_binary_limit(ws, 2, args["penalty"], args["lam"], args["beta"])
    with pytest.raises(ValueError, match="w_star"):
        BL.predicted_binary_limit(np.zeros(3), 2, "l1", 0.01, 1.0)


def test_unused_symbols_are_consistent():
    # the (nw, ns) symbols do not enter the coarse gradient (scale invariance)
    a_c, b_c = B.coarse_gradient_coefficients("relu")
    assert not ({nw, ns} & (a_c.free_symbols | b_c.free_symbols))


# ---- the unnormalized iteration: stability of the 2-orbit, the invariant repelling ray -----------------------------
def test_orbit_monodromy_and_ray_multipliers():
    mono = BL.orbit_monodromy_exprs()
    eta, beta = fp.eta, fp.beta
    assert sp.simplify(mono["det"] - (1 - eta * beta) ** 2) == 0
    assert sp.simplify(mono["trace"] - (2 - 2 * (2 - eta * beta) + (2 - eta * beta) ** 2
                                        * ((2 - eta * beta) ** 2 / 2 - 1) ** 2)) == 0
    # numerically: |eigenvalues| < 1 across 0 < eta beta < 1 (a stable orbit), -> 1 as eta beta -> 0
    f = sp.lambdify((eta, beta), [mono["det"], mono["trace"]], "numpy")
    for eb in (0.01, 0.1, 0.5, 0.9, 0.99):
        det, tr = f(eb, 1.0)
        lam = np.roots([1.0, -tr, det])
        assert np.max(np.abs(lam)) < 1.0
    # wrong multipliers are rejected by the same symbolic comparison
    assert not sp.simplify(mono["det"] - (1 - eta * beta)) == 0


def test_mutation_ray_collapse_with_wrong_orbit():
    cyc = BL.two_cycle_exprs()
    assert BL.verify_ray_collapse(cyc["radius"], cyc["cos_t"]).passed
    assert not BL.verify_ray_collapse(cyc["radius"] * (2 - fp.eta * fp.beta) / 2, cyc["cos_t"]).passed
    assert not BL.verify_ray_collapse(cyc["radius"], 1 - fp.eta * fp.beta).passed


def test_mutation_ray_multiplier_sign():
    # the derivation's perpendicular-multiplier check rejects the sign error 1 - eta beta + eta c/n
    from theory.verify import verify_symbolic_zero

    mono = BL.orbit_monodromy_exprs()
    wrong = 1 - fp.eta * fp.beta + fp.eta * BL.c_sym / BL.n_sym
    assert not verify_symbolic_zero(wrong - mono["perp"], "wrong sign").passed


# ---- coordinatewise inequalities built from the derived branches: each rejects a wrong branch ---------------------
def _cand(**wrong):
    cand = BL.normalized_limit_exprs()
    cand.update(wrong)
    return cand


_c, _q, _lam, _beta, _e = BL.c_sym, fp.q, fp.lam, fp.beta, BL.e_i


def test_coordinate_contraction_from_derived_branches():
    chk = BL.verify_coordinate_contraction(_cand())
    assert chk.passed, chk.detail
    assert "l1 kept: c|e_i| - q|w_i| = lambda" in chk.detail  # the gap is derived, not typed in


@pytest.mark.parametrize("wrong", [
    {"w_kept_l1": (_c * _e + _lam * sp.sign(_e)) / _q},  # sign error in the kept l1 branch: q|w| = c|e| + lam
    {"w_zeroed": _c * _e / (_q - _beta)},  # beta with the wrong sign in the zeroed branch
    {"w_kept_l0": _c * _e / _q + _lam * sp.sign(_e)},  # l0 kept with a spurious shift
    # TL1 kept equation with mu_bar = lam (1/beta + 1/q) replaced by lam/q (the 1/beta term dropped)
    {"tl1_kept_equation": fp.u_i + _lam / _q * fp.limit_map_tl1_exprs()["rho_prime"] - _c * _e / _q},
])
def test_mutation_coordinate_contraction(wrong):
    assert not BL.verify_coordinate_contraction(_cand(**wrong)).passed


def test_unnormalized_shrink_from_derived_branches():
    q_un = BL.unnormalized_fixed_point_exprs()["q"]
    assert sp.simplify(q_un - _c / BL.n_sym) == 0
    chk = BL.verify_unnormalized_shrink(_cand(), q_un)
    assert chk.passed, chk.detail


@pytest.mark.parametrize("wrong", [
    {"w_kept_l1": (_c * _e + _lam * sp.sign(_e)) / _q},  # sign error: |v_i| = |e_i| + lam/c
    {"w_zeroed": _c * _e / _q},  # beta dropped: v_i = e_i, no shrink
    {"w_zeroed_l0": _c * _e / (_q - _beta)},  # beta with the wrong sign
])
def test_mutation_unnormalized_shrink(wrong):
    q_un = BL.unnormalized_fixed_point_exprs()["q"]
    assert not BL.verify_unnormalized_shrink(_cand(**wrong), q_un).passed


def test_mutation_unnormalized_shrink_wrong_q():
    # q = c (the normalized r' = 1 instead of c/n): |v_i|^2 - e_i^2 is then positive at some points (n < 1)
    assert not BL.verify_unnormalized_shrink(_cand(), _c).passed


def test_l0_all_kept_solves_r_prime_one():
    st = BL.normalized_limit_exprs()
    chk = BL.verify_l0_all_kept(st["w_kept_l0"], st["u_kept_l0"], st["r_prime"])
    assert chk.passed, chk.detail
    assert "q = [c]" in chk.detail


@pytest.mark.parametrize("w_kept, u_kept", [
    (_c * _e / (_q + _beta), None),  # the zeroed branch's w: q = c - beta, r' != 1
    (None, _c * _e / (_q + _beta)),  # u off the kept branch: u != e at q = c
    ((_c * _e + _lam) / _q, None),  # not homogeneous in e: |w|^2 is no function of q alone
    (_c * _e / _q**2, None),  # wrong power: q = sqrt(c), r' = sqrt(c) != 1
])
def test_mutation_l0_all_kept(w_kept, u_kept):
    st = BL.normalized_limit_exprs()
    w_kept = st["w_kept_l0"] if w_kept is None else w_kept
    u_kept = st["u_kept_l0"] if u_kept is None else u_kept
    assert not BL.verify_l0_all_kept(w_kept, u_kept, st["r_prime"]).passed


def test_coordinate_branches_validates():
    with pytest.raises(ValueError, match="cand"):
        BL.coordinate_branches({"w_kept_l1": _e})
