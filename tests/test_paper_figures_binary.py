"""Data of the figure binary_coarse_gradient against theory (tiny preset, read back from its CSV).

Checks: simulated limits lie on the predicted branches; the predicted l1 curve agrees with the independent SymPy-based
predictor of theory.binary_limits (and a wrong tau does not); the l0 band shows both fixed points from the two starts;
the expected-coarse-gradient run reaches the prediction to rounding while the sampled runs stay at a distance that
shrinks with N.
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics import binary
from paper_figures import binary_coarse_gradient as fig
from paper_figures.data import read_csv


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("binary_fig")
    paths = fig.make(out, "tiny")
    assert {p.suffix for p in paths} == {".csv", ".png", ".pdf"}
    d = read_csv(out / f"{fig.NAME}.csv")
    assert tuple(d) == fig.COLUMNS
    return d


def test_simulated_limits_on_predicted_branches(data):
    sim = data["kind"] == 1
    assert np.sum(sim) >= 3 * 4
    assert np.all(data["sim_error"][sim] < 1e-8)
    np.testing.assert_allclose(data["u_bar_1"][sim], data["u_pred_1"][sim], rtol=0, atol=1e-8)
    # each simulated point is on a drawn branch: the curve at the nearest grid point of the same branch value
    for code in (0, 1, 2):
        cur = (data["kind"] == 0) & (data["penalty"] == code)
        for x, u in zip(data["w_star_1"][sim & (data["penalty"] == code)], data["u_bar_1"][sim & (data["penalty"]
                                                                                                == code)],
                        strict=True):
            on = cur & (data["w_star_1"] == x)
            assert np.any(np.abs(data["u_bar_1"][on] - u) < 1e-8)


def _l1_curve(data):
    m = (data["kind"] == 0) & (data["penalty"] == 0)
    x, u = data["w_star_1"][m], data["u_bar_1"][m]
    sel = np.linspace(0, x.size - 1, 5).astype(int)
    return x[sel], u[sel]


def test_l1_curve_matches_theory_predictor(data):
    tl = pytest.importorskip("theory.binary_limits")
    for x, u in zip(*_l1_curve(data), strict=True):
        ws = fig.teachers(np.array([x]))[0]
        ref = tl.predicted_binary_limit(ws, fig.K, "l1", fig.LAM, fig.BETA, ste=fig.STE)
        assert ref["consistent"]
        assert abs(u - ref["u"][0]) < 1e-9


def test_l1_curve_rejects_wrong_tau(data):
    # u_bar_1 = r' soft(e*_1, tau): with tau = lam/c (the lam/(beta r') term dropped) the curve is missed
    tl = pytest.importorskip("theory.binary_limits")
    c = binary.coarse_coefficient(fig.K, fig.STE)
    misses = []
    for x, u in zip(*_l1_curve(data), strict=True):
        ws = fig.teachers(np.array([x]))[0]
        ref = tl.predicted_binary_limit(ws, fig.K, "l1", fig.LAM, fig.BETA, ste=fig.STE)
        e1 = x / np.linalg.norm(ws)
        wrong = ref["r"] * np.sign(e1) * max(abs(e1) - fig.LAM / c, 0.0)
        misses.append(abs(u - wrong))
    assert max(misses) > 1e-3


def test_l0_band_has_both_fixed_points(data):
    sim = (data["kind"] == 1) & (data["penalty"] == 1) & (data["band"] == 1)
    assert np.any(sim)
    kept_start = sim & (data["branch"] == 1)
    zero_start = sim & (data["branch"] == 0)
    assert np.all(data["u_bar_1"][kept_start] != 0) and np.all(data["u_bar_1"][zero_start] == 0)


def test_sampled_runs_approach_prediction(data):
    tr = data["kind"] == 2
    pop = tr & (data["n_samples"] == 0)
    for code in (0, 1, 2):
        m = pop & (data["penalty"] == code)
        last = data["iteration"][m] == data["iteration"][m].max()
        assert np.all(data["dist"][m][last] < 1e-9)  # expected coarse gradient: the predicted limit
    fin = data["kind"] == 3
    ns = np.unique(data["n_samples"][fin])
    med = [np.median(data["dist"][fin & (data["n_samples"] == n)]) for n in ns]
    assert med[-1] < med[0]  # closer with more samples
    assert med[-1] < 0.1
    assert np.all(data["dist"][fin] > 1e-6)  # a sampled coarse gradient does not hit the population limit
