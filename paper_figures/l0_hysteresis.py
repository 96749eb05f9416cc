"""Figure ``l0_hysteresis``: a teacher coordinate inside the l0 band has two limits; the start decides which.

For l0 (``gamma = sqrt(2 lam/beta)``) a coordinate with ``gamma < r |w*_i| <= gamma (1 + beta/q)`` has two
self-consistent fixed points (theory page section 5, :func:`numerics.predict`, its ``band`` mask): kept,
``u_bar_i = r w*_i``, and zeroed, ``u_bar_i = 0`` (with ``w_bar_i = s w*_i/(q + beta)``). The teacher
``w* = (1, -0.8, 0.6, 0.35, 0)`` with ``k = 2``, ``lam = 0.005``, ``beta = 0.1`` has exactly one band coordinate,
``i = 3`` (``w*_3 = 0.35``; the band is ``0.316 < r|w*_i| <= 0.379`` there).

Starts: a one-parameter family per angle, ``w^0 = cos(theta_0) w* + sin(theta_0) |w*| v`` (``v`` a fixed random
unit vector orthogonal to ``w*``, :func:`numerics.init.at_angle`) with its coordinate ``i`` replaced by ``x``.
Left panel: the final ``u_bar_i`` against ``x`` at ``theta_0 = 135`` degrees, with the two predicted fixed points
as horizontal lines and each basin shaded. Right panel: the basins over ``(x, theta_0)``; the left panel is the
dashed row. RVSM runs with the population gradient until ``|w^{t+1} - w^t| < tol``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap

import numerics as nm
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "l0_hysteresis"

PRESETS = {
    "tiny": {"n_x": 29, "n_theta": 9},
    "quick": {"n_x": 141, "n_theta": 37},
    "full": {"n_x": 401, "n_theta": 73},
}

SEED = 20240507
W_STAR = (1.0, -0.8, 0.6, 0.35, 0.0)
BAND_INDEX = 3
K, LAM, BETA, ETA = 2, 0.005, 0.1, 1.0
TOL, ITERS = 1e-13, 20000
#: the theta_0 of the left panel [deg] (a grid row for every preset: the grids are linspace(0, 180, n_theta))
SLICE_DEG = 135.0
X_RANGE = (-0.7, 0.7)

COLUMNS = ("theta0", "x0", "u_final", "w_final", "kept", "u_kept", "u_zeroed", "w_kept", "w_zeroed", "gamma",
           "iterations", "converged")
DESCRIPTIONS = {
    "theta0": "angle theta_0 of the base start cos(theta_0) w* + sin(theta_0) |w*| v [rad]",
    "x0": f"initial value w^0_i of the band coordinate i = {BAND_INDEX} (w*_i = {W_STAR[BAND_INDEX]}) [unit of w]",
    "u_final": "final u_bar_i of RVSM (the sparse output) [unit of w]",
    "w_final": "final w_bar_i of RVSM [unit of w]",
    "kept": "1 if u_final != 0 (the kept fixed point was reached), 0 if zeroed",
    "u_kept": "predicted kept fixed point u_bar_i = r w*_i (numerics.predict, band='keep') [unit of w]",
    "u_zeroed": "predicted zeroed fixed point u_bar_i = 0 [unit of w]",
    "w_kept": "predicted w_bar_i of the kept fixed point [unit of w]",
    "w_zeroed": "predicted w_bar_i = s w*_i / (q + beta) of the zeroed fixed point (band='zero') [unit of w]",
    "gamma": "l0 threshold gamma = sqrt(2 lam / beta): u^0_i != 0 iff |x0| > gamma [unit of w]",
    "iterations": "number of RVSM updates until |w^{t+1} - w^t| < tol",
    "converged": "1 if the run met the tolerance tol",
}


def problem() -> nm.Problem:
    """The l0 problem of the figure."""
    return nm.Problem(np.asarray(W_STAR), K, "l0", LAM, BETA)


def predictions() -> tuple[nm.LimitPrediction, nm.LimitPrediction]:
    """The two predicted limits (band coordinate kept / zeroed); raises if the band is not exactly ``{BAND_INDEX}``."""
    ws = np.asarray(W_STAR)
    keep = nm.predict(problem(), band="keep")
    zero = nm.predict(problem(), band="zero")
    want = np.arange(ws.size) == BAND_INDEX
    for p in (keep, zero):
        if not (bool(p.ok) and np.array_equal(p.band, want)):
            raise RuntimeError(f"the instance must have exactly coordinate {BAND_INDEX} in the l0 band; got band "
                               f"{p.band}, ok = {p.ok}")
    return keep, zero


def starts(theta0: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Start points for every pair of the grids: array (len(theta0) * len(x0), d), theta0-major."""
    ws = np.asarray(W_STAR)
    v = nm.at_angle(ws, math.pi / 2, seed=SEED) / np.linalg.norm(ws)
    T, X = np.meshgrid(theta0, x0, indexing="ij")
    w0 = (np.cos(T.ravel())[:, None] * ws[None, :]
          + np.sin(T.ravel())[:, None] * np.linalg.norm(ws) * v[None, :])
    w0[:, BAND_INDEX] = X.ravel()
    return w0


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """All columns of the CSV (see :data:`COLUMNS`), one row per start."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    cfg = PRESETS[preset]
    keep, zero = predictions()
    theta0 = np.radians(np.linspace(0.0, 180.0, cfg["n_theta"]))
    x0 = np.linspace(*X_RANGE, cfg["n_x"])
    w0 = starts(theta0, x0)
    res = nm.run(problem(), w0, eta=ETA, iters=ITERS, tol=TOL)
    u, w = np.asarray(res.u)[:, BAND_INDEX], np.asarray(res.w)[:, BAND_INDEX]
    n = u.size
    i = BAND_INDEX
    return {
        "theta0": np.repeat(theta0, x0.size),
        "x0": np.tile(x0, theta0.size),
        "u_final": u,
        "w_final": w,
        "kept": (u != 0).astype(int),
        "u_kept": np.full(n, float(keep.u[i])),
        "u_zeroed": np.full(n, float(zero.u[i])),
        "w_kept": np.full(n, float(keep.w[i])),
        "w_zeroed": np.full(n, float(zero.w[i])),
        "gamma": np.full(n, math.sqrt(2 * LAM / BETA)),
        "iterations": np.asarray(res.iterations),
        "converged": np.asarray(res.converged).astype(int),
    }


_KEPT_FILL, _ZERO_FILL = "#F3C6A5", "#DDDDDD"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [a, b] of True in a 1-D mask."""
    out, start = [], None
    for j, m in enumerate(mask):
        if m and start is None:
            start = j
        if not m and start is not None:
            out.append((start, j - 1))
            start = None
    if start is not None:
        out.append((start, len(mask) - 1))
    return out


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``l0_hysteresis.csv`` into ``out_dir``; return its path."""
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title=(f"l0 hysteresis: w* = {W_STAR}, band coordinate i = {BAND_INDEX}, k={K}, lam={LAM}, "
                            f"beta={BETA}, eta={ETA}, tol={TOL}, seed={SEED}; one row per start"),
                     meta={"w_star": W_STAR, "band_index": BAND_INDEX, "k": K, "lam": LAM, "beta": BETA, "eta": ETA,
                           "tol": TOL, "iters": ITERS, "seed": SEED})


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Draw the slice (left) and the basin map (right) from the CSV; save PNG + PDF."""
    cols, meta = read_csv(csv_path), read_meta(csv_path)
    band_index = meta["band_index"]
    fig, axes = style.new_figure(1, 2, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.62)
    ax, bx = axes[0]
    c0 = style.PENALTY_COLORS["l0"]
    th_deg = np.degrees(cols["theta0"])
    thetas = np.unique(th_deg)
    xs = np.unique(cols["x0"])
    gamma, u_k = cols["gamma"][0], cols["u_kept"][0]
    j = int(np.argmin(np.abs(thetas - SLICE_DEG)))
    row = np.isclose(th_deg, thetas[j])
    x, u, kept = cols["x0"][row], cols["u_final"][row], cols["kept"][row].astype(bool)
    with style.style_context():
        dx = (xs[1] - xs[0]) / 2 if xs.size > 1 else 0.01
        for mask, fill in ((kept, _KEPT_FILL), (~kept, _ZERO_FILL)):
            for a, b in _runs(mask):
                ax.axvspan(x[a] - dx, x[b] + dx, color=fill, lw=0, zorder=0)
        ax.axhline(u_k, color=style.THEORY_COLOR, ls="--", lw=0.9,
                   label=rf"kept fixed point $\bar u_i=r w^*_i={u_k:.3g}$")
        ax.axhline(cols["u_zeroed"][0], color=style.THEORY_COLOR, ls=":", lw=1.0,
                   label=r"zeroed fixed point $\bar u_i=0$")
        ax.plot(x, u, ls="none", marker="o", ms=2.0, color=c0, label=r"RVSM limit $\bar u_i$", zorder=3)
        for g in (-gamma, gamma):
            ax.axvline(g, color="0.4", lw=0.6, ls="-.", zorder=1)
        ax.text(gamma, -0.19 * u_k, r"$\pm\gamma$", fontsize=6, ha="left", va="bottom", color="0.3")
        ax.set_xlim(xs[0] - dx, xs[-1] + dx)
        ax.set_ylim(-0.25 * u_k, 1.75 * u_k)
        ax.set_xlabel(rf"initial coordinate $x=w^0_i$ ($i={band_index}$, $w^*_i={meta['w_star'][band_index]}$)")
        ax.set_ylabel(r"final $\bar u_i$")
        ax.legend(loc="upper left", fontsize=6)
        ax.set_title(rf"(a) $\ell_0$, start angle $\theta_0={thetas[j]:.0f}^\circ$; shading: basins "
                     "(orange kept, grey zeroed)", fontsize=7)

        grid = cols["kept"].reshape(thetas.size, xs.size)
        dt = (thetas[1] - thetas[0]) / 2 if thetas.size > 1 else 1.0
        bx.imshow(grid, origin="lower", aspect="auto", interpolation="nearest",
                  extent=(xs[0] - dx, xs[-1] + dx, thetas[0] - dt, thetas[-1] + dt),
                  cmap=ListedColormap([_ZERO_FILL, _KEPT_FILL]), vmin=0, vmax=1)
        bx.axhline(thetas[j], color=c0, ls="--", lw=0.9)
        bx.text(xs[0], thetas[j] + dt, "slice of (a)", color=c0, fontsize=6, va="bottom")
        for g in (-gamma, gamma):
            bx.axvline(g, color="0.4", lw=0.6, ls="-.")
        bx.text(0.7 * xs[-1], 0.3 * thetas[-1], r"kept: $\bar u_i=r w^*_i$", fontsize=7, ha="center")
        bx.text(0.6 * xs[0], 0.3 * thetas[-1], r"zeroed: $\bar u_i=0$", fontsize=7, ha="center")
        bx.set_yticks(np.arange(0, 181, 30))
        bx.set_xlabel(r"initial coordinate $x=w^0_i$")
        bx.set_ylabel(r"start angle $\theta_0$ [deg]")
        bx.grid(False)
        bx.set_title(r"(b) basins over the start family ($\pm\gamma$: $u^0_i\neq0$ outside)", fontsize=7)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``l0_hysteresis.csv``), draw ``l0_hysteresis.png`` / ``.pdf``; return the paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
