"""Figure ``pareto_front``: the exact loss-sparsity fronts, the fold a lam sweep jumps over, and how far RVSM sits off.

(a) Loss against ``|u|_1`` for the teacher ``w* = (1, 0.95, 0.9, 0)``, ``k = 8`` (:func:`numerics.fronts.l1_front`):
the exact front with its nonconvex stretch shaded (the points above the lower convex hull), the warm-started
``lam`` sweep of proximal gradient (the weighted-sum method; it jumps over the stretch), the multiobjective proximal
gradient path follower (Amakor, Sonntag & Peitz; it does not), and RVSM-l1 limits (:func:`numerics.predict`) for
``beta`` in {0.1, 1, 10} over a ``lam`` grid; inset: ``lam(kappa)`` along the closed-form path, with its fold.
(b) Loss against the support size for a seeded Gaussian teacher (``d = 8``, ``k = 4``): the exact l0 staircase,
RVSM-l0 and RVSM-TL1 (``a = 1``) limits at ``beta = 1`` over a ``lam`` grid, and magnitude pruning of the dense
solution ``w*`` (top-``m`` coordinates kept, not rescaled). (c) RVSM's excess loss over the exact front at equal
penalty value (l1: ``|u|_1``; l0: the support size; TL1: ``sum rho_a``) against ``beta``, median over a ``lam``
grid, for the teacher of (b); a ``1/beta^2`` guide. For l0 at a fixed ``lam`` every coordinate is kept once
``sqrt(2 lam/beta) < r min|w*_i|``: then ``u_bar = w*`` and the excess is rounding (below 1e-16, drawn at the
floor).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import numerics as nm
from numerics import fronts as F
from numerics import population
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "pareto_front"

FOLD_TEACHER = (1.0, 0.95, 0.9, 0.0)
K_FOLD = 8
D_B, K_B, SEED = 8, 4, 7
TL1_A = 1.0
BETAS_A = (0.1, 1.0, 10.0)

PRESETS = {
    "tiny": {"n_points": 80, "n_sweep": 10, "shrink": 0.15, "n_lam": 3, "n_beta": 3, "step": 0.05},
    "quick": {"n_points": 300, "n_sweep": 30, "shrink": 0.04, "n_lam": 10, "n_beta": 10, "step": 0.01},
    "full": {"n_points": 800, "n_sweep": 60, "shrink": 0.02, "n_lam": 24, "n_beta": 20, "step": 0.005},
}

#: series codes of the CSV
SERIES = {
    0: "exact l1 front (Pareto points)", 1: "lam sweep (weighted sum)", 2: "path follower", 3: "RVSM-l1 beta=0.1",
    4: "RVSM-l1 beta=1", 5: "RVSM-l1 beta=10", 6: "inset: lam against kappa", 10: "exact l0 staircase",
    11: "RVSM-l0 beta=1", 12: "RVSM-TL1 beta=1", 13: "magnitude pruning of w*", 20: "excess l1", 21: "excess l0",
    22: "excess TL1",
}
COLUMNS = ("panel", "series", "x", "y", "lam", "beta", "y_max")
NAN_COLUMNS = ("lam", "beta", "y_max")
DESCRIPTIONS = {
    "panel": "0 = (a) l1 front, 1 = (b) support-size front, 2 = (c) excess loss against beta",
    "series": "what the row is: " + "; ".join(f"{c} = {s}" for c, s in SERIES.items()),
    "x": "(a) |u|_1 (series 6: kappa); (b) support size; (c) beta [1]",
    "y": "(a, b) population loss l(u) (series 6: lam); (c) median over the lam grid of l(u_bar) - front(P(u_bar)) [1]",
    "lam": "penalty weight of the point (NaN where none)",
    "beta": "RVSM's beta (NaN for the other series)",
    "y_max": "(c) largest excess over the lam grid (NaN elsewhere)",
}


def _rows(panel: int, series: int, x, y, lam=None, beta=None, y_max=None) -> dict[str, np.ndarray]:
    x = np.atleast_1d(np.asarray(x, dtype=float))
    n = x.size

    def col(v):
        return np.full(n, np.nan) if v is None else np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()

    return {"panel": np.full(n, panel), "series": np.full(n, series), "x": x, "y": np.asarray(y, dtype=float),
            "lam": col(lam), "beta": col(beta), "y_max": col(y_max)}


def _panel_a(p: dict) -> tuple[list[dict], dict]:
    ws = np.array(FOLD_TEACHER)
    front = F.l1_front(ws, K_FOLD, n_points=p["n_points"])
    gap = F.convex_hull_gap(front)
    stretch = front.penalty_value[gap > 1e-12]
    rows = [_rows(0, 0, front.penalty_value[front.pareto], front.loss[front.pareto], front.lam[front.pareto])]
    lam_top = float(np.max(front.lam[front.piece == 0]))
    lam_end = float(np.max(front.lam[front.pareto]))  # where the front reaches 0
    sweep = F.lam_sweep(front, np.linspace(lam_end / p["n_sweep"], lam_end, p["n_sweep"]))
    rows.append(_rows(0, 1, sweep.penalty_value, sweep.loss, sweep.lam))
    follower = F.path_follower(front, shrink=p["shrink"])
    rows.append(_rows(0, 2, follower.penalty_value, follower.loss))
    lams = np.linspace(0.004, 0.95 * lam_top, p["n_lam"])
    for code, beta in zip((3, 4, 5), BETAS_A, strict=True):
        sc = F.rvsm_limits(front, lams, beta)
        rows.append(_rows(0, code, sc.penalty_value[sc.ok], sc.loss[sc.ok], sc.lam[sc.ok], beta))
    on_path = front.piece == 0
    rows.append(_rows(0, 6, front.param[on_path], front.lam[on_path]))
    meta = {"teacher_a": list(FOLD_TEACHER), "k_a": K_FOLD, "folds_a": [list(f) for f in front.folds],
            "stretch_a": [float(stretch.min()), float(stretch.max())] if stretch.size else [],
            "sweep_max_excess": float(np.max(np.abs(sweep.excess))),
            "follower_max_excess": float(np.max(follower.excess))}
    return rows, meta


def _panel_b(p: dict) -> tuple[list[dict], dict]:
    ws = nm.make_teachers(1, D_B, seed=SEED)[0]
    front = F.l0_front(ws, K_B)
    rows = [_rows(1, 10, front.penalty_value, front.loss, front.lam)]
    lam_l0 = np.geomspace(1e-3, 0.3, p["n_lam"])
    for code, pen in ((11, "l0"), (12, "tl1")):
        prob = nm.Problem(np.tile(ws, (lam_l0.size, 1)), K_B, pen, lam_l0, 1.0, a=TL1_A if pen == "tl1" else None)
        pred = nm.predict(prob)
        ok = np.asarray(pred.ok)
        u = np.asarray(pred.u)[ok]
        rows.append(_rows(1, code, np.count_nonzero(u, axis=1), population.loss(u, ws, K_B), lam_l0[ok], 1.0))
    order = np.argsort(-np.abs(ws), kind="stable")
    pruned = np.zeros((D_B + 1, D_B))
    for m in range(1, D_B + 1):
        pruned[m, order[:m]] = ws[order[:m]]
    rows.append(_rows(1, 13, np.arange(D_B + 1), population.loss(pruned, ws, K_B)))
    return rows, {"teacher_b": [float(v) for v in ws], "k_b": K_B, "a_tl1": TL1_A}


def excess_table(w_star: np.ndarray, k: int, betas: np.ndarray, lams_by_penalty: dict[str, np.ndarray], *,
                 step: float = 0.01) -> dict[str, np.ndarray]:
    """Median and largest excess loss of RVSM over the exact front, per penalty and ``beta``.

    Returns ``{penalty: array (2, n_beta)}``: the median and the largest excess over the ``lam`` grid (consistent
    predictions only).
    """
    out = {}
    for pen, lams in lams_by_penalty.items():
        front = F.pareto_front(w_star, k, pen, a=TL1_A if pen == "tl1" else None, step=step)
        med, mx = [], []
        for beta in betas:
            sc = F.rvsm_limits(front, lams, float(beta))
            ex = sc.excess[sc.ok]
            med.append(float(np.median(ex)) if ex.size else np.nan)
            mx.append(float(np.max(ex)) if ex.size else np.nan)
        out[pen] = np.array([med, mx])
    return out


def _panel_c(p: dict) -> tuple[list[dict], dict]:
    betas = np.geomspace(0.1, 300.0, p["n_beta"])
    lams = {"l1": np.linspace(0.01, 0.07, 4), "l0": np.linspace(0.005, 0.05, 4), "tl1": np.linspace(0.01, 0.05, 4)}
    table = excess_table(nm.make_teachers(1, D_B, seed=SEED)[0], K_B, betas, lams, step=p["step"])
    rows = [_rows(2, code, betas, table[pen][0], beta=betas, y_max=table[pen][1])
            for code, pen in ((20, "l1"), (21, "l0"), (22, "tl1"))]
    return rows, {"lams_c": {k: [float(v) for v in lv] for k, lv in lams.items()}}


def table(preset: str = "quick") -> tuple[dict[str, np.ndarray], dict]:
    """All rows of the CSV and the metadata, for ``preset``."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    rows, meta = [], {}
    for part in (_panel_a, _panel_b, _panel_c):
        r, m = part(p)
        rows += r
        meta.update(m)
    cols = {c: np.concatenate([r[c] for r in rows]) for c in COLUMNS}
    return cols, meta


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``pareto_front.csv`` into ``out_dir``; return its path."""
    cols, meta = table(preset)
    return write_csv(Path(out_dir) / f"{NAME}.csv", cols, DESCRIPTIONS,
                     title="Exact loss-penalty fronts, the weighted-sum sweep, the path follower and RVSM limits",
                     meta={**meta, "betas_a": list(BETAS_A), "preset": preset})


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Three panels from the CSV (module docstring); save PNG + PDF."""
    data, meta = read_csv(csv_path), read_meta(csv_path)

    def sel(panel: int, series: int) -> tuple[np.ndarray, np.ndarray]:
        m = (data["panel"] == panel) & (data["series"] == series)
        return data["x"][m], data["y"][m]

    with style.style_context():
        fig, axes = style.new_figure(1, 3, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.95)
        ax = axes[0, 0]
        if meta["stretch_a"]:
            ax.axvspan(*meta["stretch_a"], color="0.85", lw=0, label="nonconvex stretch")
        x, y = sel(0, 0)
        o = np.argsort(x)
        ax.plot(x[o], y[o], color="black", lw=1.1, label="exact front", zorder=2)
        x, y = sel(0, 1)
        ax.plot(x, y, ls="none", marker="s", ms=3.2, mfc="none", mec="#E69F00", mew=0.8, label=r"$\lambda$ sweep",
                zorder=3)
        x, y = sel(0, 2)
        ax.plot(x, y, ls="none", marker=".", ms=3.0, color="#56B4E9", label="path follower", zorder=3)
        for code, beta, mk in zip((3, 4, 5), meta["betas_a"], ("v", "^", "o"), strict=True):
            x, y = sel(0, code)
            ax.plot(x, y, ls="none", marker=mk, ms=3.0, mfc=style.PENALTY_COLORS["l1"], mec="none",
                    alpha=0.35 + 0.2 * (code - 3), label=rf"RVSM-$\ell_1$, $\beta = {beta:g}$", zorder=4)
        ax.set_xlabel(r"penalty $|u|_1$")
        ax.set_ylabel(r"population loss $\ell(u)$")
        ax.set_ylim(bottom=0)
        ax.set_title(rf"(a) $\ell_1$ front, $w^* = ({', '.join(f'{v:g}' for v in meta['teacher_a'])})$, "
                     rf"$k = {meta['k_a']}$", fontsize=7)
        ax.legend(loc="upper right", fontsize=5.5, handletextpad=0.3, borderaxespad=0.3)
        ins = ax.inset_axes([0.22, 0.05, 0.19, 0.17])
        x, y = sel(0, 6)
        ins.plot(x, y, color="black", lw=0.9)
        for lo, hi in meta["folds_a"]:
            ins.axhspan(lo, hi, color="0.8", lw=0)
        ins.set_xlabel(r"$\kappa$", fontsize=5.5, labelpad=0)
        ins.set_ylabel(r"$\lambda$", fontsize=5.5, labelpad=0)
        ins.tick_params(labelsize=5, pad=1)
        ins.grid(False)

        ax = axes[0, 1]
        x, y = sel(1, 10)
        ax.step(x, y, where="post", color=style.PENALTY_COLORS["l0"], lw=1.0, zorder=2)
        ax.plot(x, y, ls="none", marker="o", ms=3.5, color=style.PENALTY_COLORS["l0"], label=r"exact $\ell_0$ front")
        x, y = sel(1, 13)
        ax.plot(x, y, ls="none", marker="x", ms=4, color="0.35", label=r"magnitude pruning of $w^*$")
        x, y = sel(1, 11)
        ax.plot(x + 0.15, y, ls="none", marker="^", ms=3.5, mfc="none", mec=style.PENALTY_COLORS["l0"],
                label=r"RVSM-$\ell_0$, $\beta = 1$")
        x, y = sel(1, 12)
        ax.plot(x + 0.35, y, ls="none", marker="v", ms=3.5, mfc="none", mec=style.PENALTY_COLORS["tl1"],
                label=rf"RVSM-TL1 ($a = {meta['a_tl1']:g}$), $\beta = 1$")
        ax.set_yscale("log")
        ax.set_xlabel(r"support size $|\mathrm{supp}\,u|$")
        ax.set_ylabel(r"population loss $\ell(u)$")
        ax.set_title(rf"(b) support-size front, $d = {len(meta['teacher_b'])}$, $k = {meta['k_b']}$", fontsize=7)
        ax.legend(loc="lower left", fontsize=5.5, handletextpad=0.3)

        ax = axes[0, 2]
        floor = 1e-16
        for code, pen in ((20, "l1"), (21, "l0"), (22, "tl1")):
            x, y = sel(2, code)
            pos = y > floor
            ax.plot(x[pos], y[pos], marker="o", ms=3, lw=1.0, color=style.PENALTY_COLORS[pen],
                    label=style.PENALTY_LABELS[pen])
            # an excess below 1e-16 (l0 keeping every coordinate: u_bar = w*, the excess is rounding) at the floor
            ax.plot(x[~pos], np.full((~pos).sum(), floor), ls="none", marker="v", ms=3.5,
                    color=style.PENALTY_COLORS[pen], label=f"{style.PENALTY_LABELS[pen]}: below $10^{{-16}}$"
                    if (~pos).any() else None)
        x, _ = sel(2, 20)
        ref = 1e-2 * (x / x[0]) ** -2.0
        ax.plot(x, ref, color="0.5", lw=0.8, ls="--", label=r"$\propto \beta^{-2}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, None)
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel(r"excess loss $\ell(\bar u) - F(P(\bar u))$")
        ax.set_title("(c) RVSM's excess over the front, teacher of (b)", fontsize=7)
        ax.legend(loc="lower left", fontsize=5.5)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``pareto_front.csv``), draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
