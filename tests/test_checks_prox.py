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
    res = run_check(px.PROX_GLOBAL_MINIMIZER, overrides=mutation.overrides, max_examples=15)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None


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
                                           ("l1", "prox_parameter_lam")])
def test_explicit_cases_fail_on_mutation(name, mutation):
    ing = px._ingredients()
    ing.update(px.PROX_GLOBAL_MINIMIZER.mutation(mutation).overrides)
    out = px._prox_prop(CASES[name], ing)
    assert not out.passed, out.detail


def test_gate_mu_is_harmless_in_the_subcritical_regime():
    # Observed, and explained: below a continuous threshold t = mu (a+1)/a the shrink's cubic root is <= 0 and is
    # clamped to 0, so gating on |x| > mu gives the same operator there; the mistake shows in the jump regime only.
    ing = px._ingredients()
    ing.update(px.PROX_GLOBAL_MINIMIZER.mutation("tl1_gate_mu").overrides)
    assert px._prox_prop(CASES["tl1_sub"], ing).passed


def test_tie_goes_to_zero():
    # prox(x) = x at the exact l0 tie x = sqrt(2 mu) attains the minimum value too: only the tie rule catches it.
    ing = px._ingredients()
    ing["l0_prox"] = lambda x, mu: px.np.where(px.np.abs(x) >= px.np.sqrt(2 * mu), x, 0.0)
    out = px._prox_prop(CASES["l0"], ing)
    assert out.discrepancy == float("inf") and "tie" in out.detail
