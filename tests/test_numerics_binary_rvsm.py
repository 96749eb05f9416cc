"""numerics.run with the binarized network's gradient sources (ExpectedCoarse, SampledCoarse) and
numerics.predict_binary.

The engine is compared with the plain NumPy loop of test_numerics_binary_limits.py (written independently of rvsm),
its limits with the predictor, and its sampled coarse gradient with numerics.binary.coarse_grad on the same samples.
"""

from __future__ import annotations

import numpy as np
import pytest

import numerics as nm
from numerics import binary, model, penalties
from tests.test_numerics_binary_limits import iterate, teachers

K, D, B = 4, 8, 12


@pytest.mark.parametrize("ste", ["relu", "identity"])
@pytest.mark.parametrize("normalize", [True, False])
def test_population_run_equals_plain_loop(ste, normalize):
    rng = np.random.default_rng(20)
    ws = teachers(rng, n=B, d=D)
    w0 = rng.standard_normal((B, D))
    pen = penalties.get_penalty("l1")
    # without normalization |w| shrinks to O(eta c), where the angle dynamics amplifies rounding (the engine computes
    # the step as (1 - eta (q + beta)) w + eta s w* + eta beta u): compare before that regime
    iters = 300 if normalize else 12
    r = nm.run(nm.Problem(ws, K, "l1", 0.01, 0.3), w0, eta=0.5, iters=iters,
               gradient=nm.ExpectedCoarse(ste=ste, normalize=normalize))
    w, u, _ = iterate(ws, K, pen, 0.01, 0.3, 0.5, w0, iters, ste, normalize=normalize)
    np.testing.assert_allclose(r.w, w, rtol=0, atol=1e-13)
    np.testing.assert_allclose(r.u, u, rtol=0, atol=1e-13)


@pytest.mark.parametrize("ste", ["relu", "identity"])
def test_unnormalized_run_ends_on_the_two_cycle(ste):
    rng = np.random.default_rng(24)
    ws = teachers(rng, n=B, d=D)
    lam, beta, eta = 0.01, 0.1, 0.5
    r = nm.run(nm.Problem(ws, K, "l1", lam, beta), rng.standard_normal((B, D)), eta=eta, iters=4000,
               gradient=nm.ExpectedCoarse(ste=ste))
    rho = eta * binary.coarse_coefficient(K, ste) / (2 - eta * beta)
    w = np.asarray(r.w)
    assert np.all(np.asarray(r.u) == 0)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), rho, rtol=1e-9)
    es = ws / np.linalg.norm(ws, axis=1, keepdims=True)
    np.testing.assert_allclose(np.sum(w * es, axis=1) / np.linalg.norm(w, axis=1), 1 - eta * beta / 2, rtol=1e-9)


@pytest.mark.parametrize("name,a", [("l1", None), ("l0", None), ("tl1", 1.0)])
def test_normalized_run_reaches_predicted_limit(name, a):
    rng = np.random.default_rng(21)
    ws = teachers(rng, n=B, d=D)
    lam, beta = 0.005, 0.1
    problem = nm.Problem(ws, K, name, lam, beta, a=a)
    r = nm.run(problem, rng.standard_normal((B, D)), eta=1.0, iters=20000, tol=1e-15,
               gradient=nm.ExpectedCoarse(normalize=True))
    u = np.asarray(r.u)
    p = nm.predict_binary(problem, support=u != 0)
    assert isinstance(p, nm.BinaryLimitPrediction)
    assert np.all(p.ok)
    assert np.max(np.abs(u - p.u)) < 1e-8
    np.testing.assert_allclose(np.linalg.norm(r.w, axis=1), 1.0, atol=1e-14)
    if name != "l0":  # unique limit: also without the reached support
        q = nm.predict_binary(problem)
        assert np.max(np.abs(u - q.u)) < 1e-8
    # mutation: the ReLU-network predictor (a different model) is rejected by the same comparison
    wrong = nm.predict(problem)
    assert np.max(np.abs(u - wrong.u)) > 1e-3


@pytest.mark.parametrize("ste", ["relu", "identity"])
def test_empirical_run_equals_loop_with_sampled_coarse_gradient(ste):
    rng = np.random.default_rng(22)
    ws = teachers(rng, n=5, d=D)
    w0 = rng.standard_normal((5, D))
    Z = model.sample_patches(400, K, D, seed=3)
    r = nm.run(nm.Problem(ws, K, "l1", 0.01, 0.3), w0, eta=0.5, iters=50, record_every=25,
               gradient=nm.SampledCoarse(samples=Z, ste=ste, normalize=True))
    pen = penalties.get_penalty("l1")
    y = binary.labels(Z, ws)  # (N, B)
    w = w0 / np.linalg.norm(w0, axis=1, keepdims=True)
    u = pen.prox(w, 0.01 / 0.3)
    for _ in range(50):
        g = np.stack([binary.coarse_grad(w[b], Z, y[:, b], ste) for b in range(5)])
        w = w - 0.5 * (g + 0.3 * (w - u))
        w = w / np.linalg.norm(w, axis=1, keepdims=True)
        u = pen.prox(w, 0.01 / 0.3)
    np.testing.assert_allclose(r.w, w, rtol=0, atol=1e-12)
    # the history's Lagrangian uses the binary empirical loss
    emp = np.array([float(binary.empirical_loss(w[b], Z, y[:, b])) for b in range(5)])
    lag = emp + 0.01 * np.abs(u).sum(1) + 0.15 * np.sum((w - u) ** 2, axis=1)
    np.testing.assert_allclose(np.asarray(r.history.lagrangian)[-1], lag, rtol=1e-12)


def test_backends(backend):
    xp = backend.xp
    rng = np.random.default_rng(23)
    ws, w0 = teachers(rng, n=4, d=5), rng.standard_normal((4, 5))
    coarse = nm.ExpectedCoarse(ste="identity", normalize=True)
    ref = nm.run(nm.Problem(ws, 3, "tl1", 0.01, 0.3, a=1.0), w0, eta=0.5, iters=40, gradient=coarse)
    got = nm.run(nm.Problem(backend.asarray(ws), 3, "tl1", 0.01, 0.3, a=1.0), backend.asarray(w0), eta=0.5,
                 iters=40, gradient=coarse)
    assert got.w.dtype == xp.float64
    np.testing.assert_allclose(backend.to_numpy(got.w), ref.w, rtol=0, atol=1e-13)
    Zn = model.sample_patches(100, 3, 5, seed=1)
    ref = nm.run(nm.Problem(ws, 3, "l1", 0.01, 0.3), w0, eta=0.5, iters=20,
                 gradient=nm.SampledCoarse(samples=Zn, normalize=True))
    got = nm.run(nm.Problem(backend.asarray(ws), 3, "l1", 0.01, 0.3), backend.asarray(w0), eta=0.5, iters=20,
                 gradient=nm.SampledCoarse(samples=backend.asarray(Zn), normalize=True))
    np.testing.assert_allclose(backend.to_numpy(got.w), ref.w, rtol=0, atol=1e-12)


def test_validation():
    problem = nm.Problem(np.ones(3), 2, "l1", 0.1, 1.0)
    with pytest.raises(ValueError, match="ste"):
        nm.ExpectedCoarse(ste="tanh")
    with pytest.raises(ValueError, match="ste"):
        nm.SampledCoarse(ste="tanh", n_samples=10)
    with pytest.raises(ValueError, match="normalize"):
        nm.ExpectedCoarse(normalize="yes")
    with pytest.raises(ValueError, match="normalize"):
        nm.ExpectedCoarse(normalize=1)
    with pytest.raises(ValueError, match="w0"):
        nm.run(problem, np.zeros(3), eta=0.5, iters=5, gradient=nm.ExpectedCoarse(normalize=True))
    with pytest.raises(ValueError, match="ste"):
        nm.predict_binary(problem, ste="step")
