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


# ---------------------------------------------------------------------------------------------------------------
# The smaller TL1 root is a stable limit; the check accepts exactly the stable fixed points.
def test_smaller_root_limit_passes_the_real_check_and_fails_the_mutations():
    from checks.framework import replay

    spec = limit_map.LIMIT_MATCHES_PREDICTION
    inst = limit_map.SMALLER_ROOT_LIMIT
    out = replay("limit_matches_prediction", inst)
    assert out.passed and "smaller root at [0]" in out.detail, out.detail
    only_larger = replay("limit_matches_prediction", inst, spec.mutation("only_larger_root").overrides)
    assert not only_larger.passed and "declines" in only_larger.detail
    frozen = replay("limit_matches_prediction", inst, spec.mutation("frozen_sq_stability").overrides)
    assert not frozen.passed and "calls unstable" in frozen.detail


def test_unstable_smaller_root_is_not_accepted_as_stable():
    from checks.framework import replay

    spec = limit_map.LIMIT_MATCHES_PREDICTION
    inst = limit_map.TL1_UNSTABLE_SMALLER_ROOT
    assert replay("limit_matches_prediction", inst).passed
    accepts = replay("limit_matches_prediction", inst, spec.mutation("prox_slope_one").overrides)
    assert not accepts.passed and "smaller root stable" in accepts.detail


def test_a_declining_predictor_in_scope_fails_instead_of_being_rejected():
    # a predictor that declines (ok False) at a limit with k q > 1e-3 is a failure, not a skip
    import dataclasses

    import numerics as nm
    from checks.framework import replay
    from checks.strategies import Instance

    def declining(problem, **kw):
        p = nm.predict(problem, **kw)
        return dataclasses.replace(p, converged=np.zeros_like(p.converged))

    l1 = Instance(d=3, k=2, w_star=(1.0, -0.5, 0.3), penalty="l1", a=None, lam=0.01, beta=0.5, eta=0.5,
                  w0=(0.8, -0.3, 0.2))
    for inst in (l1, limit_map.SMALLER_ROOT_LIMIT):
        assert replay("limit_matches_prediction", inst).passed
        out = replay("limit_matches_prediction", inst, {"predict": declining})  # returns: no rejection raised
        assert not out.passed and "declines" in out.detail


def test_wrong_threshold_in_one_regime_is_caught_by_the_quick_profile():
    spec = limit_map.LIMIT_MATCHES_PREDICTION
    res = run_check(spec, "quick", overrides=spec.mutation("tl1_threshold_without_factor").overrides)
    assert not res.passed and res.error is None and "declines" in res.falsifying


def test_branch_edge_placement_puts_the_coordinate_at_the_edge():
    import numerics as nm

    # (a, lam, beta): subcritical without band (mu_bar < mu_c: the kept edge is the prox's threshold), subcritical
    # with band (the kept edge is the fold u_c of X), supercritical
    folds = 0
    for a, lam, beta in ((5.0, 0.02, 0.5), (0.5, 0.02, 0.5), (0.3, 0.02, 0.5)):
        for branch, offset in (("zeroed", 0.01), ("kept", 0.01)):
            ws = limit_map.place_at_branch_edge((1.0, -0.8, 0.6), 3, a, lam, beta, 1, branch, offset)
            problem = nm.Problem(np.asarray(ws), 3, "tl1", lam, beta, a=a)
            sup = np.asarray(nm.predict(problem).support).copy()
            sup[1] = branch == "kept"
            p = nm.predict(problem, support=sup)
            assert bool(p.ok), (a, branch)
            thr = float(problem.penalty.threshold(problem.mu))
            ratio = abs(float(p.w[1])) / thr
            u_c = (2 * float(p.mu_bar) * a * (a + 1)) ** (1 / 3) - a
            # three placement rounds at a moving (s, q): near, not exactly at, the target
            if branch == "zeroed":
                assert abs(ratio - (1 - offset)) < 2e-3, (a, branch, ratio)
            else:  # at the prox's threshold, or (in a band) at the fold u_c of X: r |w*_i| = X(u_c) (1 + offset)
                x_c = u_c + float(p.mu_bar) * a * (a + 1) / (a + u_c) ** 2
                # (mu_bar moves with q between the rounds, and the fold with it: inside, within a few offsets)
                at_fold = u_c > 0 and 1.0 < float(p.r) * abs(ws[1]) / x_c < 1 + 3 * offset
                assert abs(ratio - (1 + offset)) < 2e-3 or at_fold, (a, branch, ratio)
                folds += at_fold
    assert folds >= 1  # the band cases


def test_symmetric_start_is_judged_within_its_invariant_subspace():
    from checks.framework import replay

    out = replay("limit_matches_prediction", limit_map.SYMMETRIC_START)
    assert out.passed and "within the start symmetry (1 of 2 dims)" in out.detail, out.detail
