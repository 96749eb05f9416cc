"""theory.penalty_machinery: every registered penalty is derived and verified from P alone, and each verification
fails on a plausible wrong candidate."""

import math

import pytest
import sympy as sp

from theory import penalty_machinery as pm
from theory import registry
from theory import thresholding as th
from theory.symbols import mu

ALL = ["l1", "l0", "tl1", "mcp", "scad", "l_half", "log_sum"]  # 0.1-3.5 s each (TL1 the slowest)


@pytest.mark.parametrize("name", ALL)
def test_derivation_verified(name):
    der = pm.derive_penalty(name)
    assert der.verified, [c for c in der.checks if not c.passed]
    assert len(der.checks) >= 7


def test_general_statements_verified():
    for der in (pm.derive_penalty_machinery(), pm.derive_limit_map_general()):
        assert der.verified, [c for c in der.checks if not c.passed]


def test_registered():
    for name in ["penalty_machinery", "limit_map_general", *(f"penalty_{n}" for n in pm.SPECS)]:
        assert name in registry.DERIVATIONS
        registry.get(name)


def test_how_each_equation_was_solved():
    # closed forms where SymPy finds one, a bracketed numeric root where it cannot (the log-sum threshold)
    assert pm.derived("log_sum").crit_how == ("numeric",)
    assert pm.derived("log_sum").branch_how[0].startswith("sympy.solve (degree 2")
    assert pm.derived("tl1").branch_how[0].startswith("trigonometric")
    assert pm.derived("l_half").branch_how[0].endswith("cubic in v")
    assert pm.derived("l1").T0 == mu


@pytest.mark.parametrize(("name", "values", "mu_", "t", "jump"), [
    ("l1", {}, 0.3, 0.3, 0.0),
    ("l0", {}, 0.5, 1.0, 1.0),
    ("l_half", {}, 0.008, 1.5 * 0.04, 0.04),
    ("mcp", {pm.gamma: 2.0}, 0.5, 0.5, 0.0),
    ("mcp", {pm.gamma: 2.0}, 8.0, 4.0, 4.0),
    ("scad", {pm.a_s: 3.0}, 2.5, 2.5, 0.0),
    ("scad", {pm.a_s: 3.0}, 9.0, 6.0, 6.0),
    ("tl1", {pm.a_s: 1.0}, 1.0, 1.5, 1.0),
    ("log_sum", {pm.eps: 1.0}, 0.5, 0.5, 0.0),
])
def test_threshold_and_jump_by_hand(name, values, mu_, t, jump):
    # values computed by hand from T(y) = mu P(y)/y + y/2: e.g. MCP gamma = 2, mu = 8 >= gamma: T = 8 (gamma/2)/y +
    # y/2 on the flat part, minimum at y = sqrt(8 * 2) = 4 with T = 4; SCAD a = 3, mu = 9 > a + 1: T = 9 * 2/y + y/2
    # on the flat part, y = 6, T = 6; TL1 a = 1, mu = 1 > mu_c = 1/4: (1 + y)^2 = 2 mu (a + 1) = 4, y = 1, t = 1.5
    got_t, got_y = pm.derived(name).threshold(mu_, values)
    assert got_t == pytest.approx(t, rel=1e-10)
    assert got_y == pytest.approx(jump, rel=1e-9, abs=1e-12)


def test_log_sum_supercritical_threshold_is_a_verified_bracketed_root():
    # eps = 1, mu = 2: the jump y* solves log(1 + y) - y/(1 + y) = y^2/4; the threshold is T(y*) < mu/eps = 2
    t, ys = pm.derived("log_sum").threshold(2.0, {pm.eps: 1.0})
    assert math.log1p(ys) - ys / (1 + ys) == pytest.approx(ys * ys / 4, rel=1e-12)
    assert t == pytest.approx(2 * math.log1p(ys) / ys + ys / 2, rel=1e-13) and t < 2.0
    roots = pm.bracketed_roots(lambda v: v * v - 2.0, 1e-3, 10.0)
    assert len(roots) == 1 and roots[0][1] <= math.sqrt(2) <= roots[0][2]


# -- mutations: each verification fails on a plausible wrong candidate -----------------------------------------------
def test_wrong_branch_root_fails():
    dp = pm.derived("mcp")
    values = {pm.gamma: 3.0}
    cases = [(1.5, 0.5), (2.0, 1.0)]
    assert pm.verify_branch_roots(dp, values, cases).passed
    # soft thresholding (the l1 branch) is not the MCP branch
    assert not pm.verify_branch_roots(dp, values, cases, branches=lambda xx, m: [xx - m]).passed
    assert not pm.verify_branch_roots(dp, values, cases, branches=lambda xx, m: [math.nan]).passed


def test_wrong_threshold_fails_brute_force():
    dp = pm.derived("l_half")
    ok = pm.verify_threshold_formula(lambda m, v: 1.5 * m ** (2 / 3), dp, {}, "right")
    # Xu et al.'s threshold with their lam' = mu (the factor 2 of the other convention dropped)
    wrong = pm.verify_threshold_formula(lambda m, v: 54 ** (1 / 3) / 4 * m ** (2 / 3), dp, {}, "wrong convention")
    assert ok.passed and not wrong.passed


def test_wrong_claimed_forms_fail():
    dp = pm.derived("mcp")
    values = {pm.gamma: 3.0}
    assert pm.verify_claimed_threshold(dp, values).passed
    # MCP threshold without the regime change (firm thresholding's mu for every mu)
    assert not pm.verify_claimed_threshold(dp, values, claim=lambda m, v: m).passed
    cases = [(1.5, 0.5), (2.5, 1.0), (2.9, 2.0)]
    assert pm.verify_claimed_shrink(dp, values, cases).passed
    x, g = pm.x, pm.gamma
    assert not pm.verify_claimed_shrink(dp, values, cases, claim=g * (x - mu) / (g + mu)).passed


def test_wrong_tie_fails():
    dp = pm.derived("l0")
    assert pm.verify_tie(dp, {}).passed
    # the l0 threshold of the other convention (sqrt(mu)): at x = sqrt(mu) the objectives do not tie
    assert not pm.verify_tie(dp, {}, threshold=lambda m: (math.sqrt(m), math.sqrt(m))).passed


def test_non_monotone_prox_fails():
    good = pm.verify_monotone(lambda xx, m: th.soft_threshold(xx, m), [0.1, 1.0], "soft")
    bad = pm.verify_monotone(lambda xx, m: th.soft_threshold(xx, m) if xx < 2 else 0.5, [0.1, 1.0], "drops")
    assert good.passed and not bad.passed


def test_spec_value_matches_expression():
    spec = pm.SPECS["scad"]
    f = spec.value_fn({pm.a_s: 3.7})
    for v, ref in [(0.5, 0.5), (2.0, float((2 * 3.7 * 2 - 4 - 1) / (2 * 2.7))), (5.0, 4.7 / 2), (-0.5, 0.5)]:
        assert float(f(v)) == pytest.approx(ref, rel=1e-14)
    assert float(f(0.0)) == 0.0
    assert sp.simplify(spec.pieces[1][0].subs(pm.y, 1) - 1) == 0  # continuous at the knee
