"""Figure ``finite_sample``: RVSM with the empirical gradient of N samples nears the population limit as N^(-1/2).

RVSM (l1) is run with the empirical gradient of ``N`` samples (``numerics.run(..., gradient=Empirical(n_samples=N,
seed=s))``), from a fixed start, until ``|w^{t+1} - w^t| < tol``; the distance ``|u_N - u_bar|`` of its limit to
the population prediction ``u_bar`` (:func:`numerics.predict`) is plotted against ``N`` (log-log): median and
interquartile range over independent sample draws (seeds), a least-squares line through all ``(log N, log dist)``
pairs, and the reference slope ``-1/2``.

Why ``-1/2``: the empirical fixed point solves ``g_N(w) + beta (w - prox(w)) = 0`` with ``g_N = grad l + O_P(N^-1/2)``
(a mean of ``N`` i.i.d. terms); where the population fixed point is non-degenerate (l1 with every coordinate away
from its threshold, so the support is locally constant and the fixed-point map smooth), the implicit function
theorem moves it by ``O_P(N^-1/2)``.

Parameters: ``w* = (1, -0.8, 0.6, 0, 0)``, ``k = 2``, ``lam = 0.05``, ``beta = 1``, ``eta = 1``: the kept coordinates
sit far above the l1 threshold and the zero coordinates far below (population ``w_bar_i = 0`` there); with ``k = 2``
the linear rate ``~1 - eta/k = 1/2`` makes a run converge in ~40-80 iterations, each costing two products of the
``(N k) x d`` sample matrix. The seeds of the ``N`` samples differ for every ``(N, seed)`` pair, so all points are
independent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import numerics as nm
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv
from paper_figures.progress import progress

NAME = "finite_sample"

PRESETS = {
    "tiny": {"n_values": (150, 450, 1350, 4050), "n_seeds": 8},
    "quick": {"n_values": (250, 500, 1000, 2000, 4000, 8000, 16000), "n_seeds": 24},
    "full": {"n_values": tuple(round(250 * 2 ** (j / 2)) for j in range(21)), "n_seeds": 48},  # N up to 256000
}

SEED = 20240508
W_STAR = (1.0, -0.8, 0.6, 0.0, 0.0)
K, PENALTY, LAM, BETA, ETA = 2, "l1", 0.05, 1.0, 1.0
TOL, ITERS = 1e-11, 5000
START_ANGLE = 1.0  # rad

D = len(W_STAR)
COLUMNS = ("n_samples", "seed", "dist_u", "dist_w", "support_match", "iterations", "converged",
           *(f"u_{j}" for j in range(D)), *(f"u_pred_{j}" for j in range(D)),
           "median_dist_u", "q25_dist_u", "q75_dist_u", "fit_slope", "fit_slope_se", "fit_intercept")
DESCRIPTIONS = {
    "n_samples": "number N of training samples (inputs of k x d Gaussian patches, labels y = f(Z; w*))",
    "seed": "seed of the sample draw (distinct for every (N, seed) row: SEED + 1000 * index of N + index of seed)",
    "dist_u": "|u_N - u_bar|: Euclidean distance of the empirical RVSM output to the population prediction [unit of w]",
    "dist_w": "|w_N - w_bar| [unit of w]",
    "support_match": "1 if supp(u_N) equals the predicted support supp(u_bar)",
    "iterations": "number of RVSM updates until |w^{t+1} - w^t| < tol",
    "converged": "1 if the run met the tolerance",
    **{f"u_{j}": f"coordinate {j} of the empirical RVSM output u_N [unit of w]" for j in range(D)},
    **{f"u_pred_{j}": f"coordinate {j} of the population prediction u_bar (numerics.predict) [unit of w]"
       for j in range(D)},
    "median_dist_u": "median of dist_u over the seeds of this N (repeated on each row of this N) [unit of w]",
    "q25_dist_u": "25th percentile of dist_u over the seeds of this N [unit of w]",
    "q75_dist_u": "75th percentile of dist_u over the seeds of this N [unit of w]",
    "fit_slope": "least-squares slope of log(dist_u) on log(N) over all rows (same on every row) [1]",
    "fit_slope_se": "standard error of fit_slope from the regression residuals [1]",
    "fit_intercept": "least-squares intercept of log(dist_u) on log(N) [log of unit of w]",
}


def fit_loglog(n: np.ndarray, dist: np.ndarray) -> tuple[float, float, float]:
    """Least-squares fit ``log dist = b + a log N`` over all points; returns ``(a, se(a), b)``.

    Notes
    -----
    ``se(a) = s / sqrt(sum (log N - mean)^2)`` with ``s^2`` the residual variance (``n - 2`` degrees of freedom):
    the textbook standard error for independent points.
    """
    x, y = np.log(np.asarray(n, dtype=float)), np.log(np.asarray(dist, dtype=float))
    if x.size < 3 or np.ptp(x) == 0:
        raise ValueError("fit_loglog needs at least 3 points and two distinct N")
    xm = x - x.mean()
    sxx = float(np.sum(xm * xm))
    a = float(np.sum(xm * (y - y.mean())) / sxx)
    b = float(y.mean() - a * x.mean())
    res = y - (b + a * x)
    s2 = float(np.sum(res * res) / (x.size - 2))
    return a, math.sqrt(s2 / sxx), b


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """All columns of the CSV (see :data:`COLUMNS`), one row per (N, seed)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    cfg = PRESETS[preset]
    ws = np.asarray(W_STAR)
    problem = nm.Problem(ws, K, PENALTY, LAM, BETA)
    pred = nm.predict(problem)
    if not bool(pred.ok):
        raise RuntimeError("the population prediction is not a consistent fixed point")
    w0 = nm.at_angle(ws, START_ANGLE, seed=SEED)
    rows: dict[str, list] = {c: [] for c in ("n_samples", "seed", "dist_u", "dist_w", "support_match",
                                             "iterations", "converged", "u")}
    jobs = [(i, n, s) for i, n in enumerate(cfg["n_values"]) for s in range(cfg["n_seeds"])]
    for i, n, s in progress(jobs, f"{NAME}: runs"):
        seed = SEED + 1000 * i + s
        res = nm.run(problem, w0, eta=ETA, iters=ITERS, tol=TOL, gradient=nm.Empirical(n_samples=n, seed=seed))
        u, w = np.asarray(res.u), np.asarray(res.w)
        rows["n_samples"].append(n)
        rows["seed"].append(seed)
        rows["dist_u"].append(float(np.linalg.norm(u - pred.u)))
        rows["dist_w"].append(float(np.linalg.norm(w - pred.w)))
        rows["support_match"].append(int(np.array_equal(u != 0, pred.u != 0)))
        rows["iterations"].append(int(res.iterations))
        rows["converged"].append(int(bool(res.converged)))
        rows["u"].append(u)
    cols: dict[str, np.ndarray] = {c: np.asarray(v) for c, v in rows.items() if c != "u"}
    u_all = np.asarray(rows["u"])
    for j in range(D):
        cols[f"u_{j}"] = u_all[:, j]
    for j in range(D):
        cols[f"u_pred_{j}"] = np.full(len(jobs), float(pred.u[j]))
    med, q25, q75 = (np.empty(len(jobs)) for _ in range(3))
    for n in cfg["n_values"]:
        m = cols["n_samples"] == n
        med[m], q25[m], q75[m] = (np.percentile(cols["dist_u"][m], p) for p in (50, 25, 75))
    cols["median_dist_u"], cols["q25_dist_u"], cols["q75_dist_u"] = med, q25, q75
    a, se, b = fit_loglog(cols["n_samples"], cols["dist_u"])
    cols["fit_slope"] = np.full(len(jobs), a)
    cols["fit_slope_se"] = np.full(len(jobs), se)
    cols["fit_intercept"] = np.full(len(jobs), b)
    return {c: cols[c] for c in COLUMNS}


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``finite_sample.csv`` into ``out_dir``; return its path."""
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title=(f"finite-sample RVSM: w* = {W_STAR}, {PENALTY}, k={K}, lam={LAM}, beta={BETA}, "
                            f"eta={ETA}, tol={TOL}, start at angle {START_ANGLE} rad (seed {SEED}); "
                            "one row per (N, seed)"),
                     meta={"w_star": W_STAR, "penalty": PENALTY, "k": K, "lam": LAM, "beta": BETA, "eta": ETA,
                           "tol": TOL, "iters": ITERS, "start_angle": START_ANGLE, "seed": SEED})


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Draw the log-log panel from the CSV; save PNG + PDF."""
    cols, meta = read_csv(csv_path), read_meta(csv_path)
    penalty = meta["penalty"]
    fig, axes = style.new_figure(1, 1, width=style.SINGLE_COLUMN_IN, panel_aspect=0.8)
    ax = axes[0, 0]
    ns = np.unique(cols["n_samples"])
    first = np.array([np.flatnonzero(cols["n_samples"] == n)[0] for n in ns])
    med, q25, q75 = cols["median_dist_u"][first], cols["q25_dist_u"][first], cols["q75_dist_u"][first]
    a, se, b = cols["fit_slope"][0], cols["fit_slope_se"][0], cols["fit_intercept"][0]
    n_seeds = int(np.sum(cols["n_samples"] == ns[0]))
    c = style.PENALTY_COLORS[penalty]
    with style.style_context():
        ax.loglog(cols["n_samples"], cols["dist_u"], ls="none", marker=".", ms=2.0, color=c, alpha=0.25,
                  label=f"single runs ({n_seeds} seeds per $N$)")
        ax.errorbar(ns, med, yerr=[med - q25, q75 - med], color=c, marker="o", ms=3.5, ls="none", capsize=2,
                    label="median, interquartile range")
        nn = np.geomspace(ns[0], ns[-1], 50)
        ax.loglog(nn, np.exp(b) * nn ** a, color=c, lw=1.0, label=rf"fit: slope ${a:.3f}\pm{se:.3f}$")
        anchor = float(np.exp(np.mean(np.log(med) + 0.5 * np.log(ns))))
        ax.loglog(nn, 2.0 * anchor * nn ** -0.5, color=style.THEORY_COLOR, ls="--", lw=0.9,
                  label=r"reference $\propto N^{-1/2}$ (shifted up $\times2$)")
        ax.set_xlabel(r"number of samples $N$")
        ax.set_ylabel(r"$|u_N-\bar u|$ (distance to population limit)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=6, columnspacing=1.0)
        ax.set_title(rf"{style.PENALTY_LABELS[penalty]}, $d={len(meta['w_star'])}$, $k={meta['k']}$, "
                     rf"$\lambda={meta['lam']:g}$, $\beta={meta['beta']:g}$", fontsize=7)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``finite_sample.csv``), draw ``finite_sample.png`` / ``.pdf``; return the paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
