"""The check prox_global_minimizer passes on the real operators (both TL1 regimes) and fails on each mutation."""

import pytest

from checks import prox as px
from checks.framework import run_check
from numerics.penalties import tl1_critical_mu


def test_quick_profile_passes():
    res = run_check(px.PROX_GLOBAL_MINIMIZER, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == px.PROX_GLOBAL_MINIMIZER.max_examples["quick"]


@pytest.mark.parametrize("mutation", px.PROX_GLOBAL_MINIMIZER.mutations, ids=lambda m: m.name)
def test_fails_on_mutation(mutation):
    # in the quick profile as it is (the TL1 mutations that are wrong in one regime only passed it before every TL1
    # example covered both regimes)
    res = run_check(px.PROX_GLOBAL_MINIMIZER, "quick", overrides=mutation.overrides)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None


def test_quick_profile_checks_both_tl1_regimes(monkeypatch):
    # Spy on the cases the property evaluates: the quick profile must reach the supercritical regime (before, every
    # TL1 draw of the quick profile landed at or below mu_c) and the subcritical one.
    seen = []
    real = px._prox_outcome

    def spy(ex, ing):
        seen.append(ex)
        return real(ex, ing)

    monkeypatch.setattr(px, "_prox_outcome", spy)
    res = run_check(px.PROX_GLOBAL_MINIMIZER, "quick")
    assert res.passed
    ratios = [c.lam / c.beta / tl1_critical_mu(c.a) for c in seen if c.penalty == "tl1"]
    assert min(ratios) < 1.0 < min(r for r in ratios if r > 1.0)
    assert sum(r > 1.0 for r in ratios) == sum(r <= 1.0 for r in ratios) >= 5


@pytest.mark.parametrize("f", [1e-3, 0.2, 0.99, 1.01, 7.0, 1e3])
def test_mirror_case_lies_in_the_other_regime(f):
    a, beta = 0.7, 0.3
    mu = f * tl1_critical_mu(a)
    t = px.true_threshold("tl1", mu, a)
    ex = px.ProxCase(penalty="tl1", a=a, lam=mu * beta, beta=beta, xs=(0.0, 1.5 * t, -t * (1 + 1e-9)))
    m = px.mirror_case(ex)
    assert m.lam / m.beta == pytest.approx(tl1_critical_mu(a) / f, rel=1e-12)
    assert (m.lam / m.beta <= tl1_critical_mu(a)) != (mu <= tl1_critical_mu(a))
    t_m = px.true_threshold("tl1", m.lam / m.beta, a)
    assert m.xs[0] == 0.0
    assert m.xs[1] == pytest.approx(1.5 * t_m, rel=1e-14) and -m.xs[2] / t_m - 1 == pytest.approx(1e-9, rel=1e-5)


def _case(penalty, mu, a=None, beta=0.5):
    lam = mu * beta
    t = px.true_threshold(penalty, lam / beta, a)
    xs = (0.0, 0.3 * t, -0.9 * t, t * (1 - 1e-9), t * (1 + 1e-9), -t * (1 + 1e-6), 1.7 * t, -4.0 * t, 30.0 * t)
    tie = (px.math.sqrt(2 * lam / beta),) if penalty == "l0" else ()
    return px.ProxCase(penalty=penalty, a=a, lam=lam, beta=beta, xs=xs, tie=tie)


# TL1 with a = 1 has mu_c = 1/4: mu = 0.1 is subcritical (continuous map), mu = 1 supercritical (jump).
CASES = {"l1": _case("l1", 0.3), "l0": _case("l0", 0.3), "tl1_sub": _case("tl1", 0.1, a=1.0),
         "tl1_super": _case("tl1", 1.0, a=1.0)}


def test_explicit_cases_cover_both_tl1_regimes():
    assert CASES["tl1_sub"].lam / CASES["tl1_sub"].beta < tl1_critical_mu(1.0)
    assert CASES["tl1_super"].lam / CASES["tl1_super"].beta > tl1_critical_mu(1.0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_explicit_cases_pass(name):
    out = px._prox_prop(CASES[name], px._ingredients())
    assert out.passed, out.detail


@pytest.mark.parametrize("name,mutation", [("l0", "l0_threshold_sqrt_mu"), ("tl1_super", "tl1_gate_mu"),
                                           ("tl1_super", "tl1_threshold_super_missing_2"),
                                           ("tl1_super", "tl1_threshold_regime_ignored"),
                                           ("tl1_sub", "tl1_threshold_sub_factor_2"), ("l1", "prox_parameter_lam")])
def test_explicit_cases_fail_on_mutation(name, mutation):
    ing = px._ingredients()
    ing.update(px.PROX_GLOBAL_MINIMIZER.mutation(mutation).overrides)
    out = px._prox_outcome(CASES[name], ing)
    assert not out.passed, out.detail


@pytest.mark.parametrize("name,mutation", [("tl1_sub", "tl1_gate_mu"), ("tl1_sub", "tl1_threshold_super_missing_2"),
                                           ("tl1_sub", "tl1_threshold_regime_ignored"),
                                           ("tl1_super", "tl1_threshold_sub_factor_2")])
def test_one_regime_mutations_are_invisible_in_the_other_regime(name, mutation):
    # Why the quick profile must reach both regimes: each of these mistakes leaves the operator right in the other
    # regime. (tl1_gate_mu: below a continuous threshold t = mu (a+1)/a the shrink's cubic root is <= 0 and is clamped
    # to 0, so gating on |x| > mu gives the same operator there.) The property checks the mirror case too, so it
    # catches each of them from either case.
    ing = px._ingredients()
    ing.update(px.PROX_GLOBAL_MINIMIZER.mutation(mutation).overrides)
    assert px._prox_outcome(CASES[name], ing).passed
    assert not px._prox_prop(CASES[name], ing).passed


def test_tie_goes_to_zero():
    # prox(x) = x at the exact l0 tie x = sqrt(2 mu) attains the minimum value too: only the tie rule catches it.
    ing = px._ingredients()
    ing["l0_prox"] = lambda x, mu: px.np.where(px.np.abs(x) >= px.np.sqrt(2 * mu), x, 0.0)
    out = px._prox_prop(CASES["l0"], ing)
    assert out.discrepancy == float("inf") and "tie" in out.detail
