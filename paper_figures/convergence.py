"""Figure ``convergence``: linear convergence of RVSM to its predicted limit, for l1, l0 and TL1.

One panel per penalty, log scale against the iteration t: the distances ``|u^t - u_bar|`` and ``|w^t - w_bar|`` to
the limit predicted by :func:`numerics.predict` (for the support RVSM froze on), and the relaxed Lagrangian gap
``L_beta(w^t, u^t) - L_beta(w_bar, u_bar)`` (:meth:`numerics.Problem.lagrangian`). Reference lines: ``C rho^t`` for
the distances and ``C' rho^(2t)`` for the gap (the gap is quadratic in the distance at a stationary point of
``L_beta``), with ``rho`` the exact linearized factor: the spectral radius of the Jacobian of the RVSM map
``w -> w - eta (grad l(w) + beta (w - prox(w)))`` at ``w_bar`` on the frozen support, computed by central finite
differences of one step of :func:`numerics.run`. The small-``lam`` approximation ``1 - eta/k`` (smallest Hessian
eigenvalue ``1/k`` at ``w*``) is drawn dotted for comparison.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import numerics as nm
from numerics import init, population
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "convergence"

#: penalty name, code in the CSV, TL1 parameter a
PENALTIES = (("l1", 0, None), ("l0", 1, None), ("tl1", 2, 1.0))
#: the penalty of each code of the CSV (its schema, see DESCRIPTIONS["penalty"])
PENALTY_NAMES = {0: "l1", 1: "l0", 2: "tl1"}
#: problem: patch dimension, patches, splitting weight, step, penalty weight
D, K, BETA, ETA, LAM = 10, 4, 1.0, 0.5, 0.02
SEED = 7
#: the teacher: five nonzero coordinates of decreasing size, five zeros
TEACHER = (1.5, -1.2, 1.0, -0.8, 0.6, 0.0, 0.0, 0.0, 0.0, 0.0)
#: angle of the start w^0 to w* [rad] (|w^0| = |w*|, random direction orthogonal to w*, seeded)
START_ANGLE = 1.0
#: window of the tail fit: distances |u^t - u_bar| / |w*| in [FIT_LOW, FIT_HIGH], after the support froze
FIT_LOW, FIT_HIGH = 1e-12, 1e-5
#: central finite-difference step of the Jacobian (the limit must be farther than FD_MARGIN * FD_STEP from a
#: threshold, so that the differences do not cross it)
FD_STEP, FD_MARGIN = 1e-6, 100.0
#: the reference lines are drawn this factor above the data (parallel to it where the rate is right)
OFFSET = 10.0

PRESETS = {
    "tiny": {"iters": 400, "stride": 2},
    "quick": {"iters": 400, "stride": 1},
    "full": {"iters": 600, "stride": 1},
}

COLUMNS = ("penalty", "a", "t", "dist_u", "dist_w", "lagrangian_gap", "support_size", "rate_jacobian",
           "rate_jacobian_second", "rate_simple", "rate_fitted", "fit_t_start", "fit_t_end", "k", "d", "lam", "beta",
           "eta")
DESCRIPTIONS = {
    "penalty": "0 = l1, 1 = l0, 2 = TL1",
    "a": "TL1 parameter a (0 for l1 and l0)",
    "t": "iteration t (t = 0: the start w^0, u^0 = prox(w^0))",
    "dist_u": "|u^t - u_bar|, u_bar the predicted limit on the support RVSM froze on [unit of w*]",
    "dist_w": "|w^t - w_bar| [unit of w*]",
    "lagrangian_gap": "L_beta(w^t, u^t) - L_beta(w_bar, u_bar), L_beta = l(w) + lam P(u) + beta/2 |w - u|^2 "
                      "[unit of w*^2]",
    "support_size": "number of nonzero coordinates of u^t",
    "rate_jacobian": "rho: spectral radius of the Jacobian of the RVSM map at w_bar (central finite differences of "
                     "one numerics.run step, h = 1e-6) [per iteration]",
    "rate_jacobian_second": "second-largest |eigenvalue| of that Jacobian (equal to rate_jacobian if the top one is "
                            "repeated) [per iteration]",
    "rate_simple": "1 - eta/k: small-lam approximation of the rate (Hessian eigenvalue 1/k at w*) [per iteration]",
    "rate_fitted": "exp(slope) of a least-squares fit of log dist_u against t over the fit window [per iteration]",
    "fit_t_start": "first iteration of the fit window (dist_u / |w*| <= 1e-5 and support frozen)",
    "fit_t_end": "last iteration of the fit window (dist_u / |w*| >= 1e-12)",
    "k": "number of patches k",
    "d": "patch dimension d",
    "lam": "penalty weight lam",
    "beta": "splitting weight beta",
    "eta": "step size eta",
}


def teacher() -> np.ndarray:
    """The fixed teacher :data:`TEACHER`."""
    return np.asarray(TEACHER, dtype=np.float64)


def rvsm_jacobian(problem: nm.Problem, eta: float, w_bar: np.ndarray, *, h: float = FD_STEP) -> np.ndarray:
    """Jacobian (d, d) of one RVSM step ``w -> w - eta (grad l(w) + beta (w - prox_{lam/beta P}(w)))`` at ``w_bar``.

    Notes
    -----
    Central differences ``J e_j = (F(w + h e_j) - F(w - h e_j)) / (2 h)`` with ``F`` one step of
    :func:`numerics.run` on ``problem`` (all ``2 d`` evaluations in one batched call). On a frozen support this equals
    ``I - eta (H(w_bar) + beta (I - D))``, ``H`` the Hessian of ``l`` and ``D = diag(prox'(w_bar_i))`` (1 on kept
    coordinates of l1 and l0, the slope of the TL1 shrink there, 0 on zeroed ones). Valid only if no coordinate is
    within ``h`` of a threshold (checked by the caller).
    """
    d = w_bar.size
    pts = np.concatenate([w_bar + h * np.eye(d), w_bar - h * np.eye(d)])
    f = np.asarray(nm.run(problem, pts, eta=eta, iters=1).w)
    return ((f[:d] - f[d:]) / (2.0 * h)).T


def spectral_radius(jac: np.ndarray) -> float:
    """``max |eigenvalue|`` of ``jac``: the asymptotic linear rate of the iteration near its fixed point."""
    return float(np.max(np.abs(np.linalg.eigvals(jac))))


def _second_modulus(jac: np.ndarray) -> float:
    return float(np.sort(np.abs(np.linalg.eigvals(jac)))[-2])


def fit_rate(t: np.ndarray, dist: np.ndarray, support: np.ndarray, scale: float) -> tuple[float, int, int]:
    """Least-squares fit ``log dist = c + t log rho`` over the tail window; returns ``(rho, t_start, t_end)``.

    The window: after the last change of the support, and ``FIT_LOW <= dist/scale <= FIT_HIGH``.
    """
    frozen = t >= t[np.flatnonzero(support != support[-1])[-1] + 1] if np.any(support != support[-1]) else t >= 0
    sel = frozen & (dist <= FIT_HIGH * scale) & (dist >= FIT_LOW * scale)
    if np.count_nonzero(sel) < 5:
        raise ValueError(f"fewer than 5 points in the fit window (distance in [{FIT_LOW}, {FIT_HIGH}] |w*|): "
                         "increase iters")
    slope = np.polyfit(t[sel], np.log(dist[sel]), 1)[0]
    return float(math.exp(slope)), int(t[sel][0]), int(t[sel][-1])


def trajectory(name: str, a: float | None, iters: int, stride: int) -> dict[str, np.ndarray | float]:
    """Run RVSM for one penalty, record the iterates every ``stride`` steps, and compare with the prediction.

    The run is split into calls of ``stride`` steps restarted from the last ``w`` (``u = prox(w)`` is recomputed at
    each start, exactly as inside one run, so the iterates are those of one uninterrupted run).
    """
    ws = teacher()
    w = np.asarray(init.at_angle(ws, START_ANGLE, seed=SEED + 1))
    problem = nm.Problem(ws, K, name, LAM, BETA, a=a)
    pen, mu = problem.penalty, problem.mu
    ts, W, U = [0], [w], [np.asarray(pen.prox(w, mu))]
    t = 0
    while t < iters:
        r = nm.run(problem, w, eta=ETA, iters=stride)
        w = np.asarray(r.w)
        t += stride
        ts.append(t)
        W.append(w)
        U.append(np.asarray(r.u))
    W, U, tt = np.asarray(W), np.asarray(U), np.asarray(ts)
    sup_final = U[-1] != 0
    pred = nm.predict(problem, support=sup_final)
    if not (bool(pred.converged) and bool(np.all(pred.consistent))):
        raise RuntimeError(f"{name}: the support RVSM froze on is not a self-consistent predicted limit")
    thr = float(pen.threshold(mu))
    margin = np.min(np.abs(np.abs(pred.w) - thr))
    if margin < FD_MARGIN * FD_STEP:
        raise RuntimeError(f"{name}: the limit is within {margin:.2g} of the threshold: finite differences invalid")
    jac = rvsm_jacobian(problem, ETA, pred.w)
    dist_u = np.linalg.norm(U - pred.u, axis=1)
    dist_w = np.linalg.norm(W - pred.w, axis=1)
    gap = (np.asarray(problem.lagrangian(population.loss(W, ws, K), W, U))
           - float(problem.lagrangian(population.loss(pred.w, ws, K), pred.w, pred.u)))
    support = np.count_nonzero(U, axis=1)
    rho_fit, t0, t1 = fit_rate(tt, dist_u, support, float(np.linalg.norm(ws)))
    return {"t": tt, "dist_u": dist_u, "dist_w": dist_w, "gap": gap, "support": support,
            "rho": spectral_radius(jac), "rho2": _second_modulus(jac), "rho_fit": rho_fit, "t0": t0, "t1": t1}


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """The data of the figure (all rows of the CSV) for ``preset``."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    for name, code, a in PENALTIES:
        tr = trajectory(name, a, p["iters"], p["stride"])
        n = tr["t"].size
        per_row = {"penalty": code, "a": a or 0.0, "rate_jacobian": tr["rho"],
                   "rate_jacobian_second": tr["rho2"], "rate_simple": 1.0 - ETA / K,
                   "rate_fitted": tr["rho_fit"], "fit_t_start": tr["t0"], "fit_t_end": tr["t1"], "k": K, "d": D,
                   "lam": LAM, "beta": BETA, "eta": ETA}
        arrays = {"t": tr["t"], "dist_u": tr["dist_u"], "dist_w": tr["dist_w"], "lagrangian_gap": tr["gap"],
                  "support_size": tr["support"]}
        for c in COLUMNS:
            cols[c].extend(arrays[c].tolist() if c in arrays else [per_row[c]] * n)
    return {c: np.asarray(v) for c, v in cols.items()}


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``convergence.csv`` into ``out_dir``; return its path."""
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title="Linear convergence of RVSM to the predicted limit (seeded teacher and start)",
                     meta={"teacher": TEACHER, "start_angle": START_ANGLE, "seed": SEED, "fit_low": FIT_LOW,
                           "fit_high": FIT_HIGH})


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """One panel per penalty, a shared legend below, from the CSV; save PNG + PDF."""
    from matplotlib.lines import Line2D

    data, meta = read_csv(csv_path), read_meta(csv_path)
    codes = [int(c) for c in np.unique(data["penalty"])]
    floor = 1e-17
    with style.style_context():
        fig, axes = style.new_figure(1, len(codes), width=style.DOUBLE_COLUMN_IN, panel_aspect=1.05, sharey=True)
        for j, code in enumerate(codes):
            ax = axes[0, j]
            name = PENALTY_NAMES[code]
            sel = data["penalty"] == code
            a = data["a"][sel][0]
            t = data["t"][sel]
            color = style.PENALTY_COLORS[name]
            rho, rho_s = data["rate_jacobian"][sel][0], data["rate_simple"][sel][0]
            rho_f = data["rate_fitted"][sel][0]
            t0, t1 = data["fit_t_start"][sel][0], data["fit_t_end"][sel][0]
            du, dw, gap = data["dist_u"][sel], data["dist_w"][sel], data["lagrangian_gap"][sel]
            # |u^t - u_bar| and |w^t - w_bar| nearly coincide (u - w is constant on kept coordinates), so u is drawn
            # as a wide translucent band and w as a thin dashed line on top of it: both stay visible.
            ax.semilogy(t, np.maximum(du, floor), color=color, lw=3.0, alpha=0.4, solid_capstyle="butt")
            ax.semilogy(t, np.maximum(dw, floor), color=color, lw=0.9, ls=(0, (3, 2)))
            pos = gap > 0
            ax.semilogy(t[pos], gap[pos], color=color, lw=0, marker=".", ms=1.8)
            # reference lines through the data at the start of the fit window, shifted up by OFFSET for visibility
            i0 = int(np.flatnonzero(t == t0)[0])
            tr = np.linspace(max(t0 - 80, 0), t1 + 40, 50)
            ax.semilogy(tr, OFFSET * du[i0] * rho ** (tr - t0), color=style.THEORY_COLOR, lw=0.8)
            ax.semilogy(tr, OFFSET * du[i0] * rho_s ** (tr - t0), color=style.THEORY_COLOR, lw=0.9, ls=(0, (1, 1.5)))
            g0 = gap[i0]
            tg = tr[tr <= t0 + 0.5 * (t1 - t0)]
            if g0 > 0:
                ax.semilogy(tg, OFFSET * g0 * rho ** (2 * (tg - t0)), color=style.THEORY_COLOR, lw=0.8, ls="-.")
            ax.axvspan(t0, t1, color="0.93", lw=0, zorder=0)
            title = style.PENALTY_LABELS[name] + (f" ($a = {a:g}$)" if a else "")
            ax.set_title(f"({'abc'[j]}) {title}")
            ax.text(0.97, 0.97, f"$\\rho$ (Jacobian) = {rho:.4f}\nfitted = {rho_f:.4f}\n"
                    f"$1 - \\eta/k$ = {rho_s:.4f}", transform=ax.transAxes, ha="right", va="top", fontsize=6.5)
            ax.set_xlabel("iteration $t$")
            ax.set_ylim(1e-16, 1e3)
            ax.set_yticks(10.0 ** np.arange(-16, 3, 2))
            ax.set_xlim(0, t.max())
        axes[0, 0].set_ylabel("distance to the limit; gap")
        grey = "0.35"
        handles = [Line2D([], [], color=grey, lw=3.0, alpha=0.4), Line2D([], [], color=grey, lw=0.9, ls=(0, (3, 2))),
                   Line2D([], [], color=grey, lw=0, marker=".", ms=4),
                   Line2D([], [], color=style.THEORY_COLOR, lw=0.8),
                   Line2D([], [], color=style.THEORY_COLOR, lw=0.8, ls="-."),
                   Line2D([], [], color=style.THEORY_COLOR, lw=0.9, ls=(0, (1, 1.5)))]
        labels = [r"$|u^t - \bar u|$", r"$|w^t - \bar w|$",
                  r"gap $L_\beta(w^t\!, u^t) - L_\beta(\bar w, \bar u)$",
                  r"$C\rho^t$, $\rho$ = spectral radius of the RVSM Jacobian at $\bar w$",
                  r"$C'\rho^{2t}$ (gap: quadratic in the distance)",
                  r"$C(1 - \eta/k)^t$ (small-$\lambda$ rate); all reference lines shifted $\times 10$ up"]
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=6.5)
        lam, beta, eta = (data[c][0] for c in ("lam", "beta", "eta"))
        d, k, nnz = int(data["d"][0]), int(data["k"][0]), int(np.count_nonzero(meta["teacher"]))
        fig.suptitle(rf"RVSM to the predicted limit: $d = {d}$ ($w^*$ {nnz}-sparse), $k = {k}$, $\lambda = {lam:g}$, "
                     rf"$\beta = {beta:g}$, $\eta = {eta:g}$; shaded: fit window", fontsize=8)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``convergence.csv``), draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
