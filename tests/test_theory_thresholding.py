"""Derived prox operators (l1, l0, TL1) against brute-force global minimization, and mutation tests.

The brute-force reference :func:`theory.thresholding.brute_force_prox` minimizes the prox objective on a grid with
local refinement and uses no formula; it is itself checked on a penalty with a known prox (``P = y^2``).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import thresholding as th
from theory.symbols import a, lam, mu

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def records():
    return {f.__name__: f() for f in (th.derive_prox_l1, th.derive_prox_l0, th.derive_prox_tl1)}


@pytest.mark.parametrize("name,fn", [("prox_l1", "derive_prox_l1"), ("prox_l0", "derive_prox_l0"),
                                     ("prox_tl1", "derive_prox_tl1")])
def test_derivation_verified(records, name, fn):
    rec = records[fn]
    assert rec.name == name
    assert rec.verified, [c for c in rec.checks if not c.passed]
    assert len(rec.checks) >= 4
    assert any("returns 0" in conv for conv in rec.conventions)


# --- the brute-force reference itself -------------------------------------------------------------------------------
@SETTINGS
@given(st.floats(-20, 20), st.floats(0.01, 10))
def test_brute_force_on_known_quadratic_prox(x, m):
    # P(y) = y^2: argmin m y^2 + (y - x)^2/2 = x / (1 + 2 m)
    got = th.brute_force_prox(lambda v: v**2, x, m)
    assert abs(got - x / (1 + 2 * m)) <= 1e-7 * (1 + abs(x))


def test_brute_force_tie_goes_to_zero():
    # l0 at |x| = sqrt(2 mu) exactly (mu = 2, x = 2): objective mu at y = x and x^2/2 at 0 are equal
    assert th.brute_force_prox(th.l0_penalty, 2.0, 2.0) == 0.0
    assert th.brute_force_prox(th.l0_penalty, 2.0 * (1 + 1e-6), 2.0) != 0.0


def test_brute_force_rejects_bad_mu():
    with pytest.raises(ValueError, match="mu"):
        th.brute_force_prox(th.l1_penalty, 1.0, 0.0)


# --- Hypothesis: derived operators vs brute force -------------------------------------------------------------------
@SETTINGS
@given(st.floats(-20, 20), st.floats(0.01, 10), st.sampled_from([None, -1.0, 1.0]), st.sampled_from([-1e-4, 0, 1e-4]))
def test_soft_threshold_brute_force(x, m, at, off):
    if at is not None:  # just above / at / below the threshold
        x = at * m * (1 + off)
    chk = th.verify_prox_brute_force(lambda xx, mm: th.soft_threshold(xx, mm), th.l1_penalty, [(x, m)], "l1")
    assert chk.passed, chk.detail


@SETTINGS
@given(st.floats(-20, 20), st.floats(0.01, 10), st.sampled_from([None, -1.0, 1.0]), st.sampled_from([-1e-6, 0, 1e-6]))
def test_hard_threshold_brute_force(x, m, at, off):
    if at is not None:
        x = at * np.sqrt(2 * m) * (1 + off)
    chk = th.verify_prox_brute_force(lambda xx, mm: th.hard_threshold(xx, mm), th.l0_penalty, [(x, m)], "l0")
    assert chk.passed, chk.detail


def _tl1_case(a_, ratio, sign, where, off):
    mu_c = a_**2 / (2 * (a_ + 1))
    m = ratio * mu_c
    t = float(th.tl1_threshold(m, a_))
    x = sign * t * (where * (1 + off))
    return x, m, a_


@SETTINGS
@given(st.floats(0.05, 20), st.one_of(st.floats(0.02, 0.98), st.floats(1.02, 40)), st.sampled_from([-1.0, 1.0]),
       st.sampled_from([0.5, 1.0, 1.0, 1.0, 1.5, 3.0]), st.sampled_from([-1e-5, 0.0, 1e-5]))
def test_tl1_prox_brute_force_both_regimes(a_, ratio, sign, where, off):
    case = _tl1_case(a_, ratio, sign, where, off)
    chk = th.verify_prox_brute_force(th.tl1_prox, th.tl1_penalty, [case], "tl1")
    assert chk.passed, chk.detail


@SETTINGS
@given(st.floats(0.05, 20), st.one_of(st.floats(0.02, 0.98), st.floats(1.02, 40)))
def test_tl1_threshold_brute_force(a_, ratio):
    m = ratio * a_**2 / (2 * (a_ + 1))
    chk = th.verify_threshold_brute_force(th.tl1_threshold, th.tl1_penalty, [(m, a_)], "tl1 threshold")
    assert chk.passed, chk.detail


def test_ties_return_zero_at_threshold():
    assert th.hard_threshold(np.sqrt(2 * 0.5), 0.5) == 0.0
    for a_, ratio in [(1.0, 3.0), (0.2, 10.0)]:  # supercritical: a genuine tie of two minimizers
        m = ratio * a_**2 / (2 * (a_ + 1))
        t = float(th.tl1_threshold(m, a_))
        assert th.tl1_prox(t, m, a_) == 0.0
        assert th.tl1_prox(-t, m, a_) == 0.0
        jump = np.sqrt(2 * m * (a_ + 1)) - a_  # both minimizers: 0 and the jump, with equal objective
        h = th.prox_objective(lambda v, _a=a_: th.tl1_penalty(v, _a), np.array([0.0, jump]), t, m)
        assert abs(h[0] - h[1]) <= 1e-12 * h[0]
        assert th.tl1_prox(t * (1 + 1e-9), m, a_) == pytest.approx(jump, rel=1e-3)


def test_exposed_expressions_lambdify():
    f = sp.lambdify((th.x, mu), th.soft_threshold_expr())
    assert f(3.0, 1.0) == 2.0 and f(-3.0, 1.0) == -2.0 and f(0.5, 1.0) == 0.0
    assert sp.lambdify(mu, th.hard_threshold_level_expr())(2.0) == pytest.approx(2.0)
    t_sub, t_sup, mu_c = th.tl1_threshold_exprs()
    assert sp.simplify(t_sub.subs(mu, mu_c) - t_sup.subs(mu, mu_c)) == 0
    g = sp.lambdify((th.x, mu, a), th.tl1_shrink_expr())
    y_ = g(3.0, 0.5, 1.0)
    assert y_ - 3.0 + 0.5 * 1.0 * 2.0 / (1.0 + y_) ** 2 == pytest.approx(0.0, abs=1e-13)


def test_limits_checks_pass():
    c0, cinf = th.verify_tl1_limits(th.tl1_prox)
    assert c0.passed and cinf.passed, (c0.detail, cinf.detail)


@pytest.mark.parametrize("fn,args,name", [(th.soft_threshold, (1.0, 0.0), "mu"), (th.hard_threshold, (1.0, -1.0), "mu"),
                                          (th.tl1_prox, (1.0, 1.0, 0.0), "a"), (th.tl1_threshold, (np.nan, 1.0), "mu")])
def test_bad_parameters_raise(fn, args, name):
    with pytest.raises(ValueError, match=rf"^{name} must be finite and > 0"):
        fn(*args)


# --- mutation tests: wrong formulas through the SAME verifications must fail ------------------------------------
def test_mutation_l0_threshold_sqrt_mu():
    wrong_level = lambda m: np.sqrt(m)  # noqa: E731
    wrong = th.make_hard_threshold(wrong_level)
    assert not th.verify_l0_tie(sp.sqrt(mu)).passed
    assert not th.verify_prox_brute_force(wrong, th.l0_penalty, th._l0_cases(wrong_level), "l0 wrong").passed
    assert not th.verify_threshold_brute_force(wrong_level, th.l0_penalty, [(0.5,), (2.0,)], "l0 wrong").passed


def test_mutation_l0_threshold_at_mu_convention():
    wrong = th.make_hard_threshold(lambda m: m)  # "some libraries threshold at mu": not this convention
    assert not th.verify_prox_brute_force(wrong, th.l0_penalty, th._l0_cases(lambda m: m), "l0 at mu").passed


def test_mutation_l1_wrong_shrinkage():
    wrong = lambda xx, mm: np.sign(xx) * max(abs(xx) - 2 * mm, 0.0)  # noqa: E731  (threshold 2 mu)
    cases = th._l1_cases()
    assert not th.verify_l1_subgradient(wrong, cases, "l1 wrong").passed
    assert not th.verify_prox_brute_force(wrong, th.l1_penalty, cases, "l1 wrong").passed
    sign_err = lambda xx, mm: np.sign(xx) * max(abs(xx) + mm, 0.0) * (abs(xx) > mm)  # noqa: E731
    assert not th.verify_prox_brute_force(sign_err, th.l1_penalty, cases, "l1 sign error").passed


def test_mutation_tl1_gated_on_mu():
    shrink = th._lambdified("tl1")[0]
    wrong = th.make_tl1_prox(shrink, lambda m, a_: m)  # gate |x| > mu (seen in public code)
    pairs, cases = th._tl1_cases(n_pairs=10)
    assert not th.verify_threshold_brute_force(lambda m, a_: m, th.tl1_penalty, pairs, "gate mu").passed
    extra = [(m * (1 + 1e-3), m, a_) for m, a_ in pairs]  # just above mu, below the true threshold
    assert not th.verify_prox_brute_force(wrong, th.tl1_penalty, cases + extra, "gate mu").passed


def test_mutation_tl1_lambda_in_phi():
    # RVSM: mu = lambda/beta; using lambda (= beta mu, beta = 4) inside phi is a bug seen in public code
    g = th.tl1_shrink_expr()
    (phi_arg,) = g.atoms(sp.acos)
    wrong_g = g.subs(phi_arg, sp.acos(phi_arg.args[0].subs(mu, lam)))
    assert not th.verify_tl1_root_symbolic(wrong_g).passed
    _, cases = th._tl1_cases(n_pairs=6)
    kept = [c for c in cases if c[0] > float(th.tl1_threshold(c[1], c[2])) * 1.01]
    assert not th.verify_tl1_root_numeric(wrong_g, kept, extra={lam: 4 * mu}).passed
    f_wrong = sp.lambdify((th.x, mu, a), wrong_g.subs(lam, 4 * mu), "numpy")
    wrong = th.make_tl1_prox(f_wrong, th.tl1_threshold)
    assert not th.verify_prox_brute_force(wrong, th.tl1_penalty, kept, "lambda in phi").passed
    # and the correct root passes the same symbolic check
    assert th.verify_tl1_root_symbolic(g).passed


def test_mutation_tl1_wrong_thresholds():
    t_sub, t_sup, mu_c = th.tl1_threshold_exprs()
    pairs, _ = th._tl1_cases(n_pairs=10)
    wrong_sup = sp.lambdify((mu, a), sp.sqrt(2 * mu * (a + 1)) - a, "numpy")  # dropped the 1/2 on a
    wrong_sub = sp.lambdify((mu, a), mu * (a + 1) / a**2, "numpy")
    ok_sub = sp.lambdify((mu, a), t_sub, "numpy")
    ok_sup = sp.lambdify((mu, a), t_sup, "numpy")
    crit = sp.lambdify(a, mu_c, "numpy")
    sel = lambda fs, fp: lambda m, a_: fs(m, a_) if m <= crit(a_) else fp(m, a_)  # noqa: E731
    assert not th.verify_threshold_brute_force(sel(ok_sub, wrong_sup), th.tl1_penalty, pairs, "wrong sup").passed
    assert not th.verify_threshold_brute_force(sel(wrong_sub, ok_sup), th.tl1_penalty, pairs, "wrong sub").passed
    # using the subcritical threshold in the supercritical regime (no regime switch) also fails
    assert not th.verify_threshold_brute_force(ok_sub, th.tl1_penalty, pairs, "no regime switch").passed


# --- the cancellation-free TL1 shrink: equal to the trigonometric root, and rounding-accurate -------------------
def test_tl1_stable_form_is_in_the_record(records):
    rec = records["derive_prox_tl1"]
    assert "shrink_g_stable" in rec.statement
    names = " | ".join(c.description for c in rec.checks)
    for part in ("half angle", "equals the trigonometric root", "float64: relative error", "float32: relative error"):
        assert part in names


def test_tl1_stable_form_equals_trigonometric_root():
    g_stable = th.tl1_shrink_stable_expr()
    assert th.verify_tl1_shrink_equivalent(g_stable).passed
    assert th.verify_tl1_shrink_equivalent(th.tl1_shrink_expr()).passed  # the reference against itself
    assert th.verify_acos_half_angle().passed
    _, cases = th._tl1_cases(n_pairs=6)
    kept = [c for c in cases if c[0] > float(th.tl1_threshold(c[1], c[2])) * 1.01]
    f = sp.lambdify((th.x, mu, a), g_stable, "numpy")
    g = sp.lambdify((th.x, mu, a), th.tl1_shrink_expr(), "numpy")
    for x_, m_, a_ in kept:  # and numerically: the same values where both are well conditioned
        assert f(abs(x_), m_, a_) == pytest.approx(g(abs(x_), m_, a_), rel=1e-12)


@pytest.mark.parametrize("mutation", ["dropped_4_3", "c_instead_of_c_over_2", "cos_instead_of_sin", "phi_over_3"])
def test_mutation_tl1_stable_form_wrong(mutation):
    """Plausible slips in the half-angle rewrite, through the same symbolic verification (and the root check)."""
    g = th.tl1_shrink_stable_expr()
    (asin_atom,) = g.atoms(sp.asin)
    u = asin_atom.args[0]
    wrong = {
        "dropped_4_3": g.subs(sp.Rational(4, 3), 1),
        "c_instead_of_c_over_2": g.xreplace({asin_atom: sp.asin(sp.sqrt(2) * u)}),  # u^2 = c, not c/2
        "cos_instead_of_sin": g.xreplace({sp.sin(asin_atom / 3): sp.cos(asin_atom / 3)}),
        "phi_over_3": g.xreplace({sp.sin(asin_atom / 3): sp.sin(2 * asin_atom / 3)}),  # phi/3 for phi/6
    }[mutation]
    assert wrong != g
    assert not th.verify_tl1_shrink_equivalent(wrong).passed
    _, cases = th._tl1_cases(n_pairs=6)
    kept = [c for c in cases if c[0] > float(th.tl1_threshold(c[1], c[2])) * 1.01]
    assert not th.verify_tl1_root_numeric(wrong, kept).passed


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mutation_tl1_trigonometric_form_fails_rounding(dtype):
    """The trigonometric root is exact in real arithmetic but cancels in floating point: the rounding verification
    that the stable form passes (in the record) fails on it."""
    cases = th.tl1_rounding_cases(dtype, n_a=6)
    stable = th.lambdify_dtype(th.tl1_shrink_stable_expr(), (th.x, mu, a))
    trig = th.lambdify_dtype(th.tl1_shrink_expr(), (th.x, mu, a))
    assert th.verify_tl1_shrink_rounding(stable, cases, dtype).passed
    chk = th.verify_tl1_shrink_rounding(trig, cases, dtype)
    assert not chk.passed, chk.detail


def test_rounding_verification_rejects_nan_and_promotion():
    cases = th.tl1_rounding_cases(np.float32, n_a=2)[:10]
    stable = th.lambdify_dtype(th.tl1_shrink_stable_expr(), (th.x, mu, a))
    assert not th.verify_tl1_shrink_rounding(lambda x_, m_, a_: stable(x_, m_, a_) * np.nan, cases, np.float32).passed
    promoted = lambda x_, m_, a_: stable(x_.astype(np.float64), m_.astype(np.float64), float(a_))  # noqa: E731
    assert not th.verify_tl1_shrink_rounding(promoted, cases, np.float32).passed


def test_tl1_root_reference_is_the_largest_root():
    for x_, m_, a_ in [(3.0, 0.5, 1.0), (0.5005, 0.4950495049504951, 100.0), (3.6, 5.0, 0.3)]:  # all kept
        g, kappa = th.tl1_root_reference(x_, m_, a_)
        roots = np.roots([1.0, 2 * a_ - x_, a_ * a_ - 2 * a_ * x_, m_ * a_ * (a_ + 1) - x_ * a_ * a_])
        real = roots[np.abs(roots.imag) < 1e-9].real
        assert float(g) == pytest.approx(real.max(), rel=1e-9) and float(kappa) >= 1.0
