"""The angle checks pass their quick profile, and each documented mutation makes its check fail."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import strategies as st

from checks import angle
from checks.framework import run_check
from checks.strategies import Instance

#: Strategy per mutation. prox_push_kept_branch_only shows only where RVSM meets a strong l0 push, which about one
#: quick example in ten is (and which examples Hypothesis generates was seen to depend on what the process imported
#: before), so it runs on l0 instances with sparse teachers, where ~44% of strong-push cases break part (b).
_MUTATION_STRATEGY = {
    "grad_cross_term_sign": angle.ANGLE_BEHAVIOUR.strategy,
    "prox_push_kept_branch_only": lambda profile: angle._cases(profile, penalties=("l0",), teacher_kinds=("sparse",)),
}

#: A strong-push case (l0, lam = frac * lam_max): with the true D(mu) the small-push regime gives lam ~ 1e-5 and the
#: angle stays below pi - delta; with the kept-branch-only D (0 for l0) it gives lam = 1 and the angle exceeds it.
_STRONG_PUSH_CASE = (Instance(d=2, k=1, w_star=(1.0, 2.0), penalty="l0", a=None, lam=math.nan, beta=1.0, eta=0.5,
                              w0=(1.1426396637476535, -1.922075596544176)), 1.0, 1.0)


def test_quick_profile_passes():
    res = run_check(angle.ANGLE_BEHAVIOUR, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == angle.ANGLE_BEHAVIOUR.max_examples["quick"]


@pytest.mark.parametrize("mutation", angle.ANGLE_BEHAVIOUR.mutations, ids=lambda m: m.name)
def test_mutation_fails(mutation):
    spec = dataclasses.replace(angle.ANGLE_BEHAVIOUR, strategy=_MUTATION_STRATEGY[mutation.name])
    res = run_check(spec, "quick", overrides=mutation.overrides, max_examples=10)
    assert not res.passed
    assert res.falsifying is not None and res.error is None


def test_every_mutation_has_a_strategy():
    assert {m.name for m in angle.ANGLE_BEHAVIOUR.mutations} == set(_MUTATION_STRATEGY)


def test_part_b_rests_on_the_prox_push_ingredient():
    # the same fixed case: passes with the true D(mu), fails (part (b): angle above pi - delta) with the mutated one
    spec = dataclasses.replace(angle.ANGLE_BEHAVIOUR, strategy=lambda profile: st.just(_STRONG_PUSH_CASE))
    good = run_check(spec, "quick", max_examples=1)
    assert good.passed, good.worst_detail
    bad = run_check(spec, "quick", overrides=angle.ANGLE_BEHAVIOUR.mutation("prox_push_kept_branch_only").overrides,
                    max_examples=1)
    assert not bad.passed and bad.error is None
    assert "RVSM (lam = 1)" in bad.worst_detail and "max angle - (pi - delta) = 0.2" in bad.worst_detail


@pytest.mark.parametrize("penalty, a", [("l1", None), ("l0", None), ("tl1", 0.3), ("tl1", 4.0)])
@pytest.mark.parametrize("mu", [1e-3, 0.05, 0.8])
def test_max_prox_displacement_is_the_sup(penalty, a, mu):
    # brute force on a fine grid: sup_x |x - prox_mu(x)| <= D(mu) (relative 1e-12: rounding of the prox). Where D is
    # the sup (l1, l0, subcritical TL1: mu <= a^2/(2(a+1)), D = threshold = mu (a+1)/a) the grid comes within two
    # grid spacings of it (x - prox(x) is 1-Lipschitz on each branch); supercritical TL1 kept outputs start at
    # u_start > 0, so there D = mu rho'(0) is only a bound.
    inst = Instance(d=2, k=1, w_star=(1.0, 1.0), penalty=penalty, a=a, lam=mu, beta=1.0, eta=0.1, w0=(1.0, 0.0))
    d_mu = angle.max_prox_displacement(inst, mu)
    xs = np.linspace(-4.0, 4.0, 800_001)
    disp = np.abs(xs - np.asarray(inst.make_penalty().prox(xs, mu)))
    assert disp.max() <= d_mu * (1 + 1e-12)
    if penalty != "tl1" or mu <= a**2 / (2 * (a + 1)):
        assert disp.max() >= d_mu - 2 * (xs[1] - xs[0])
