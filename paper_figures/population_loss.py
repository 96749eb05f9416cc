"""Figure ``population_loss``: the closed-form population loss against Monte Carlo estimates of the network.

Left panel: ``l(w)`` along the angle ``t = angle(w, w*)`` at ``|w| = |w*|``; right panel: along the norm ``|w|`` at a
fixed angle ``t0``; each for ``k = 2`` and a larger ``k``. Curves: :func:`numerics.population.loss`. Points: the
sample mean of ``(f(Z; w) - f(Z; w*))^2`` over ``N`` fresh Gaussian inputs per point (:mod:`numerics.model`), with
error bars of +-2 standard errors (sample standard deviation / sqrt(N)).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from numerics import init, model, population
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "population_loss"

PRESETS = {
    "tiny": {"ks": (2, 8), "d": 5, "n_samples": 4000, "n_mc": 7, "n_curve": 61},
    "quick": {"ks": (2, 8), "d": 5, "n_samples": 40000, "n_mc": 13, "n_curve": 181},
    "full": {"ks": (2, 8), "d": 5, "n_samples": 400000, "n_mc": 25, "n_curve": 361},
}

#: sweep codes in the CSV
SWEEP_ANGLE, SWEEP_NORM = 0, 1
#: the fixed angle of the norm sweep [rad] and the norm range of that sweep in units of |w*|
FIXED_ANGLE = math.pi / 4
NORM_RANGE = (0.0, 2.5)
SEED = 20240501
#: colors for the two values of k (Okabe-Ito, distinct from the penalty colors)
K_COLORS = ("#E69F00", "#56B4E9")

COLUMNS = ("sweep", "k", "d", "angle", "norm_w", "norm_w_star", "is_mc", "loss_closed_form", "loss_mc", "loss_mc_se",
           "n_samples")
DESCRIPTIONS = {
    "sweep": "0 = sweep of the angle t at |w| = |w*|; 1 = sweep of the norm |w| at the fixed angle t0 = pi/4",
    "k": "number of patches k",
    "d": "patch dimension d",
    "angle": "t = angle(w, w*) [rad]",
    "norm_w": "|w| (teacher normalized to |w*| = 1) [same unit as w*]",
    "norm_w_star": "|w*| [same unit as w]",
    "is_mc": "1 = Monte Carlo point (with loss_mc, loss_mc_se); 0 = closed-form curve point (loss_mc = loss_mc_se = 0)",
    "loss_closed_form": "closed-form l(w) = E[(f(Z;w) - f(Z;w*))^2] (numerics.population.loss) [unit of w^2]",
    "loss_mc": "Monte Carlo mean of (f(Z;w) - f(Z;w*))^2 over n_samples fresh inputs Z [unit of w^2]",
    "loss_mc_se": "standard error of loss_mc: sample standard deviation / sqrt(n_samples) [unit of w^2]",
    "n_samples": "number N of Monte Carlo inputs Z (k x d Gaussian patches) per point (0 on curve rows)",
}


def _teacher(d: int) -> np.ndarray:
    """A fixed unit teacher (seeded)."""
    g = np.random.default_rng(SEED).standard_normal(d)
    return g / np.linalg.norm(g)


def sweep_points(sweep: int, n: int, w_star: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(angle, norm, W)`` for ``n`` points of a sweep: ``W`` (n, d) at those angles and norms to ``w_star``.

    All points of a sweep share one direction orthogonal to ``w*`` (seeded), so they lie on one plane.
    """
    if sweep == SWEEP_ANGLE:
        ang = np.linspace(0.0, math.pi, n)
        nrm = np.full(n, np.linalg.norm(w_star))
    elif sweep == SWEEP_NORM:
        ang = np.full(n, FIXED_ANGLE)
        nrm = np.linalg.norm(w_star) * np.linspace(*NORM_RANGE, n)
        nrm[0] = max(nrm[0], 1e-9)  # at_angle needs norm > 0; the loss is continuous at w = 0
    else:
        raise ValueError(f"sweep must be {SWEEP_ANGLE} (angle) or {SWEEP_NORM} (norm); got {sweep!r}")
    ws = np.broadcast_to(w_star, (n, w_star.size)).copy()
    w = init.at_angle(ws, ang, seed=SEED + 1, norm=nrm)
    return ang, nrm, np.asarray(w)


def monte_carlo_loss(w: np.ndarray, w_star: np.ndarray, k: int, n_samples: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo estimate of ``l(w)`` for each row of ``w`` (B, d), with independent inputs per row.

    Returns
    -------
    mean, se : arrays (B,)
        Sample mean of ``(f(Z; w) - f(Z; w*))^2`` and its standard error ``std / sqrt(N)`` (ddof = 1).

    Notes
    -----
    ``l(w) = E[(f(Z; w) - f(Z; w*))^2]``, ``f(Z; w) = (1/k) sum_i relu(Z_i . w)``, ``Z_i`` i.i.d. N(0, I_d).
    """
    seeds = np.random.SeedSequence(seed).spawn(w.shape[0])
    mean = np.empty(w.shape[0])
    se = np.empty(w.shape[0])
    for b in range(w.shape[0]):
        z = model.sample_patches(n_samples, k, w.shape[1], seed=np.random.default_rng(seeds[b]))
        r2 = (model.forward(z, w[b]) - model.labels(z, w_star)) ** 2
        mean[b] = r2.mean()
        se[b] = r2.std(ddof=1) / math.sqrt(n_samples)
    return mean, se


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """The data of the figure (all rows of the CSV) for ``preset``."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    d = p["d"]
    w_star = _teacher(d)
    rows: dict[str, list] = {c: [] for c in COLUMNS}
    for ik, k in enumerate(p["ks"]):
        for sweep in (SWEEP_ANGLE, SWEEP_NORM):
            for is_mc, n in ((0, p["n_curve"]), (1, p["n_mc"])):
                ang, nrm, w = sweep_points(sweep, n, w_star)
                cf = np.asarray(population.loss(w, w_star, k))
                if is_mc:
                    mc, se = monte_carlo_loss(w, w_star, k, p["n_samples"], SEED + 100 * ik + 10 * sweep)
                    ns = p["n_samples"]
                else:
                    mc, se, ns = np.zeros(n), np.zeros(n), 0
                for j in range(n):
                    for c, v in zip(COLUMNS, (sweep, k, d, ang[j], nrm[j], 1.0, is_mc, cf[j], mc[j], se[j], ns),
                                    strict=True):
                        rows[c].append(v)
    return {c: np.asarray(v) for c, v in rows.items()}


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``population_loss.csv`` into ``out_dir``; return its path."""
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title="Population loss: closed form vs Monte Carlo (teacher |w*| = 1, seeded)",
                     meta={"fixed_angle": FIXED_ANGLE, "norm_range": NORM_RANGE, "seed": SEED})


def _angle_label(t: float) -> str:
    """``t`` [rad] as a multiple of pi in TeX (``pi/4``), or in degrees when it is no simple fraction."""
    frac = Fraction(t / math.pi).limit_denominator(12)
    if abs(float(frac) * math.pi - t) > 1e-12:
        return f"{math.degrees(t):g}^\\circ"
    num = "" if frac.numerator == 1 else str(frac.numerator)
    return rf"{num}\pi" + ("" if frac.denominator == 1 else f"/{frac.denominator}")


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Draw the two panels (loss on top, standardized Monte Carlo residuals below) from the CSV; save PNG + PDF."""
    data, meta = read_csv(csv_path), read_meta(csv_path)
    with style.style_context():
        fig, axes = style.new_figure(2, 2, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.42, sharex="col",
                                     gridspec_kw={"height_ratios": [3, 1.1]})
        for col, sweep in enumerate((SWEEP_ANGLE, SWEEP_NORM)):
            ax, axr = axes[0, col], axes[1, col]
            for ik, k in enumerate(np.unique(data["k"]).astype(int)):
                sel = (data["sweep"] == sweep) & (data["k"] == k)
                cur, mc = sel & (data["is_mc"] == 0), sel & (data["is_mc"] == 1)
                x = data["angle"] / math.pi if sweep == SWEEP_ANGLE else data["norm_w"]
                ax.plot(x[cur], data["loss_closed_form"][cur], color=K_COLORS[ik], lw=1.2,
                        label=f"closed form, $k={k}$")
                ax.errorbar(x[mc], data["loss_mc"][mc], yerr=2 * data["loss_mc_se"][mc], fmt="o", ms=3.5,
                            mfc="white", mec=K_COLORS[ik], ecolor=K_COLORS[ik], elinewidth=0.9, capsize=1.5,
                            label=f"Monte Carlo $\\pm 2$ s.e., $k={k}$")
                se = data["loss_mc_se"][mc]
                z = np.where(se > 0, (data["loss_mc"][mc] - data["loss_closed_form"][mc]) / np.where(se > 0, se, 1),
                             0.0)
                off = (ik - 0.5) * 0.012 * (x[mc].max() - x[mc].min())  # side by side, not on top of each other
                axr.plot(x[mc] + off, z, "o", ms=3, mfc="white", mec=K_COLORS[ik])
            axr.axhspan(-2, 2, color="0.9", lw=0)
            axr.axhline(0, color=style.THEORY_COLOR, lw=0.8)
            axr.set_ylim(-4.5, 4.5)
            axr.set_yticks([-4, -2, 0, 2, 4])
            axr.set_ylabel("(MC $-$ closed)\n/ s.e.")
            if sweep == SWEEP_ANGLE:
                axr.set_xlabel(r"angle $\theta(w, w^*)$ [$\pi$ rad]  ($|w| = |w^*|$)")
                ax.set_title(r"(a) along the angle")
            else:
                axr.set_xlabel(rf"norm $|w|\,/\,|w^*|$  (fixed angle $\theta = {_angle_label(meta['fixed_angle'])}$)")
                ax.axvline(1.0, color="0.6", lw=0.7, ls=":")
                ax.set_title(r"(b) along the norm")
            ax.set_ylabel(r"population loss $\ell(w)$ [$|w^*|^2$]")
            ax.set_ylim(bottom=0)
        n = int(data["n_samples"].max())
        # Both panels use the same series styles; the legend sits in panel (b)'s empty upper left (the loss there is
        # at most l(0) < 0.5 |w*|^2 for |w| <= |w*|), where it covers no data at any preset.
        handles, labels = axes[0, 0].get_legend_handles_labels()
        axes[0, 1].legend(handles, labels, loc="upper left",
                          title=f"d = {int(data['d'][0])}, N = {n:,} inputs per point")
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``population_loss.csv``), draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
