"""numerics.real_data: the lam grid, the data layout, the statistics, and the batched study (paired, deterministic,
configurations independent)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from scipy import stats  # noqa: E402

from numerics.optim import RVSM  # noqa: E402
from numerics.penalties import get_penalty  # noqa: E402
from numerics.real_data import (  # noqa: E402
    StudyConfig,
    _patches,
    digits_split,
    interpolate_curve,
    lam_for_gamma,
    mu_for_threshold,
    run_seed,
    run_study,
    summarize,
    t_interval,
)

PENS = [("l1", {}), ("l0", {}), ("tl1", {"a": 1.0}), ("tl1", {"a": 0.3})]


@pytest.mark.parametrize(("name", "params"), PENS)
def test_mu_for_threshold_inverts_the_threshold(name, params):
    pen = get_penalty(name, **params)
    for tau in (1e-4, 0.01, 0.1):
        mu = mu_for_threshold(pen, tau)
        assert abs(float(pen.threshold(mu)) - tau) <= 1e-12 * tau
        # closed forms (theory page section 3), written out here; TL1 is below its critical threshold a/2
        expect = {"l1": tau, "l0": tau**2 / 2}.get(name, tau * params.get("a", 1) / (params.get("a", 1) + 1))
        assert mu == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize(("name", "params"), PENS)
@pytest.mark.parametrize("beta", [1.0, 5.0])
def test_lam_for_gamma_zeroes_where_the_gradient_is_below_gamma(name, params, beta):
    """RVSM on l(w) = |w - c|^2 / 2 to its fixed point: u_i = 0 exactly where beta |w_i| <= gamma, and there
    |grad_i l(w)| <= gamma (the rule lam_for_gamma promises)."""
    pen = get_penalty(name, **params)
    gamma = 0.05
    c = torch.linspace(-0.3, 0.3, 41, dtype=torch.float64) + 0.0037  # no c puts w exactly on a threshold
    w = c.clone().requires_grad_(True)
    opt = RVSM([w], lr=0.1, penalty=pen, lam=lam_for_gamma(pen, gamma, beta), beta=beta)
    for _ in range(500):
        opt.zero_grad()
        (0.5 * ((w - c) ** 2).sum()).backward()
        opt.step()
    u, wd = opt.state[w]["u"], w.detach()
    grad = wd - c
    torch.testing.assert_close(grad + beta * (wd - u), torch.zeros_like(c), atol=1e-12, rtol=0)  # at a fixed point
    zero = u == 0
    assert torch.equal(zero, beta * wd.abs() <= gamma * (1 + 1e-12))
    assert bool((grad[zero].abs() <= gamma * (1 + 1e-12)).all())
    assert 0 < int(zero.sum()) < c.numel()


def test_lam_for_gamma_closed_forms():
    assert lam_for_gamma(get_penalty("l1"), 0.02, 7.0) == pytest.approx(0.02, rel=1e-12)
    assert lam_for_gamma(get_penalty("l0"), 0.02, 4.0) == pytest.approx(0.02**2 / 8, rel=1e-12)
    assert lam_for_gamma(get_penalty("tl1", a=2.0), 0.02, 3.0) == pytest.approx(0.02 * 2 / 3, rel=1e-12)
    with pytest.raises(ValueError, match="beta"):
        lam_for_gamma(get_penalty("l1"), 0.02, 0.0)


def test_patches_are_the_four_4x4_blocks():
    X = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 64)
    P = _patches(X)
    img = X.reshape(2, 8, 8)
    blocks = [img[:, r:r + 4, c:c + 4].reshape(2, 16) for r in (0, 4) for c in (0, 4)]
    assert P.shape == (2, 4, 16)
    for i, b in enumerate(blocks):
        assert torch.equal(P[:, i], b)


def test_digits_split_is_stratified_and_seeded():
    Xtr, ytr, Xte, yte = digits_split(3)
    assert Xtr.shape[0] + Xte.shape[0] == 1797 and Xtr.shape[1] == 64
    assert float(Xtr.max()) <= 1.0 and float(Xtr.min()) >= 0.0
    full = np.bincount(np.concatenate([ytr.numpy(), yte.numpy()]), minlength=10)
    assert np.all(np.abs(np.bincount(yte.numpy(), minlength=10) - 0.3 * full) <= 1.0)
    assert torch.equal(digits_split(3)[3], yte) and not torch.equal(digits_split(4)[3], yte)


def test_t_interval_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    x[0, 2] = np.nan
    mean, lo, hi = t_interval(x)
    for j in range(3):
        v = x[:, j][np.isfinite(x[:, j])]
        ref = stats.t.interval(0.95, v.size - 1, loc=v.mean(), scale=stats.sem(v))
        assert mean[j] == pytest.approx(v.mean(), rel=1e-13)
        assert (lo[j], hi[j]) == pytest.approx(ref, rel=1e-12)
    m1, l1, h1 = t_interval(np.array([[0.5, np.nan]]))
    assert m1[0] == 0.5 and np.isnan(l1[0]) and np.isnan(h1[0]) and np.isnan(m1[1])


def test_interpolate_curve():
    s = np.array([0.8, 0.2, 0.5, 0.5])
    a = np.array([0.6, 0.9, 0.7, 0.9])  # the two points at 0.5 average to 0.8
    out = interpolate_curve(s, a, np.array([0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9]), max_gap=0.31)
    np.testing.assert_allclose(out, [np.nan, 0.9, 0.85, 0.8, 0.7, 0.6, np.nan], rtol=1e-14)
    # a gap wider than max_gap is not bridged; its end points are still measured
    out = interpolate_curve(s, a, np.array([0.2, 0.35, 0.5, 0.65, 0.8]), max_gap=0.25)
    np.testing.assert_allclose(out, [0.9, np.nan, 0.8, np.nan, 0.6], rtol=1e-14)


def test_summarize_paired_differences():
    """A method that is pruning's curve plus 0.01 on every seed: its paired difference is 0.01 with a zero-width
    interval, although the accuracies themselves vary across seeds."""
    rows = []
    for seed, level in enumerate((0.90, 0.95, 0.80)):
        for s in (0.1, 0.5, 0.9):
            rows.append(("cnn", seed, "prune", np.nan, s, level - 0.1 * s))
            rows.append(("cnn", seed, "rvsm_l1", 1.0, s, level - 0.1 * s + 0.01))
        rows.append(("cnn", seed, "dense", np.nan, 0.0, level))
    res = {k: np.array([r[i] for r in rows]) for i, k in enumerate(("model", "seed", "method", "beta", "sparsity",
                                                                     "accuracy"))}
    for k in ("seed", "beta", "sparsity", "accuracy"):
        res[k] = res[k].astype(float)
    out = summarize(res, [0.3, 0.7], max_gap=0.5)
    sel = out["method"] == "rvsm_l1"
    np.testing.assert_allclose(out["diff_ref_mean"][sel], 0.01, rtol=1e-10)
    np.testing.assert_allclose(out["diff_ref_hi"][sel] - out["diff_ref_lo"][sel], 0.0, atol=1e-12)
    level = np.mean([0.90, 0.95, 0.80])
    np.testing.assert_allclose(out["acc_mean"][sel], level - 0.1 * np.array([0.3, 0.7]) + 0.01, rtol=1e-12)
    assert np.all(out["acc_hi"][sel] - out["acc_lo"][sel] > 0.1)
    dense = out["method"] == "dense"
    assert out["acc_mean"][dense][0] == pytest.approx(np.mean([0.90, 0.95, 0.80]))


TINY = StudyConfig(seeds=(0,), epochs=2, finetune_epochs=1, prune_targets=(0.5, 0.9), betas=(1.0, 5.0),
                   gammas={"l1": (1e-3, 1e-2), "tl1": (1e-3,), "l0": (0.05,)}, filters=4, hidden=8)


@pytest.fixture(scope="module")
def tiny_runs():
    torch.set_num_threads(1)
    return {m: run_seed(m, 0, TINY) for m in ("cnn", "mlp")}


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_run_seed_is_deterministic_and_pruning_hits_its_targets(tiny_runs, model):
    r = tiny_runs[model]
    again = run_seed(model, 0, TINY)
    for k in r:
        # same process, same computation: bit for bit (NaN where there is no beta)
        assert np.array_equal(r[k], again[k], equal_nan=r[k].dtype.kind == "f"), k
    counts = {m: int(np.sum(r["method"] == m)) for m in np.unique(r["method"])}
    assert counts == {"rvsm_l1": 4, "rvsm_tl1": 2, "rvsm_l0": 2, "prox_l1": 2, "dense": 1, "prune": 2}
    prune = r["method"] == "prune"
    np.testing.assert_allclose(r["sparsity"][prune], [0.5, 0.9], atol=0.01)  # per-tensor rounding of the count
    assert r["sparsity"][r["method"] == "dense"][0] == 0.0
    assert np.all((r["accuracy"] >= 0) & (r["accuracy"] <= 1))


def test_stacked_configurations_do_not_interact(tiny_runs):
    """One configuration trained alone gives the stacked run's result (to kernel rounding: within 2 test images
    and 1 % of the zeros)."""
    alone = StudyConfig(seeds=(0,), epochs=2, finetune_epochs=1, prune_targets=(0.9,), betas=(5.0,),
                        gammas={"l1": (1e-2,), "tl1": (1e-3,), "l0": (0.05,)}, filters=4, hidden=8)
    r1 = run_seed("cnn", 0, alone)
    r = tiny_runs["cnn"]
    for method, gamma in (("rvsm_l1", 1e-2), ("rvsm_tl1", 1e-3), ("rvsm_l0", 0.05), ("dense", 0.0)):
        i = np.flatnonzero((r["method"] == method) & (np.isnan(r["beta"]) | (r["beta"] == 5.0))
                           & np.isclose(r["gamma"], gamma))[0]
        j = np.flatnonzero((r1["method"] == method) & np.isclose(r1["gamma"], gamma))[0]
        assert abs(r["accuracy"][i] - r1["accuracy"][j]) <= 2 / 540 + 1e-12, method
        assert abs(r["sparsity"][i] - r1["sparsity"][j]) <= 0.01, method


def test_run_study_restores_threads():
    before = torch.get_num_threads()
    res = run_study(StudyConfig(seeds=(1,), models=("mlp",), epochs=1, finetune_epochs=1, prune_targets=(0.5,),
                                gammas={"l1": (1e-3,), "tl1": (1e-3,), "l0": (0.05,)}, hidden=4), threads=1)
    assert torch.get_num_threads() == before
    assert set(res["model"]) == {"mlp"} and set(res["seed"]) == {1}


@pytest.mark.parametrize(("kwargs", "match"), [({"seeds": (-1,)}, "seeds"), ({"models": ("rnn",)}, "models"),
                                               ({"betas": (20.0,)}, "betas"), ({"prune_targets": (1.0,)}, "prune"),
                                               ({"gammas": {"l1": (0.1,)}}, "gammas"), ({"epochs": 0}, "epochs")])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StudyConfig(**kwargs)


def test_summarize_reports_only_points_every_seed_reaches():
    rows = []
    for seed in range(3):
        top = 0.5 if seed == 2 else 0.9  # seed 2's sweep stops at half zeros
        for s in (0.1, 0.3, 0.5, 0.7, 0.9):
            rows.append(("mlp", seed, "prune", np.nan, s, 0.9))
            if s <= top:
                rows.append(("mlp", seed, "rvsm_l1", 1.0, s, 0.8))
    res = {k: np.array([r[i] for r in rows]) for i, k in enumerate(("model", "seed", "method", "beta", "sparsity",
                                                                     "accuracy"))}
    for k in ("seed", "beta", "sparsity", "accuracy"):
        res[k] = res[k].astype(float)
    out = summarize(res, [0.4, 0.8], max_gap=0.25)
    sel = out["method"] == "rvsm_l1"
    np.testing.assert_array_equal(out["n_seeds"][sel], [3, 2])
    assert out["acc_mean"][sel][0] == pytest.approx(0.8) and np.isnan(out["acc_mean"][sel][1])
    assert out["diff_ref_mean"][sel][0] == pytest.approx(-0.1) and np.isnan(out["diff_ref_mean"][sel][1])
