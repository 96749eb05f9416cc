"""The limit_map checks pass their quick profile, and each documented mutation makes its check fail."""

import numpy as np
import pytest

from checks import limit_map
from checks.framework import run_check

_SPECS = {s.name: s for s in (limit_map.LIMIT_MATCHES_PREDICTION, limit_map.NO_FALSE_POSITIVES)}

_CASES = [(name, mut) for name, spec in _SPECS.items() for mut in spec.mutations]


@pytest.mark.parametrize("name", sorted(_SPECS))
def test_quick_profile_passes(name):
    res = run_check(_SPECS[name], "quick")
    assert res.passed, (res.falsifying, res.error)
    # limit_matches_prediction rejects examples outside the predictor's scope (see checks.limit_map)
    assert res.examples >= _SPECS[name].max_examples["quick"] // 2


@pytest.mark.parametrize(("name", "mutation"), _CASES, ids=lambda v: v if isinstance(v, str) else v.name)
def test_mutation_fails(name, mutation):
    res = run_check(_SPECS[name], "quick", overrides=mutation.overrides, max_examples=10)
    assert not res.passed
    assert res.falsifying is not None and res.error is None


# A finding of the thorough profile: the unconditional "no false positives" fails for l0 at a q = 0 limit.
_FALSE_POSITIVE_CASE = dict(d=2, k=3, w_star=(0.0, 1.0), penalty="l0", a=None, lam=0.1, beta=1.0,
                            eta=0.6470230787261902, w0=(0.9092974268256817, -0.4161468365471424))


def test_l0_false_positive_exists_at_a_q_zero_fixed_point():
    import numerics as nm
    from checks.strategies import Instance
    from numerics import population

    inst = Instance(**_FALSE_POSITIVE_CASE)
    res = nm.run(nm.Problem(inst.teacher, inst.k, "l0", inst.lam, inst.beta), inst.start, eta=inst.eta,
                 iters=50_000, tol=1e-14)
    w, u = np.asarray(res.w), np.asarray(res.u)
    assert bool(res.converged)
    assert abs(u[0]) > 0.5  # a false positive: w*_0 = 0 but u_0 != 0
    q, _ = population.gradient_coefficients(w, inst.teacher, inst.k)
    assert abs(float(q)) < 1e-12  # ... which the fixed-point equations allow only at q = 0
    residual = population.grad(w, inst.teacher, inst.k) + inst.beta * (w - u)
    assert np.max(np.abs(residual)) < 1e-12  # a genuine fixed point of RVSM


def test_corrected_no_false_positive_check_accepts_it_and_still_catches_leaks():
    from checks.framework import replay
    from checks.strategies import Instance

    inst = Instance(**_FALSE_POSITIVE_CASE)
    assert replay("no_false_positives", inst).passed
    leaky = limit_map.NO_FALSE_POSITIVES.mutation("leaky_identity_prox").overrides
    sparse_ok = Instance(d=3, k=2, w_star=(1.0, 0.0, -0.5), penalty="l1", a=None, lam=0.01, beta=0.5, eta=0.5,
                         w0=(0.8, 0.3, -0.2))
    assert replay("no_false_positives", sparse_ok).passed
    assert not replay("no_false_positives", sparse_ok, leaky).passed
