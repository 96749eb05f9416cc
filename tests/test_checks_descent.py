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


@pytest.mark.parametrize("mutation", ds.LAGRANGIAN_NONINCREASING.mutations, ids=lambda m: m.name)
def test_fails_on_mutation(mutation):
    res = run_check(ds.LAGRANGIAN_NONINCREASING, overrides=mutation.overrides, max_examples=6)
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


def test_quadratic_upper_bound_holds_globally_with_the_constant_at_the_teacher():
    # The reason the check may start near 0: l - (L/2)|w|^2 is concave, so l(y) <= l(x) + grad(x).(y-x) + L/2 |y-x|^2
    # for all x != 0 with L = lipschitz_estimate (the largest Hessian eigenvalue at w*), also where grad l is not
    # Lipschitz. A constant 10% smaller violates the bound (near w*, along w*, the curvature is exactly L).
    from numerics import population

    rng = np.random.default_rng(5)
    worst = {1.0: -np.inf, 0.9: -np.inf}
    for k in (1, 2, 5, 13):
        ws = rng.standard_normal(4)
        L = float(population.lipschitz_estimate(ws, k))
        n = np.linalg.norm(ws)
        x = np.concatenate([rng.standard_normal((300, 4)) * n * 10.0 ** rng.uniform(-3, 0.5, (300, 1)),
                            ws * (1 + 1e-2 * rng.standard_normal((50, 1)))])
        y = np.concatenate([rng.standard_normal((300, 4)) * n, x[300:] + 1e-2 * n * ws / n])
        lx, ly, gx = population.loss(x, ws, k), population.loss(y, ws, k), population.grad(x, ws, k)
        for c in worst:
            excess = ly - lx - np.sum(gx * (y - x), axis=1) - 0.5 * c * L * np.sum((y - x) ** 2, axis=1)
            worst[c] = max(worst[c], float(np.max(excess / (1.0 + n * n))))
    assert worst[1.0] <= 1e-14
    assert worst[0.9] > 1e-8
