"""The accuracy-sparsity study on real data: RVSM with l1, l0 and TL1 against dense training, magnitude pruning with
fine-tuning and l1 proximal SGD, on scikit-learn's bundled handwritten digits (no download).

torch and scikit-learn are imported here only (and in :mod:`numerics.optim`); ``import numerics`` imports neither.

The protocol, per seed (:func:`run_seed`) and per model:

- data: ``sklearn.datasets.load_digits`` (1,797 8x8 images, pixel values / 16), one stratified train/test split per
  seed (``train_test_split(..., stratify=y)``);
- models, each as G stacked copies (one per configuration) trained by one tensor program (``torch.einsum`` over the
  leading configuration axis; every configuration sees the same start point and the same mini-batches, so the
  comparisons are paired):

  * ``"cnn"``: the theory's architecture lifted to real data: the image cut into k = 4 non-overlapping 4x4 patches,
    C filters ``W`` (C, 16) shared by the patches, ReLU, a linear read-out ``V`` (10, 4 C) with bias;
  * ``"mlp"``: 64 -> H -> 10 with ReLU and biases;

  weights are penalized, biases stay dense (a group with ``lam = 0``);
- methods: RVSM (:class:`numerics.optim.RVSM`) with each penalty over a grid of gradient thresholds ``gamma`` and
  each ``beta`` (:func:`lam_for_gamma`: at an RVSM fixed point a weight is zero exactly where its loss gradient is at
  most ``gamma`` in size, for every penalty and beta); l1 proximal SGD (:class:`numerics.optim.ProximalSGD`) with
  ``lam = gamma`` (the same zeroing rule at its fixed points); dense training (``lam = 0``);
  magnitude pruning of the dense model (``torch.nn.utils.prune.L1Unstructured``, per weight tensor) to each target
  sparsity, then fine-tuning with the mask fixed; every method gets the same number of mini-batch steps;
- reported per configuration: the fraction of exact zeros among the penalized weights (of ``u`` for RVSM) and the
  test accuracy of those weights.

:func:`summarize` turns the per-seed points into curves at a common sparsity grid (linear interpolation along each
seed's curve, sorted by sparsity) with t-intervals over seeds, and paired differences between methods at matched
sparsity with their t-intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.nn.utils import prune

from numerics.optim import RVSM, ProximalSGD
from numerics.penalties import Penalty
from numerics.problem import resolve_penalty

__all__ = ["MODELS", "StudyConfig", "digits_split", "interpolate_curve", "lam_for_gamma", "mu_for_threshold",
           "run_seed", "run_study", "summarize", "t_interval"]

MODELS = ("cnn", "mlp")
PENALTY_NAMES = ("l1", "l0", "tl1")
N_CLASSES, SIDE, PATCH = 10, 8, 4


@dataclass(frozen=True)
class StudyConfig:
    """Sizes and hyperparameters of the study (see the module docstring for the protocol).

    Attributes
    ----------
    seeds : sequence of int
        Paired seeds (split, start point, mini-batch order); at least 2 for an interval.
    models : sequence of str
        ``"cnn"`` and/or ``"mlp"``.
    gammas : dict penalty name -> sequence of float
        Gradient thresholds ``gamma > 0`` defining the ``lam`` grid of each penalty (:func:`lam_for_gamma`); the l1
        grid is also the ``lam = gamma`` grid of l1 proximal SGD.
    betas : sequence of float
        RVSM coupling weights ``beta > 0`` (``lr beta < 2`` for a stable coupling step).
    prune_targets : sequence of float
        Target sparsities in (0, 1) of magnitude pruning.
    epochs, finetune_epochs, batch_size : int
        Every method trains for ``epochs + finetune_epochs`` (equal budgets): magnitude pruning prunes the dense
        model after ``epochs`` and fine-tunes for ``finetune_epochs``; mini-batch size.
    lr, momentum : float
        Step size and (damped) momentum of every method.
    tl1_a : float
        TL1 parameter ``a``.
    filters, hidden : int
        C of the CNN, H of the MLP.
    test_fraction : float
        Fraction of the 1,797 images held out for testing (stratified).
    """

    seeds: Sequence[int] = (0, 1, 2, 3, 4)
    models: Sequence[str] = MODELS
    gammas: dict[str, Sequence[float]] = field(default_factory=lambda: {
        "l1": tuple(np.geomspace(3e-4, 0.015, 8)), "tl1": tuple(np.geomspace(3e-4, 0.015, 8)),
        "l0": tuple(np.geomspace(0.005, 0.15, 8))})
    betas: Sequence[float] = (1.0, 5.0)
    prune_targets: Sequence[float] = (0.5, 0.7, 0.8, 0.9, 0.95)
    epochs: int = 30
    finetune_epochs: int = 10
    batch_size: int = 64
    lr: float = 0.2
    momentum: float = 0.9
    tl1_a: float = 1.0
    filters: int = 16
    hidden: int = 32
    test_fraction: float = 0.3
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.seeds) < 1 or any(int(s) != s or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be integers >= 0 (at least one); got {self.seeds!r}")
        bad = [m for m in self.models if m not in MODELS]
        if bad or not self.models:
            raise ValueError(f"models must be among {MODELS}; got {self.models!r}")
        if set(self.gammas) != set(PENALTY_NAMES) or any(
                not len(g) or any(not (x > 0) for x in g) for g in self.gammas.values()):
            raise ValueError(f"gammas must give a non-empty grid of values > 0 for each of {PENALTY_NAMES}; got "
                             f"{self.gammas!r}")
        if not self.betas or any(not (b > 0) or self.lr * b >= 2 for b in self.betas):
            raise ValueError(f"betas must satisfy 0 < beta < 2 / lr = {2 / self.lr:g}; got {self.betas!r}")
        if any(not (0 < s < 1) for s in self.prune_targets):
            raise ValueError(f"prune_targets must lie in (0, 1); got {self.prune_targets!r}")
        for name in ("epochs", "finetune_epochs", "batch_size", "filters", "hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {getattr(self, name)!r}")
        if not (0 < self.lr) or not (0 <= self.momentum < 1) or not (0 < self.test_fraction < 1):
            raise ValueError("lr must be > 0, momentum in [0, 1), test_fraction in (0, 1)")


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
def digits_split(seed: int, *, test_fraction: float = 0.3) -> tuple[torch.Tensor, ...]:
    """The digits as float32 tensors ``(X_train, y_train, X_test, y_test)``, ``X`` of shape (n, 64) in [0, 1].

    One stratified split per seed (``sklearn.model_selection.train_test_split(stratify=y, random_state=seed)``).
    """
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=test_fraction, stratify=y, random_state=seed)
    return (torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr, dtype=torch.int64),
            torch.tensor(Xte, dtype=torch.float32), torch.tensor(yte, dtype=torch.int64))


def _patches(X: torch.Tensor) -> torch.Tensor:
    """(n, 64) images -> (n, 4, 16): the four non-overlapping 4x4 patches, each flattened row by row."""
    n = X.shape[0]
    img = X.reshape(n, SIDE // PATCH, PATCH, SIDE // PATCH, PATCH)
    return img.permute(0, 1, 3, 2, 4).reshape(n, (SIDE // PATCH) ** 2, PATCH * PATCH)


# ----------------------------------------------------------------------------------------------------------------------
# Stacked models: G configurations in one program
# ----------------------------------------------------------------------------------------------------------------------
def _init(model: str, cfg: StudyConfig, gen: torch.Generator) -> tuple[list[torch.Tensor], list[bool]]:
    """One start point (PyTorch's default Linear initialization, uniform in +-1/sqrt(fan_in)); which tensors are
    penalized weights."""
    def uni(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
        bound = 1.0 / np.sqrt(fan_in)
        return (torch.rand(shape, generator=gen) * 2 - 1) * bound

    if model == "cnn":
        C, k, d = cfg.filters, (SIDE // PATCH) ** 2, PATCH * PATCH
        return [uni((C, d), d), uni((N_CLASSES, k * C), k * C), uni((N_CLASSES,), k * C)], [True, True, False]
    H, d = cfg.hidden, SIDE * SIDE
    return [uni((H, d), d), uni((H,), d), uni((N_CLASSES, H), H), uni((N_CLASSES,), H)], [True, False, True, False]


def _forward(model: str, params: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """Logits (G, n, 10) of G stacked models; ``X`` is (n, 4, 16) patches for the CNN, (n, 64) for the MLP."""
    if model == "cnn":
        W, V, b = params
        h = torch.relu(torch.einsum("nkd,gcd->gnkc", X, W)).flatten(2)
        return torch.einsum("gnf,gof->gno", h, V) + b[:, None, :]
    W1, b1, W2, b2 = params
    h = torch.relu(torch.einsum("nd,ghd->gnh", X, W1) + b1[:, None, :])
    return torch.einsum("gnh,goh->gno", h, W2) + b2[:, None, :]


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over the G configurations of each one's mean cross-entropy (so each gets its own mean's gradient)."""
    G, n, c = logits.shape
    return F.cross_entropy(logits.reshape(G * n, c), y.repeat(G), reduction="sum") / n


@torch.no_grad()
def _accuracy(model: str, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return (_forward(model, params, X).argmax(-1) == y).double().mean(1).numpy()


def _zeros(params: Sequence[torch.Tensor], penalized: Sequence[bool]) -> np.ndarray:
    """Fraction of exact zeros among the penalized weights, per configuration (G,)."""
    z = sum((p == 0).flatten(1).sum(1).double() for p, pen in zip(params, penalized, strict=True) if pen)
    n = sum(p[0].numel() for p, pen in zip(params, penalized, strict=True) if pen)
    return (z / n).numpy()


def mu_for_threshold(penalty: Penalty, tau: float) -> float:
    """The prox parameter ``mu`` with ``penalty.threshold(mu) = tau`` (bisection: thresholds increase with mu).

    Notes
    -----
    l1: ``mu = tau``; l0: ``mu = tau^2 / 2``; TL1 below the critical threshold ``a/2``: ``mu = tau a / (a + 1)``. The
    bisection uses only :meth:`numerics.penalties.Penalty.threshold` (the one home of those formulas) and stops at a
    relative bracket of 1e-15.
    """
    if not (tau > 0 and np.isfinite(tau)):
        raise ValueError(f"tau must be finite and > 0; got {tau!r}")
    lo, hi = 0.0, 1.0
    while float(penalty.threshold(hi)) < tau:
        hi *= 2.0
    while hi - lo > 1e-15 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(penalty.threshold(mid)) < tau else (lo, mid)
    return 0.5 * (lo + hi)


def lam_for_gamma(penalty: Penalty, gamma: float, beta: float) -> float:
    """The ``lam`` at which RVSM's fixed points zero exactly the weights whose loss gradient is at most ``gamma``.

    Notes
    -----
    At a fixed point ``grad l(w) + beta (w - u) = 0`` with ``u = prox_{mu P}(w)``: where ``u_i = 0``,
    ``|grad_i l| = beta |w_i| <= beta threshold(mu)``, and where ``u_i != 0``, ``|w_i| > threshold(mu)``. So
    ``gamma = beta threshold(lam / beta)``, i.e. ``lam = beta mu_for_threshold(gamma / beta)``: l1 gives
    ``lam = gamma`` for every beta (the rule of l1 proximal gradient at ``lam = gamma``), l0
    ``lam = gamma^2 / (2 beta)``, TL1 (subcritical) ``lam = gamma a / (a + 1)``. This puts penalties and betas on
    one axis of zeroing strength.
    """
    if not (beta > 0 and np.isfinite(beta)):
        raise ValueError(f"beta must be finite and > 0; got {beta!r}")
    return float(beta * mu_for_threshold(penalty, gamma / beta))


def _batches(n: int, cfg: StudyConfig, epochs: int, gen: torch.Generator) -> list[torch.Tensor]:
    return [b for _ in range(epochs) for b in torch.randperm(n, generator=gen).split(cfg.batch_size)]


def _stack(p: torch.Tensor, G: int) -> torch.Tensor:
    return p.detach().unsqueeze(0).repeat(G, *([1] * p.ndim)).requires_grad_(True)


def run_seed(model: str, seed: int, cfg: StudyConfig) -> dict[str, np.ndarray]:
    """Train every configuration of one seed and one model (module docstring); per-configuration results.

    Returns
    -------
    dict of arrays of length n_configs
        ``method`` (str: ``"rvsm_l1"``, ``"rvsm_l0"``, ``"rvsm_tl1"``, ``"prox_l1"``, ``"dense"``, ``"prune"``),
        ``beta`` (NaN where not RVSM), ``gamma`` (gradient threshold; prune: its target sparsity; dense: 0), ``lam``,
        ``sparsity`` (fraction of exact zeros among the penalized weights), ``accuracy`` (test) and
        ``train_accuracy``.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    Xtr, ytr, Xte, yte = digits_split(seed, test_fraction=cfg.test_fraction)
    if model == "cnn":
        Xtr, Xte = _patches(Xtr), _patches(Xte)
    gen = torch.Generator().manual_seed(10_007 * int(seed) + MODELS.index(model))
    start, penalized = _init(model, cfg, gen)
    betas = np.asarray(cfg.betas, dtype=np.float64)

    # -- families of stacked configurations, each with its optimizer ----------------------------------------------
    families: list[tuple[str, list[torch.Tensor], torch.optim.Optimizer, dict[str, np.ndarray]]] = []
    for name in PENALTY_NAMES:
        gam = np.asarray(cfg.gammas[name], dtype=np.float64)
        bb, tt = np.repeat(betas, gam.size), np.tile(gam, betas.size)
        pen = resolve_penalty(name, cfg.tl1_a if name == "tl1" else None)
        lam = np.array([lam_for_gamma(pen, t, b) for t, b in zip(tt, bb, strict=True)])
        ps = [_stack(p, bb.size) for p in start]
        groups = [{"params": [p for p, w in zip(ps, penalized, strict=True) if w],
                   "lam": torch.tensor(lam, dtype=torch.float32), "beta": torch.tensor(bb, dtype=torch.float32)},
                  {"params": [p for p, w in zip(ps, penalized, strict=True) if not w], "lam": 0.0, "beta": 1.0}]
        opt = RVSM(groups, lr=cfg.lr, penalty=pen, lam=0.0, beta=1.0, momentum=cfg.momentum)
        families.append((f"rvsm_{name}", ps, opt, {"beta": bb, "gamma": tt, "lam": lam}))
    taus = np.asarray(cfg.gammas["l1"], dtype=np.float64)
    ps = [_stack(p, taus.size) for p in start]
    groups = [{"params": [p for p, w in zip(ps, penalized, strict=True) if w],
               "lam": torch.tensor(taus, dtype=torch.float32)},
              {"params": [p for p, w in zip(ps, penalized, strict=True) if not w], "lam": 0.0}]
    families.append(("prox_l1", ps, ProximalSGD(groups, lr=cfg.lr, penalty="l1", lam=0.0, momentum=cfg.momentum),
                     {"beta": np.full(taus.size, np.nan), "gamma": taus, "lam": taus}))
    ps = [_stack(p, 1) for p in start]
    families.append(("dense", ps, RVSM(ps, lr=cfg.lr, penalty="l1", lam=0.0, beta=1.0, momentum=cfg.momentum),
                     {"beta": np.full(1, np.nan), "gamma": np.zeros(1), "lam": np.zeros(1)}))

    # every method gets the same budget, epochs + finetune_epochs: the sparse methods and dense training run that
    # long; pruning starts from the dense model after `epochs` (snapshot) and fine-tunes for `finetune_epochs`
    batches = _batches(int(Xtr.shape[0]), cfg, cfg.epochs + cfg.finetune_epochs, gen)
    n_pre = len(batches) * cfg.epochs // (cfg.epochs + cfg.finetune_epochs)
    dense = [p.detach().clone() for p in families[-1][1]]
    for step, idx in enumerate(batches):
        if step == n_pre:
            dense = [p.detach().clone() for p in families[-1][1]]
        for _, _, opt, _ in families:
            opt.zero_grad(set_to_none=True)
        stacked = [torch.cat(ts) for ts in zip(*(f[1] for f in families), strict=True)]
        _loss(_forward(model, stacked, Xtr[idx]), ytr[idx]).backward()
        for _, _, opt, _ in families:
            opt.step()

    out: dict[str, list] = {k: [] for k in ("method", "beta", "gamma", "lam", "sparsity", "accuracy",
                                            "train_accuracy")}

    def record(method: str, params: Sequence[torch.Tensor], info: dict[str, np.ndarray]) -> None:
        n = int(params[0].shape[0])
        out["method"] += [method] * n
        for key in ("beta", "gamma", "lam"):
            out[key] += list(info[key])
        out["sparsity"] += list(_zeros(params, penalized))
        out["accuracy"] += list(_accuracy(model, params, Xte, yte))
        out["train_accuracy"] += list(_accuracy(model, params, Xtr, ytr))

    for method, ps, opt, info in families:
        if isinstance(opt, RVSM):
            with opt.sparse_weights():
                record(method, [p.detach().clone() for p in ps], info)
        else:
            record(method, [p.detach() for p in ps], info)

    # -- magnitude pruning of the dense model at each target, then fine-tuning with the mask fixed ----------------
    targets = np.asarray(cfg.prune_targets, dtype=np.float64)
    P = targets.size
    masks = [torch.stack([prune.L1Unstructured(amount=float(s)).compute_mask(p[0].detach(), torch.ones_like(p[0]))
                          for s in targets]) if pen else None for p, pen in zip(dense, penalized, strict=True)]
    ps = [_stack(p[0], P) for p in dense]
    with torch.no_grad():
        for p, m in zip(ps, masks, strict=True):
            if m is not None:
                p.mul_(m)
    opt = RVSM(ps, lr=cfg.lr, penalty="l1", lam=0.0, beta=1.0, momentum=cfg.momentum)
    for idx in _batches(int(Xtr.shape[0]), cfg, cfg.finetune_epochs, gen):
        opt.zero_grad(set_to_none=True)
        _loss(_forward(model, ps, Xtr[idx]), ytr[idx]).backward()
        opt.step()
        with torch.no_grad():
            for p, m in zip(ps, masks, strict=True):
                if m is not None:
                    p.mul_(m)  # pruned weights stay exactly 0 (kept ones are multiplied by 1: unchanged)
    record("prune", [p.detach() for p in ps], {"beta": np.full(P, np.nan), "gamma": targets, "lam": np.zeros(P)})
    res = {k: np.asarray(v) for k, v in out.items()}
    res["method"] = res["method"].astype(str)
    return res


def run_study(cfg: StudyConfig, *, threads: int | None = 1) -> dict[str, np.ndarray]:
    """:func:`run_seed` for every model and seed; the rows concatenated with ``model`` and ``seed`` columns.

    ``threads``: torch's intra-op threads during the study (restored afterwards; None keeps torch's setting). The
    default 1 because the study's tensors are small: on the shared, loaded 2-core development machine two threads
    made one seed of the CNN 9x slower (92 s against 10.6 s, measured once), with the same results.
    """
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        parts = []
        for model in cfg.models:
            for seed in cfg.seeds:
                r = run_seed(model, int(seed), cfg)
                n = r["accuracy"].size
                parts.append({"model": np.full(n, model), "seed": np.full(n, int(seed)), **r})
    finally:
        torch.set_num_threads(old)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ----------------------------------------------------------------------------------------------------------------------
# Curves, intervals, paired differences
# ----------------------------------------------------------------------------------------------------------------------
def t_interval(x: np.ndarray, *, level: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and the two-sided Student-t confidence interval over ``axis``, ignoring NaN.

    Notes
    -----
    ``mean +- t_{(1+level)/2, n-1} s / sqrt(n)`` with ``s`` the sample standard deviation (ddof 1) of the ``n``
    finite values; the interval is NaN where ``n < 2``, the mean NaN where ``n = 0``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=axis) / n
        dev = np.where(np.isfinite(x), x - np.expand_dims(mean, axis), 0.0)
        sd = np.sqrt(np.sum(dev * dev, axis=axis) / (n - 1))
        half = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    mean = np.where(n >= 1, mean, np.nan)
    return mean, mean - half, mean + half


def interpolate_curve(sparsity: np.ndarray, accuracy: np.ndarray, grid: np.ndarray, *,
                      max_gap: float = 0.1) -> np.ndarray:
    """Accuracy at the sparsities ``grid`` by linear interpolation along the points sorted by sparsity.

    Points at equal sparsity are averaged. NaN outside ``[min, max]`` of the points (no extrapolation) and inside a
    gap wider than ``max_gap`` between consecutive points (a sweep that jumps, e.g. from 0.82 to 0.94 zeros when the
    network collapses, is not measured in between: a straight line across it would report accuracies nobody
    measured, with intervals that see only the spread between seeds). The default, 0.1, is two steps of the
    figure's sparsity grid.
    """
    s, a = np.asarray(sparsity, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    xs, inv = np.unique(s, return_inverse=True)
    ys = np.bincount(inv, weights=a) / np.bincount(inv)
    out = np.interp(grid, xs, ys)
    j = np.clip(np.searchsorted(xs, grid, side="left"), 1, max(xs.size - 1, 1))
    gap = (xs[j] - xs[j - 1] > max_gap) & ~np.isin(grid, xs) if xs.size > 1 else np.zeros(grid.shape, dtype=bool)
    return np.where((grid >= xs[0]) & (grid <= xs[-1]) & ~gap, out, np.nan)


def method_keys(results: dict[str, np.ndarray]) -> list[tuple[str, float]]:
    """(method, beta) of every curve, in a fixed order (RVSM by penalty then beta, then the baselines)."""
    order = {m: i for i, m in enumerate(("rvsm_l1", "rvsm_l0", "rvsm_tl1", "prox_l1", "prune", "dense"))}
    # beta > 0 for RVSM; NaN (no beta) is keyed as -1 so that the set sees one key (NaN != NaN)
    keys = {(str(m), float(b) if np.isfinite(b) else -1.0)
            for m, b in zip(results["method"], results["beta"], strict=True)}
    return [(m, b if b > 0 else np.nan) for m, b in sorted(keys, key=lambda k: (order.get(k[0], 99), k[1]))]


def _rows(results: dict[str, np.ndarray], model: str, method: str, beta: float) -> np.ndarray:
    sel = (results["model"] == model) & (results["method"] == method)
    return sel & (np.isnan(results["beta"]) if np.isnan(beta) else results["beta"] == beta)


def summarize(results: dict[str, np.ndarray], grid: Sequence[float], *, reference: str = "prune",
              level: float = 0.95, max_gap: float = 0.1) -> dict[str, np.ndarray]:
    """Curves at the sparsity ``grid`` per (model, method, beta), with t-intervals over seeds, and paired
    differences against ``reference`` (and, for RVSM l0 and TL1, against RVSM l1 at the same beta).

    Each seed's curve is :func:`interpolate_curve` (with ``max_gap``; not for pruning, whose sparsities are the
    targets it was given); intervals are :func:`t_interval` at ``level``.

    Returns
    -------
    dict of arrays, one row per (model, method, beta, grid point)
        ``model``, ``method``, ``beta``, ``sparsity`` (grid), ``n_seeds`` (seeds whose curve covers the point),
        ``acc_mean``, ``acc_lo``, ``acc_hi``; ``diff_ref_*`` (method minus reference, paired by seed) and
        ``diff_l1_*`` (minus RVSM l1 at the same beta; NaN for other methods). Means, intervals and differences are
        given only where every seed's curve (both curves, for a difference) covers the point, so that every value
        is over the same seeds; NaN elsewhere.
        Dense training has one row at its mean sparsity (its accuracy is a level, not a curve).
    """
    grid = np.asarray(grid, dtype=np.float64)
    cols: dict[str, list] = {k: [] for k in ("model", "method", "beta", "sparsity", "n_seeds", "acc_mean", "acc_lo",
                                             "acc_hi", "diff_ref_mean", "diff_ref_lo", "diff_ref_hi", "diff_l1_mean",
                                             "diff_l1_lo", "diff_l1_hi")}
    for model in dict.fromkeys(results["model"].tolist()):
        seeds = np.unique(results["seed"][results["model"] == model])

        def curves(method: str, beta: float, model: str = model, seeds: np.ndarray = seeds) -> np.ndarray:
            rows = _rows(results, model, method, beta)
            # pruning's sparsities are the targets it was given (spaced by design, accuracy smooth between them);
            # every other method's sparsity is an outcome of its lam, where a wide gap is a jump nobody measured
            gap = math.inf if method == "prune" else max_gap
            return np.stack([interpolate_curve(results["sparsity"][rows & (results["seed"] == s)],
                                               results["accuracy"][rows & (results["seed"] == s)], grid,
                                               max_gap=gap)
                             for s in seeds])

        def covered(x: np.ndarray) -> np.ndarray:
            """NaN at a grid point unless every seed's curve covers it (means and pairs over the same seeds)."""
            return np.where(np.all(np.isfinite(x), axis=0), x, np.nan)

        ref = curves(reference, np.nan)
        for method, beta in method_keys({k: v[results["model"] == model] for k, v in results.items()}):
            if method == "dense":
                rows = _rows(results, model, method, beta)
                m, lo, hi = t_interval(results["accuracy"][rows], level=level)
                vals = [[float(np.mean(results["sparsity"][rows]))], [int(np.sum(rows))], [m], [lo], [hi]]
                nan = [[np.nan]] * 6
            else:
                acc = curves(method, beta)
                m, lo, hi = t_interval(covered(acc), level=level)
                dr = t_interval(covered(acc - ref), level=level)
                dl = (t_interval(covered(acc - curves("rvsm_l1", beta)), level=level)
                      if method in ("rvsm_l0", "rvsm_tl1") else (np.full(grid.size, np.nan),) * 3)
                vals = [grid, np.sum(np.isfinite(acc), axis=0), m, lo, hi]
                nan = [*dr, *dl]
            n = len(vals[0])
            cols["model"] += [model] * n
            cols["method"] += [method] * n
            cols["beta"] += [beta] * n
            for key, v in zip(("sparsity", "n_seeds", "acc_mean", "acc_lo", "acc_hi", "diff_ref_mean", "diff_ref_lo",
                               "diff_ref_hi", "diff_l1_mean", "diff_l1_lo", "diff_l1_hi"), [*vals, *nan], strict=True):
                cols[key] += list(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)))
    return {k: np.asarray(v) for k, v in cols.items()}
