"""The phase diagram's table: per-cell fractions from a sweep's store, counted independently here."""

from __future__ import annotations

import numpy as np
import pytest

xr = pytest.importorskip("xarray")

from paper_figures import phase_diagram  # noqa: E402


def _store() -> xr.Dataset:
    """A hand-made store: 2 penalties x 2 lam, 4 trials, d = 3 (one cell's prediction drops a coordinate)."""
    rng = np.random.default_rng(0)
    dims = ("penalty", "a", "lam", "beta", "eta", "k", "d", "teacher", "sparsity", "init")
    shape = (2, 1, 2, 1, 1, 1, 1, 1, 1, 1)
    coords = {"penalty": ["l1", "tl1"], "a": [1.0], "lam": [1e-3, 1e-1], "beta": [0.5], "eta": [0.5], "k": [4],
              "d": [3], "teacher": ["sparse"], "sparsity": [0.3], "init": ["sphere"]}
    reached = rng.random((*shape, 4)) < 0.6
    support = rng.random((*shape, 4)) < 0.7
    w_star = np.broadcast_to(np.array([1.0, 0.0, -2.0]), (*shape, 3)).copy()
    u_pred = w_star * 0.9
    u_pred[1, 0, 1, ..., 0] = 0.0  # tl1, lam = 0.1: the prediction loses coordinate 0
    tr = (*dims, "trial")
    return xr.Dataset({
        "reached": (tr, reached), "support": (tr, support), "converged": (tr, np.ones_like(reached)),
        "diverged": (tr, np.zeros_like(reached)), "q_pred": (dims, np.full(shape, 0.2)),
        "band_coords": (dims, np.zeros(shape, dtype=np.int64)), "eta_bound": (dims, np.full(shape, 2.0)),
        "w_star": ((*dims, "coord"), w_star), "u_pred": ((*dims, "coord"), u_pred)}, coords=coords)


def test_rows_count_each_cell():
    ds = _store()
    rows = phase_diagram._rows(ds, panel=1)
    assert rows["panel"].tolist() == [1, 1, 1, 1]
    assert rows["penalty"].tolist() == [0, 0, 2, 2] and rows["lam"].tolist() == [1e-3, 1e-1, 1e-3, 1e-1]
    np.testing.assert_allclose(rows["lam_k"], rows["lam"] * 4)
    for i, (p, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        r = ds.reached.values[p, 0, j].reshape(-1)
        s = ds.support.values[p, 0, j].reshape(-1)
        assert rows["frac_both"][i] == np.mean(r & s)
        assert rows["frac_reached"][i] == np.mean(r) and rows["frac_support"][i] == np.mean(s)
    assert rows["pred_support"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert rows["n_trials"].tolist() == [4] * 4


def test_a_bad_preset_is_refused():
    with pytest.raises(ValueError, match="preset must be one of"):
        phase_diagram.table("huge")
