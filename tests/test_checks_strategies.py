"""The instance strategies produce valid instances, place near-threshold coordinates near the limit map's edge,
and never build a NaN teacher."""

import numpy as np
from hypothesis import given, settings

import numerics as nm
from checks.strategies import Instance, instances, place_near_threshold


@settings(max_examples=25, deadline=None, derandomize=True)
@given(instances(teacher_kinds=("near_threshold",)))
def test_instances_are_valid(inst: Instance):
    assert np.all(np.isfinite(inst.teacher)) and np.any(inst.teacher != 0)
    assert len(inst.w_star) == len(inst.w0) == inst.d
    assert 0 < inst.eta < inst.stable_step()
    assert (inst.a is not None) == (inst.penalty == "tl1")


def test_l1_placement_lands_near_the_kept_edge():
    # l1 keeps coordinate i iff r |w*_i| > mu_bar: after placement at (1 + offset) * mu_bar / r, the predicted
    # support follows the sign of the offset.
    for offset, kept in ((0.05, True), (-0.05, False)):
        w = place_near_threshold((1.0, -0.7, 0.5), 3, "l1", None, 0.02, 0.5, 2, offset, 0)
        pred = nm.predict(nm.Problem(np.asarray(w), 3, "l1", 0.02, 0.5))
        assert bool(pred.support[2]) is kept
        edge = float(pred.mu_bar) / float(pred.r)
        assert abs(abs(w[2]) / edge - (1 + offset)) < 1e-2


def test_placement_declines_outside_the_predictor_scope():
    # Large lam k: the predictor's q <= 0 or its prediction is no fixed point (ok False), and the edge is undefined
    # (seen: a NaN teacher before the q guard; a teacher moved to the edge of an inconsistent (s, q) before the ok one).
    w = (-1.958, 0.5, -1.703, -0.931, 0.99999, -0.544)
    assert place_near_threshold(w, 13, "l1", None, 0.1, 0.1, 4, 0.01, 0) is None
