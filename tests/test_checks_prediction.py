"""The check predict_certifies_fixed_point passes on numerics.predict and fails on each mutation; its independent
verification accepts genuine fixed points and rejects nearby points."""

import numpy as np
import pytest

import numerics as nm
from checks import prediction as pc
from checks.framework import run_check


def test_quick_profile_passes():
    res = run_check(pc.PREDICT_CERTIFIES_FIXED_POINT, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == pc.PREDICT_CERTIFIES_FIXED_POINT.max_examples["quick"]
    assert res.worst < 0.1  # rounding-level residuals, far inside the tolerances


@pytest.mark.parametrize("mutation", pc.PREDICT_CERTIFIES_FIXED_POINT.mutations, ids=lambda m: m.name)
def test_fails_on_mutation(mutation):
    res = run_check(pc.PREDICT_CERTIFIES_FIXED_POINT, "quick", overrides=mutation.overrides)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None


CASE = pc.FixedPointCase(d=3, k=4, w_star=(1.0, -0.3, 0.05), penalty="l1", a=None, lam=0.01, beta=0.5,
                         support=(False, True, True), seed=0)


def test_verification_accepts_the_predicted_fixed_point_and_rejects_perturbed_ones():
    problem = CASE.problem()
    pred = nm.predict(problem)
    assert bool(pred.ok)
    w, u = np.asarray(pred.w), np.asarray(pred.u)
    assert max(pc.verify_fixed_point(problem, w, u).values()) <= 1e-2
    assert pc.recomputed_residual(problem, w) == pytest.approx(float(pred.residual), abs=1e-15)
    w_p = w + 1e-6 * np.array([0.0, 1.0, 0.0])
    assert pc.verify_fixed_point(problem, w_p, np.asarray(problem.penalty.prox(w_p, problem.mu)))["stationarity"] > 1
    assert pc.verify_fixed_point(problem, w, u + np.array([1e-6, 0.0, 0.0]))["u = prox(w)"] > 1


def test_a_drawn_support_that_is_no_fixed_point_is_declined():
    # The third coordinate is zeroed at the free prediction; forcing it kept gives a converged (s, q) whose point is
    # not a fixed point: ok must be False there, and it is what the ok_ignores_consistency mutation misreports.
    problem = CASE.problem()
    free = nm.predict(problem)
    assert not bool(free.support[2])
    forced = nm.predict(problem, support=np.array(CASE.support))
    assert bool(forced.converged) and not bool(forced.ok)
    v = pc.verify_fixed_point(problem, np.asarray(forced.w), np.asarray(forced.u))
    assert v["u = prox(w)"] > 1
    out = pc._prop(CASE, {"predict": pc.PREDICT_CERTIFIES_FIXED_POINT.mutation("ok_ignores_consistency")
                          .overrides["predict"]})
    assert not out.passed and "drawn support: u = prox(w)" in out.detail
    assert pc._prop(CASE, pc._ingredients()).passed
