"""The check lagrangian_nonincreasing passes along RVSM and fails on the wrong-mu and coupling-sign mutations."""

import numpy as np
import pytest

from checks import descent as ds
from checks.framework import run_check
from checks.strategies import Instance


def test_quick_profile_passes():
    res = run_check(ds.LAGRANGIAN_NONINCREASING, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == ds.LAGRANGIAN_NONINCREASING.max_examples["quick"]


@pytest.mark.parametrize("mutation", sorted(ds.MUTATIONS))
def test_fails_on_mutation(mutation):
    res = run_check(ds.LAGRANGIAN_NONINCREASING, overrides=ds.MUTATIONS[mutation], max_examples=6)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None


@pytest.mark.parametrize("penalty,a", [("l1", None), ("l0", None), ("tl1", 0.7)])
def test_reference_loop_reproduces_rvsm(penalty, a):
    # The coupling-sign mutation is the reference loop with one sign flipped: with the right sign it must be RVSM.
    inst = Instance(d=3, k=4, w_star=(1.0, -0.3, 0.0), penalty=penalty, a=a, lam=0.05, beta=0.4, eta=0.8,
                    w0=(0.2, 0.9, -0.5))
    starts = np.array([inst.w0, (-0.4, 0.1, 0.8)])
    real = ds.run_lagrangian(inst, inst.make_penalty(), starts, 50)
    ref = ds.reference_lagrangian(inst, inst.make_penalty(), starts, 50)
    np.testing.assert_allclose(ref, real, rtol=1e-12, atol=1e-15)
