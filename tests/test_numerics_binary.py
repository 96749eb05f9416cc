"""numerics.binary: the binarized network, its sampled coarse gradient and the closed forms, against Monte Carlo.

Every Monte Carlo reference is computed here from the samples with plain NumPy (np.einsum), not with the code under
test, and the comparisons use the estimator's own standard error. Each comparison has a mutation test that feeds a
deliberately wrong closed form through the same check and asserts that it fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from numerics import binary, model

_Z_MAX = 4.5  # |z| bound per coordinate; with ~20 compared coordinates the false-alarm rate is ~1e-4


def _mc_reference(k: int, d: int, w: np.ndarray, ws: np.ndarray, n: int, seed: int):
    """Per-sample loss and coarse gradients (both STEs) from plain NumPy; returns (mean, standard error) pairs."""
    Z = np.random.default_rng(seed).standard_normal((n, k, d))
    act = (np.einsum("nkd,d->nk", Z, w) > 0).astype(float)
    act_s = (np.einsum("nkd,d->nk", Z, ws) > 0).astype(float)
    r = act.mean(1) - act_s.mean(1)
    per_loss = r * r
    per_relu = (2.0 / k) * np.einsum("n,nk,nkd->nd", r, act, Z)
    per_id = (2.0 / k) * np.einsum("n,nkd->nd", r, Z)
    def stats(x):
        return x.mean(0), x.std(0, ddof=1) / math.sqrt(n)
    return stats(per_loss), stats(per_relu), stats(per_id)


def _within(mean, se, value) -> bool:
    return bool(np.all(np.abs(np.asarray(value) - mean) <= _Z_MAX * se + 1e-15))


CASES = [(4, 5, 0), (9, 3, 1), (2, 8, 2)]


@pytest.fixture(scope="module")
def mc():
    out = []
    for k, d, seed in CASES:
        rng = np.random.default_rng(100 + seed)
        w = rng.standard_normal(d)
        ws = 2.5 * rng.standard_normal(d)  # |w*| != 1: only the direction of w* may enter
        out.append((k, d, w, ws, _mc_reference(k, d, w, ws, 200_000, seed)))
    return out


def test_loss_matches_monte_carlo(mc):
    for k, _, w, ws, (lo, _, _) in mc:
        assert _within(*lo, float(binary.loss(w, ws, k)))


def test_loss_mutation_factor_half_fails(mc):
    # the 1/2 convention (l = t/(2 k pi)) must be rejected by the same check
    k, _, w, ws, (lo, _, _) = mc[0]
    assert not _within(*lo, 0.5 * float(binary.loss(w, ws, k)))


@pytest.mark.parametrize("ste", ["relu", "identity"])
def test_expected_coarse_grad_matches_monte_carlo(mc, ste):
    for k, _, w, ws, (_, g_relu, g_id) in mc:
        ref = g_relu if ste == "relu" else g_id
        assert _within(*ref, binary.expected_coarse_grad(w, ws, k, ste))


@pytest.mark.parametrize("mutation", ["swap_ste", "teacher_not_normalized", "sign", "drop_cross_terms_wrongly"])
def test_expected_coarse_grad_mutations_fail(mc, mutation):
    k, _, w, ws, (_, g_relu, _) = mc[0]
    e, es = w / np.linalg.norm(w), ws / np.linalg.norm(ws)
    c = binary.coarse_coefficient(k, "relu")
    wrong = {"swap_ste": 2 * c * (e - es),                    # identity constant used for the ReLU STE
             "teacher_not_normalized": c * (e - ws),          # w* instead of w*/|w*|
             "sign": c * (es - e),
             "drop_cross_terms_wrongly": k * c * (e - es)}[mutation]  # 1/sqrt(2 pi) without the 1/k
    assert not _within(*g_relu, wrong)


def test_coarse_coefficients():
    # c_identity = 2 c_relu and c_relu = 1/(k sqrt(2 pi)): checked above by Monte Carlo; here the API contract
    assert binary.coarse_coefficient(3, "identity") == pytest.approx(2 * binary.coarse_coefficient(3, "relu"))
    with pytest.raises(ValueError, match="ste"):
        binary.coarse_coefficient(3, "sign")
    with pytest.raises(ValueError, match="k"):
        binary.coarse_coefficient(0)


def test_sampled_coarse_grad_equals_plain_numpy():
    k, d, n = 3, 4, 500
    rng = np.random.default_rng(0)
    Z = model.sample_patches(n, k, d, seed=1)
    ws, W = rng.standard_normal(d), rng.standard_normal((6, d))
    y = binary.labels(Z, ws)
    act = (np.einsum("nkd,bd->bnk", Z, W) > 0).astype(float)
    r = act.mean(2) - y[None]
    ref_relu = (2.0 / (n * k)) * np.einsum("bn,bnk,nkd->bd", r, act, Z)
    ref_id = (2.0 / (n * k)) * np.einsum("bn,nkd->bd", r, Z)
    np.testing.assert_allclose(binary.coarse_grad(W, Z, y, "relu"), ref_relu, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(binary.coarse_grad(W, Z, y, "identity"), ref_id, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(binary.forward(Z, W).T, act.mean(2), rtol=0, atol=0)
    np.testing.assert_allclose(binary.empirical_loss(W, Z, y), (r * r).mean(1), rtol=1e-13)
    # batch = stacked single calls
    for b in range(W.shape[0]):
        np.testing.assert_allclose(binary.coarse_grad(W[b], Z, y, "relu"), ref_relu[b], rtol=1e-12, atol=1e-15)
    # the internal shared-sample kernel used by the RVSM loop agrees with the public function
    zf = np.reshape(Z, (n * k, d))
    for ste, ref in (("relu", ref_relu), ("identity", ref_id)):
        lo, g = binary.loss_and_coarse_grad_batch(np, zf, Z.sum(1), W, np.repeat(y[:, None], 6, 1), n, k, ste)
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(lo, (r * r).mean(1), rtol=1e-13)


def test_true_gradient_is_zero_per_sample():
    # f is piecewise constant in w: a small perturbation leaves every sampled output unchanged (a.s.)
    Z = model.sample_patches(300, 4, 5, seed=3)
    w = np.random.default_rng(4).standard_normal(5)
    f0 = binary.forward(Z, w)
    for j in range(5):
        e = np.zeros(5)
        e[j] = 1e-9
        np.testing.assert_array_equal(binary.forward(Z, w + e), f0)


def test_zero_filter_conventions():
    k, d = 3, 4
    ws = np.array([1.0, -2.0, 0.5, 0.0])
    es = ws / np.linalg.norm(ws)
    Z = model.sample_patches(4000, k, d, seed=5)
    y = binary.labels(Z, ws)
    w0 = np.zeros(d)
    np.testing.assert_array_equal(binary.forward(Z, w0), np.zeros(4000))
    np.testing.assert_array_equal(binary.coarse_grad(w0, Z, y, "relu"), np.zeros(d))
    np.testing.assert_array_equal(binary.expected_coarse_grad(w0, ws, k, "relu"), np.zeros(d))
    np.testing.assert_allclose(binary.expected_coarse_grad(w0, ws, k, "identity"),
                               -binary.coarse_coefficient(k, "identity") * es, rtol=1e-15)
    # l(0) = E[f(w*)^2] = (k + 1)/(4 k): Monte Carlo from the labels themselves
    n = 200_000
    yy = binary.labels(model.sample_patches(n, k, d, seed=6), ws)
    m, se = float(np.mean(yy**2)), float(np.std(yy**2) / math.sqrt(n))
    assert abs(float(binary.loss(w0, ws, k)) - m) <= _Z_MAX * se
    assert abs(1 / (2 * k) - m) > _Z_MAX * se  # t/(k pi) at t = pi/2 would be wrong at w = 0


def test_correlation_with_true_gradient_positive():
    # the coarse gradient has a positive inner product with the true gradient of l = t/(k pi), taken by central
    # finite differences of binary.loss (away from t = 0, pi)
    rng = np.random.default_rng(8)
    for _ in range(20):
        d = int(rng.integers(2, 7))
        w, ws = rng.standard_normal(d), rng.standard_normal(d)
        h = 1e-6
        fd = np.array([(binary.loss(w + h * e, ws, 3) - binary.loss(w - h * e, ws, 3)) / (2 * h) for e in np.eye(d)])
        assert abs(fd @ w) < 1e-7 * np.linalg.norm(fd) * np.linalg.norm(w) + 1e-9  # orthogonal to w
        for ste in ("relu", "identity"):
            assert fd @ binary.expected_coarse_grad(w, ws, 3, ste) > 0


def test_backends_agree(backend):
    xp = backend.xp
    k, d = 3, 4
    rng = np.random.default_rng(9)
    W, ws = rng.standard_normal((5, d)), rng.standard_normal(d)
    Zn = model.sample_patches(200, k, d, seed=2)
    yn = binary.labels(Zn, ws)
    Z, Wx, wsx, y = (backend.asarray(a) for a in (Zn, W, ws, yn))
    for ste in ("relu", "identity"):
        g = binary.coarse_grad(Wx, Z, y, ste)
        assert g.dtype == xp.float64 and tuple(g.shape) == (5, d)
        np.testing.assert_allclose(backend.to_numpy(g), binary.coarse_grad(W, Zn, yn, ste), rtol=1e-12, atol=1e-15)
        ge = binary.expected_coarse_grad(Wx, wsx, k, ste)
        np.testing.assert_allclose(backend.to_numpy(ge), binary.expected_coarse_grad(W, ws, k, ste), rtol=1e-13)
    np.testing.assert_allclose(backend.to_numpy(binary.loss(Wx, wsx, k)), binary.loss(W, ws, k), rtol=1e-13)
    np.testing.assert_allclose(backend.to_numpy(binary.forward(Z, Wx)), binary.forward(Zn, W))
    # float32 is kept
    g32 = binary.expected_coarse_grad(backend.asarray(W, xp.float32), backend.asarray(ws, xp.float32), k)
    assert g32.dtype == xp.float32


def test_validation():
    Z = model.sample_patches(10, 2, 3, seed=0)
    with pytest.raises(ValueError, match="ste"):
        binary.coarse_grad(np.ones(3), Z, np.zeros(10), ste="tanh")
    with pytest.raises(ValueError, match="ste"):
        binary.expected_coarse_grad(np.ones(3), np.ones(3), 2, ste="tanh")
    with pytest.raises(ValueError, match="w must have shape"):
        binary.forward(Z, np.ones(4))
    with pytest.raises(ValueError, match="w_star"):
        binary.loss(np.ones(3), np.zeros(3), 2)
