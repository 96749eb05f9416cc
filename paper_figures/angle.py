"""Figure ``angle``: the angle to ``w*`` along plain gradient descent and along RVSM from the same start.

Under plain gradient descent (``lam = 0``) on the population loss the angle ``angle(w^t, w*)`` never increases; under
RVSM it is not monotone (theory page section 5): the iterate ``w^t`` first turns towards ``w*`` and can overshoot the
angle of its limit ``w_bar`` (which is not parallel to ``w*``: the penalty thresholds some coordinates), then turns
back. The inset zooms on that rise.

The instance is chosen programmatically (:func:`search`): :data:`N_CANDIDATES` teachers ``w*`` (i.i.d. N(0, 1),
``d = 10``) with starts uniform on the sphere of radius ``|w*|``, all under the fixed seed :data:`SEED`; RVSM with l1,
``lam = 0.05``, ``beta = 1``, ``eta = 0.5``, ``k = 4`` is run on all of them, and the candidate with the largest rise
``max_t [angle_t - min_{s <= t} angle_s]`` is drawn. (With these settings 36 of the 64 candidates show a rise above
1e-12 rad; the chosen one, candidate 53, rises by 2.2 degrees. Rises of ~1e-2 degrees were first seen on other
instances.) The dashed line is the angle of the predicted limit ``w_bar`` (:func:`numerics.predict`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import numerics as nm
from numerics import population
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "angle"

PRESETS = {
    "tiny": {"iters": 300},
    "quick": {"iters": 600},
    "full": {"iters": 1500},
}

SEED = 20240506
N_CANDIDATES = 64
D, K = 10, 4
PENALTY, LAM, BETA, ETA = "l1", 0.05, 1.0, 0.5

COLUMNS = ("iteration", "angle_gd", "angle_rvsm", "angle_rvsm_limit", "lagrangian_rvsm", "candidate", "lam",
           "beta", "eta")
DESCRIPTIONS = {
    "iteration": "iteration t (0 = the start w^0)",
    "angle_gd": "angle(w^t, w*) along plain gradient descent (lam = 0) on the population loss [rad]",
    "angle_rvsm": f"angle(w^t, w*) along RVSM ({PENALTY}) with the population gradient, same start [rad]",
    "angle_rvsm_limit": "angle(w_bar, w*) of the predicted RVSM limit (numerics.predict) [rad]",
    "lagrangian_rvsm": "relaxed Lagrangian L_beta(w^t, u^t) along RVSM (non-increasing) [unit of w^2]",
    "candidate": f"index of the chosen instance among the {N_CANDIDATES} searched (seed {SEED})",
    "lam": "penalty weight lambda of RVSM [unit of w]",
    "beta": "relaxation parameter beta [1]",
    "eta": "step size eta [1]",
}


def candidates() -> tuple[np.ndarray, np.ndarray]:
    """The searched instances: teachers ``(N, d)`` (i.i.d. N(0, 1)) and starts uniform on the sphere of radius |w*|."""
    ws = np.random.default_rng(SEED).standard_normal((N_CANDIDATES, D))
    w0 = nm.uniform_sphere(N_CANDIDATES, D, seed=SEED + 1) * np.linalg.norm(ws, axis=1, keepdims=True)
    return ws, w0


def largest_rise(angles: np.ndarray) -> np.ndarray:
    """``max_t [angle_t - min_{s <= t} angle_s]`` over the first axis (0 for a non-increasing series)."""
    a = np.asarray(angles)
    return np.max(a - np.minimum.accumulate(a, axis=0), axis=0)


def search(iters: int) -> int:
    """Index of the candidate whose RVSM angle rises most (over ``iters`` iterations)."""
    ws, w0 = candidates()
    res = nm.run(nm.Problem(ws, K, PENALTY, LAM, BETA), w0, eta=ETA, iters=iters, record_every=1)
    return int(np.argmax(largest_rise(np.asarray(res.history.angle))))


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """All columns of the CSV (see :data:`COLUMNS`)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    iters = PRESETS[preset]["iters"]
    i = search(iters)
    ws_all, w0_all = candidates()
    ws, w0 = ws_all[i], w0_all[i]
    problem = nm.Problem(ws, K, PENALTY, LAM, BETA)
    gd = nm.run(nm.Problem(ws, K, PENALTY, 0.0, BETA), w0, eta=ETA, iters=iters, record_every=1)
    rv = nm.run(problem, w0, eta=ETA, iters=iters, record_every=1)
    pred = nm.predict(problem)
    n = len(rv.history.iteration)
    return {
        "iteration": np.asarray(rv.history.iteration),
        "angle_gd": np.asarray(gd.history.angle),
        "angle_rvsm": np.asarray(rv.history.angle),
        "angle_rvsm_limit": np.full(n, float(population.angle(pred.w, ws))),
        "lagrangian_rvsm": np.asarray(rv.history.lagrangian),
        "candidate": np.full(n, i),
        "lam": np.full(n, LAM),
        "beta": np.full(n, BETA),
        "eta": np.full(n, ETA),
    }


def _rise_window(t: np.ndarray, a: np.ndarray) -> tuple[int, int]:
    """Index range of the inset: from a little before the minimum of the angle to where it is within 2% of the rise
    from its final value."""
    j = int(np.argmin(a))
    rise = a[-1] - a[j]
    after = np.flatnonzero((np.arange(a.size) > j) & (np.abs(a[-1] - a) <= 0.02 * max(rise, 1e-300)))
    k = int(after[0]) if after.size else a.size - 1
    lo = max(0, j - max(2, (k - j) // 8))
    return lo, k


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``angle.csv`` into ``out_dir``; return its path."""
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title=(f"angle to w* along GD and RVSM (d={D}, k={K}, {PENALTY}, lam={LAM}, beta={BETA}, "
                            f"eta={ETA}; instance = candidate with the largest rise among {N_CANDIDATES}, "
                            f"seed {SEED}); pi = {math.pi!r}"),
                     meta={"d": D, "k": K, "penalty": PENALTY, "seed": SEED, "n_candidates": N_CANDIDATES})


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Draw the main panel (angle against t) and the inset (zoom on the rise of the RVSM angle) from the CSV; save
    PNG + PDF."""
    cols, meta = read_csv(csv_path), read_meta(csv_path)
    penalty, lam = meta["penalty"], cols["lam"][0]
    fig, axes = style.new_figure(1, 1, width=style.SINGLE_COLUMN_IN, panel_aspect=0.8)
    ax = axes[0, 0]
    t = cols["iteration"]
    gd, rv, lim = (np.degrees(cols[c]) for c in ("angle_gd", "angle_rvsm", "angle_rvsm_limit"))
    c_gd, c_rv = style.PENALTY_COLORS["gd"], style.PENALTY_COLORS[penalty]
    with style.style_context():
        lo, hi = _rise_window(t, rv)
        x_hi = int(min(t[-1], 2 * t[hi]))
        ax.plot(t, gd, color=c_gd, label=style.PENALTY_LABELS["gd"])
        ax.plot(t, rv, color=c_rv, label=rf"RVSM, {style.PENALTY_LABELS[penalty]}, $\lambda={lam:g}$")
        ax.axhline(lim[0], color=style.THEORY_COLOR, ls="--", lw=0.8, label=r"predicted $\angle(\bar w,w^*)$")
        ax.set_xlim(0, x_hi)
        ax.set_ylim(-2, max(gd[0], rv[0]) * 1.08)
        ax.set_xlabel(r"iteration $t$")
        ax.set_ylabel(r"angle $\angle(w^t,w^*)$ [deg]")
        ax.legend(loc="upper right", fontsize=6)
        ins = ax.inset_axes([0.42, 0.34, 0.55, 0.36])
        seg = slice(lo, hi + 1)
        ins.plot(t[seg], rv[seg], color=c_rv, marker="o", ms=1.6, lw=0.9)
        ins.plot(t[seg], gd[seg], color=c_gd, lw=0.9)
        ins.axhline(lim[0], color=style.THEORY_COLOR, ls="--", lw=0.7)
        bottom, top = rv[seg].min(), max(rv[hi], lim[0])
        span = top - bottom
        ins.set_ylim(bottom - 0.25 * span, top + 0.25 * span)
        ins.set_xlim(t[lo], t[hi])
        ins.tick_params(labelsize=5.5)
        ins.set_title("zoom: the RVSM angle rises", fontsize=6, pad=2)
        ins.set_ylabel("deg", fontsize=6, labelpad=1)
        ax.indicate_inset_zoom(ins, edgecolor="0.5", lw=0.6)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``angle.csv``), draw ``angle.png`` / ``.pdf``; return the paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
