"""Figure pareto_front: its data agree with the derived closed form of the l1 path (theory.fronts), the lam sweep
jumps over the nonconvex stretch while the path follower covers it, and a wrong lam fails the same cross-check."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from paper_figures import pareto_front as P
from paper_figures.data import read_csv, read_meta
from theory import fronts as T


@pytest.fixture(scope="module")
def figure(tmp_path_factory):
    out = tmp_path_factory.mktemp("pareto_front")
    paths = P.make(out, "tiny")
    return read_csv(paths[0]), read_meta(paths[0]), paths


def _lam_error(kappa: np.ndarray, lam: np.ndarray, w_star: np.ndarray, k: int) -> float:
    """Largest |lam - lam_theory(kappa)| with lam_theory = kappa s(t(kappa)) lambdified from theory.fronts."""
    lam_fn = sp.lambdify((T.kappa, T.s_sym), T.l1_path_exprs()["lam"], "numpy")
    err = 0.0
    for kap, lv in zip(kappa, lam, strict=True):
        v = np.sign(w_star) * np.maximum(np.abs(w_star) - kap, 0.0)
        unit = w_star / np.linalg.norm(w_star)
        t = np.arctan2(np.linalg.norm(v - (v @ unit) * unit), v @ unit)
        err = max(err, abs(lv - float(lam_fn(kap, (np.pi - t) / (k * np.pi)))))
    return err


def test_files(figure):
    _, _, paths = figure
    assert [p.suffix for p in paths] == [".csv", ".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)


def test_inset_lam_agrees_with_the_derivation_and_a_wrong_lam_fails(figure):
    data, meta, _ = figure
    m = (data["panel"] == 0) & (data["series"] == 6)
    w_star, k = np.array(meta["teacher_a"]), meta["k_a"]
    assert _lam_error(data["x"][m], data["y"][m], w_star, k) < 1e-14
    # mutation: lam = kappa (the threshold in units of w*), through the same cross-check
    assert _lam_error(data["x"][m], data["x"][m], w_star, k) > 1e-3


def test_sweep_jumps_over_the_stretch_and_the_follower_covers_it(figure):
    data, meta, _ = figure
    lo, hi = meta["stretch_a"]
    inner = (lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo))
    for series, expect in ((1, False), (2, True)):
        x = data["x"][(data["panel"] == 0) & (data["series"] == series)]
        assert bool(np.any((x > inner[0]) & (x < inner[1]))) is expect
    assert meta["sweep_max_excess"] < 1e-12 and meta["follower_max_excess"] < 1e-9
    assert len(meta["folds_a"]) == 1


def test_rvsm_excess_falls_with_beta(figure):
    data, _, _ = figure
    for code in (20, 22):  # l1, TL1
        y = data["y"][(data["panel"] == 2) & (data["series"] == code)]
        assert np.all(np.diff(y) < 0)
