"""numerics.gradients: each gradient source, bound to a batch of teachers, reproduces the public function of its model.

Population -> numerics.population.grad / gradient_coefficients / loss; Empirical -> numerics.model.empirical_grad /
empirical_loss; ExpectedCoarse -> numerics.binary.expected_coarse_grad / loss; SampledCoarse ->
numerics.binary.coarse_grad / empirical_loss. The bound sources use batched kernels (matrix products over all
trials): they are compared with a tolerance, never bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import numerics as nm
from numerics import binary, model, population
from numerics.gradients import BoundGradient

K, D, B, N = 3, 5, 6, 40
STES = ["relu", "identity"]


def _instance(seed=0, zero_row=True):
    rng = np.random.default_rng(seed)
    ws, w = rng.standard_normal((B, D)), rng.standard_normal((B, D))
    if zero_row:
        w[2] = 0.0  # the w = 0 convention of each model
    return ws, w


def _per_trial(fn, w, Z, y, *args):
    return np.stack([np.asarray(fn(w[b], Z, y[:, b], *args)) for b in range(w.shape[0])])


# ----------------------------------------------------------------------------------------------------------------------
# Each source against its model's public function
# ----------------------------------------------------------------------------------------------------------------------
def test_population_coefficients_reproduce_population_grad():
    ws, w = _instance(1)
    bound = nm.Population().bind(ws, K)
    assert isinstance(bound, BoundGradient)
    q, s = bound.coefficients(w)
    assert q.shape == (B,) and s.shape == (B,)
    ref = population.grad(w, ws, K)
    np.testing.assert_allclose(q[:, None] * w - s[:, None] * ws, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bound.grad(w), ref, rtol=1e-12, atol=1e-14)  # the default grad of a (q, s) source
    q_ref, s_ref = population.gradient_coefficients(w, ws, K)
    np.testing.assert_allclose(q, q_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s, s_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bound.loss(w), population.loss(w, ws, K), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(bound.project(w), w)


def test_empirical_grad_equals_model_empirical_grad():
    ws, w = _instance(2)
    Z = model.sample_patches(N, K, D, seed=7)
    y = model.labels(Z, ws)  # (N, B)
    g_ref = _per_trial(model.empirical_grad, w, Z, y)
    l_ref = _per_trial(model.empirical_loss, w, Z, y)
    for source in (nm.Empirical(samples=Z), nm.Empirical(samples=(Z,)), nm.Empirical(n_samples=N, seed=7),
                   nm.Empirical(samples=(Z, y))):
        bound = source.bind(ws, K)
        assert bound.coefficients(w) is None  # no (q, s) form: the loop uses grad
        np.testing.assert_allclose(bound.grad(w), g_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bound.loss(w), l_ref, rtol=1e-12, atol=1e-14)
    # labels (N,) are shared by every trial
    y0 = y[:, 0]
    bound = nm.Empirical(samples=(Z, y0)).bind(ws, K)
    np.testing.assert_allclose(bound.grad(w), _per_trial(model.empirical_grad, w, Z, np.repeat(y0[:, None], B, 1)),
                               rtol=1e-12, atol=1e-14)
    # mutation: other samples give another gradient
    other = nm.Empirical(n_samples=N, seed=8).bind(ws, K)
    assert np.max(np.abs(other.grad(w) - g_ref)) > 1e-3


@pytest.mark.parametrize("ste", STES)
def test_expected_coarse_equals_binary_expected_coarse_grad(ste):
    ws, w = _instance(3)
    for normalize in (False, True):
        bound = nm.ExpectedCoarse(ste=ste, normalize=normalize).bind(ws, K)
        q, s = bound.coefficients(w)
        ref = binary.expected_coarse_grad(w, ws, K, ste)
        np.testing.assert_allclose(q[:, None] * w - s[:, None] * ws, ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(bound.grad(w), ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(bound.loss(w), binary.loss(w, ws, K), rtol=1e-12, atol=1e-15)
    # the w = 0 row: 0 for the ReLU STE, -c w*/|w*| for the identity STE (numerics.binary's convention)
    c = binary.coarse_coefficient(K, ste)
    zero = bound.grad(w)[2]
    np.testing.assert_allclose(zero, 0.0 if ste == "relu" else -c * ws[2] / np.linalg.norm(ws[2]), atol=1e-15)


@pytest.mark.parametrize("ste", STES)
def test_sampled_coarse_equals_binary_coarse_grad(ste):
    ws, w = _instance(4)
    Z = model.sample_patches(N, K, D, seed=9)
    y = binary.labels(Z, ws)
    g_ref = _per_trial(binary.coarse_grad, w, Z, y, ste)
    l_ref = _per_trial(binary.empirical_loss, w, Z, y)
    for source in (nm.SampledCoarse(ste=ste, samples=Z), nm.SampledCoarse(ste=ste, n_samples=N, seed=9),
                   nm.SampledCoarse(ste=ste, samples=(Z, y))):
        bound = source.bind(ws, K)
        np.testing.assert_allclose(bound.grad(w), g_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bound.loss(w), l_ref, rtol=1e-12, atol=1e-14)
    # its expectation is ExpectedCoarse: with many samples the two agree to Monte Carlo accuracy
    big = nm.SampledCoarse(ste=ste, n_samples=20000, seed=1).bind(ws[:2], K).grad(w[:2])
    expected = nm.ExpectedCoarse(ste=ste).bind(ws[:2], K).grad(w[:2])
    assert np.max(np.abs(big - expected)) < 0.05 * np.max(np.abs(expected))


def test_smoothness_is_the_models_own():
    # the stable step 2/(L + beta) of a divergence report comes from the source: the ReLU network's Hessian bound
    # at the teacher, (k + (k^2 - k)/pi)/k^2 (computed here by hand), and none for the binarized network
    ws = np.array([[1.0, -0.5, 0.25], [0.3, 0.0, 2.0]])
    k = 4
    L = (k + (k * k - k) / np.pi) / k**2
    np.testing.assert_allclose(nm.Population().bind(ws, k).smoothness(), [L, L], rtol=1e-15)
    np.testing.assert_allclose(nm.Empirical(n_samples=3).bind(ws, k).smoothness(), [L, L], rtol=1e-15)
    assert nm.ExpectedCoarse().bind(ws, k).smoothness() is None
    assert nm.SampledCoarse(n_samples=3).bind(ws, k).smoothness() is None


def test_divergence_report_without_a_stable_step():
    problem = nm.Problem(np.array([1.0, -0.5]), 2, "l1", 0.0, 1.0)

    class Exploding(nm.GradientSource):  # grad l(w) = -w: every step multiplies w by 1 + eta - eta beta
        def bind(self, w_star, k):
            return _Exploding(w_star)

    class _Exploding(BoundGradient):
        def __init__(self, w_star):
            self.w_star = w_star

        def grad(self, w):
            return -1e10 * w

        def loss(self, w):
            return np.zeros(w.shape[0])

        def take(self, idx):
            return _Exploding(self.w_star[idx])

    with pytest.raises(nm.DivergenceError, match="use a smaller eta") as info:
        nm.run(problem, np.array([0.3, 0.1]), eta=1.0, iters=500, gradient=Exploding())
    assert info.value.stable_eta is None and 1 <= info.value.iteration <= 500


# ----------------------------------------------------------------------------------------------------------------------
# take(): restriction to some trials (the loop's compaction)
# ----------------------------------------------------------------------------------------------------------------------
def _sources():
    Z = model.sample_patches(N, K, D, seed=11)
    return [nm.Population(), nm.Empirical(samples=Z), nm.ExpectedCoarse(ste="identity"),
            nm.SampledCoarse(ste="relu", samples=Z), nm.SampledCoarse(ste="identity", samples=Z)]


@pytest.mark.parametrize("source", _sources(), ids=["population", "empirical", "expected-coarse",
                                                   "sampled-coarse-relu", "sampled-coarse-identity"])
def test_take_restricts_rows(source):
    ws, w = _instance(5)
    full = source.bind(ws, K)
    idx = np.array([4, 0, 2])
    part = full.take(idx)
    np.testing.assert_array_equal(part.w_star, ws[idx])
    np.testing.assert_allclose(part.grad(w[idx]), full.grad(w)[idx], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(part.loss(w[idx]), full.loss(w)[idx], rtol=1e-12, atol=1e-14)
    # taking twice composes; and an empty selection is allowed
    twice = part.take(np.array([2]))
    np.testing.assert_allclose(twice.grad(w[[2]]), full.grad(w)[[2]], rtol=1e-12, atol=1e-14)
    assert part.take(np.array([], dtype=np.int64)).w_star.shape == (0, D)


# ----------------------------------------------------------------------------------------------------------------------
# Normalization (binarized network)
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source_cls", [nm.ExpectedCoarse, nm.SampledCoarse])
def test_normalize_projects_and_validates_the_start(source_cls):
    ws, w = _instance(6)
    extra = {} if source_cls is nm.ExpectedCoarse else {"n_samples": 10}
    src = source_cls(normalize=True, **extra)
    proj = src.bind(ws, K).project(w)
    norms = np.linalg.norm(proj, axis=1)
    np.testing.assert_allclose(np.delete(norms, 2), 1.0, rtol=0, atol=1e-15)
    assert np.all(proj[2] == 0)  # a zero row stays 0
    np.testing.assert_allclose(src.prepare_start(w[:2]), w[:2] / np.linalg.norm(w[:2], axis=1, keepdims=True),
                               rtol=1e-15)
    with pytest.raises(ValueError, match="w0 must be nonzero"):
        src.prepare_start(w)
    plain = source_cls(**extra)
    assert plain.prepare_start(w) is w and plain.bind(ws, K).project(w) is w


# ----------------------------------------------------------------------------------------------------------------------
# Backends: the bound sources keep the backend of the teachers
# ----------------------------------------------------------------------------------------------------------------------
def test_backends_agree_with_numpy(backend):
    ws, w = _instance(7)
    Z = model.sample_patches(N, K, D, seed=12)
    for src in (nm.Population(), nm.ExpectedCoarse(ste="identity"), nm.Empirical(samples=Z),
                nm.SampledCoarse(samples=Z)):
        ref = src.bind(ws, K)
        got_src = src
        if isinstance(src, (nm.Empirical, nm.SampledCoarse)):  # samples on the backend as well
            got_src = type(src)(samples=backend.asarray(Z))
        got = got_src.bind(backend.asarray(ws), K)
        g = got.grad(backend.asarray(w))
        assert g.dtype == backend.xp.float64
        np.testing.assert_allclose(backend.to_numpy(g), ref.grad(w), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(backend.to_numpy(got.loss(backend.asarray(w))), ref.loss(w), rtol=1e-12,
                                   atol=1e-14)
    # NumPy samples are moved to the backend of the teachers
    got = nm.Empirical(samples=Z).bind(backend.asarray(ws), K)
    np.testing.assert_allclose(backend.to_numpy(got.grad(backend.asarray(w))),
                               nm.Empirical(samples=Z).bind(ws, K).grad(w), rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------------------------------------------------
# Bad arguments
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "pattern"), [
    (lambda: nm.Empirical(), "n_samples must be given"),
    (lambda: nm.Empirical(n_samples=0), "n_samples out of range"),
    (lambda: nm.Empirical(n_samples=2.5), "n_samples must be an integer"),
    (lambda: nm.SampledCoarse(), "n_samples must be given"),
    (lambda: nm.SampledCoarse(n_samples=-5), "n_samples"),
    (lambda: nm.ExpectedCoarse(ste="tanh"), "ste must be one of"),
    (lambda: nm.SampledCoarse(ste="sign", n_samples=10), "ste must be one of"),
    (lambda: nm.ExpectedCoarse(normalize="yes"), "normalize must be True or False"),
    (lambda: nm.ExpectedCoarse(normalize=1), "normalize must be True or False"),
    (lambda: nm.SampledCoarse(normalize=None, n_samples=10), "normalize must be True or False"),
])
def test_bad_arguments_when_built(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_samples_when_bound():
    ws = np.random.default_rng(13).standard_normal((B, D))
    Z = model.sample_patches(N, K, D, seed=0)
    bad_z = Z.copy()
    bad_z[0, 0, 0] = np.nan
    cases = [
        (nm.Empirical(samples=Z[:, :, :-1]), "samples Z must have shape"),
        (nm.Empirical(samples=Z[:, :-1]), "samples Z must have shape"),
        (nm.SampledCoarse(samples=Z[0]), "samples Z must have shape"),
        (nm.Empirical(samples=bad_z), "samples Z must be finite"),
        (nm.Empirical(samples=(Z, np.ones((N + 1, B)))), "samples labels y must have shape"),
        (nm.Empirical(samples=(Z, np.ones((N, B + 1)))), "samples labels y must have shape"),
        (nm.SampledCoarse(samples=(Z, np.full(N, np.inf))), "samples labels y must be finite"),
    ]
    for source, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            source.bind(ws, K)


def test_sample_options_are_checked_when_the_source_is_built():
    Z = np.zeros((5, 2, 3))
    with pytest.raises(ValueError, match="not both"):
        nm.Empirical(n_samples=10, samples=Z)
    with pytest.raises(ValueError, match="not both"):
        nm.SampledCoarse(n_samples=10, samples=Z)
    with pytest.raises(ValueError, match="seed"):
        nm.Empirical(n_samples=10, seed=None)
    with pytest.raises(ValueError, match="seed"):
        nm.SampledCoarse(n_samples=10, seed=-1)
