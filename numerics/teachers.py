"""Seeded teacher filters: the families the command line, the sweeps and the figures draw w* from."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["make_teachers"]


def make_teachers(trials: int, d: int, *, kind: str = "gaussian", sparsity: float = 0.0, seed: Any = 0) -> np.ndarray:
    """Seeded teachers (trials, d) as a NumPy float64 array.

    Parameters
    ----------
    trials, d : int
        Number of teachers and their dimension (>= 1).
    kind : {"gaussian", "sparse"}
        I.i.d. N(0, 1) entries, or the same with exactly ``round(sparsity * d)`` zeros per teacher.
    sparsity : float
        Fraction of zero coordinates for ``kind="sparse"``, 0 <= sparsity < 1, and round(sparsity * d) < d.
    seed : int or numpy.random.SeedSequence

    Notes
    -----
    Scale: entries N(0, 1), E|w*|^2 = d - round(sparsity d). Zeros are placed by a uniform random permutation per
    teacher (the first ``round(sparsity d)`` positions of ``argsort`` of uniform keys).
    """
    if kind not in ("gaussian", "sparse"):
        raise ValueError(f"teacher must be 'gaussian' or 'sparse'; got {kind!r}")
    if not (0.0 <= sparsity < 1.0):
        raise ValueError(f"sparsity out of range: got {sparsity}; allowed 0 <= sparsity < 1")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((trials, d))
    if kind == "sparse":
        n_zero = round(sparsity * d)
        if n_zero >= d:
            raise ValueError(f"sparsity out of range: round(sparsity * d) = {n_zero} zeros leaves no nonzero "
                             f"coordinate for d = {d}; allowed round(sparsity * d) < d")
        pos = np.argsort(rng.random((trials, d)), axis=1)[:, :n_zero]
        mask = np.ones((trials, d), dtype=bool)
        np.put_along_axis(mask, pos, False, axis=1)
        w = np.where(mask, w, 0.0)
    return w
