"""Figure ``learnability``: from which initial angles RVSM reaches its predicted limit, and how likely bad starts are.

Left panel: for a fixed dense teacher ``w*`` (``d = 10``, ``k = 4``), the fraction of random starts ``w^0`` at an exact
angle ``theta_0 = angle(w^0, w*)`` (:func:`numerics.init.at_angle`, ``|w^0| = |w*|``, a random direction orthogonal
to ``w*`` per start) from which RVSM with the population gradient reaches the predicted limit
(:func:`numerics.predict`), for plain gradient descent (``lam = 0``), l1, l0 and TL1. Error bars: binomial
standard error ``sqrt(f (1 - f) / n)``.

"Reaches the predicted limit" means: the run stopped with ``|w^{t+1} - w^t| < tol`` and ``u`` equals, to
:data:`MATCH_TOL`, the limit that :func:`numerics.predict` gives for the support RVSM selected, and that
prediction is a genuine (converged, self-consistent) fixed point. For l1, TL1 and GD the predicted limit is unique
here; for l0 the teacher has coordinates in the two-valued band, so any self-consistent choice of band branches
counts (the band is the subject of the figure ``l0_hysteresis``).

What this instance shows (quick preset; the fractions are in the CSV): GD reaches ``w*`` from every angle below
``pi`` and stays at the saddle ``w = -c w*`` (``c > 0``) from ``theta_0 = pi`` exactly, as predicted (its update
falls below ``tol`` there). l1 and TL1 reach the limit from every angle including ``pi``: the coordinatewise prox moves
``u`` off the line through ``w*`` unless all ``|w*_i|`` are equal, so that line is not invariant under RVSM. l0 fails
from ``theta_0 = pi`` (and from a few starts at 150-170 degrees): its runs stop (update below ``tol``) at a point
at about 174 degrees from ``w*`` with ``q ~ 0.008``, which :func:`numerics.predict` does not confirm as a
self-consistent fixed point of the support reached; kept l0 coordinates feel no pull from ``u`` (``u_i = w_i``),
so only the zeroed ones move ``w`` off the saddle's line.

Right panel: ``P(angle(w^0, w*) > pi - delta)`` for ``w^0`` uniform on the sphere ``S^{d-1}``: the closed form
``(1/2) I_{sin^2 delta}((d-1)/2, 1/2)`` (:func:`theory.initialization.init_tail_probability_expr`, lambdified), its
bound ``delta/pi`` (equality at ``d = 2``), and the empirical frequency over uniform starts
(:func:`numerics.init.uniform_sphere`) with +-1 standard error bars.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

import numerics as nm
from numerics import population
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "learnability"

PRESETS = {
    "tiny": {"n_rows": 7, "n_starts": 8, "iters": 4000, "n_uniform": 4000},
    "quick": {"n_rows": 19, "n_starts": 64, "iters": 20000, "n_uniform": 40000},
    "full": {"n_rows": 37, "n_starts": 400, "iters": 50000, "n_uniform": 400000},
}

SEED = 20240505
D, K = 10, 4
LAM, BETA, ETA, TL1_A = 0.02, 1.0, 0.5, 1.0
#: stop a run once |w^{t+1} - w^t| < TOL
TOL = 1e-12
#: max_i |u_i - u_pred_i| below which a run counts as having reached the prediction. A converged run is within
#: ~ TOL k / eta ~ 1e-11 of its fixed point (linear rate 1 - eta/k), far below this; a different fixed point differs
#: by O(lam) or more.
MATCH_TOL = 1e-6
METHODS = ("gd", "l1", "l0", "tl1")
#: dimensions of the right panel (d = D is the dimension of the left panel)
TAIL_DIMS = (3, D, 50)

COLUMNS = ("theta0", *(f"reach_{m}" for m in METHODS), *(f"reach_se_{m}" for m in METHODS), "n_starts", "delta",
           *(f"{q}_d{dd}" for dd in TAIL_DIMS for q in ("tail_formula", "tail_empirical", "tail_se")),
           "tail_bound", "n_uniform")


def _descriptions() -> dict[str, str]:
    names = {"gd": "plain gradient descent (lam = 0)", "l1": "RVSM with l1", "l0": "RVSM with l0",
             "tl1": f"RVSM with TL1 (a = {TL1_A})"}
    out = {"theta0": "initial angle theta_0 = angle(w^0, w*) of the left panel [rad]"}
    for m in METHODS:
        out[f"reach_{m}"] = (f"{names[m]}: fraction of the n_starts starts at angle theta_0 whose limit equals the "
                             "predicted limit (numerics.predict) [1]")
    for m in METHODS:
        out[f"reach_se_{m}"] = f"binomial standard error sqrt(f (1 - f) / n_starts) of reach_{m} [1]"
    out["n_starts"] = "number of random starts per angle (left panel)"
    out["delta"] = "cap half-width delta of the right panel, delta in [0, pi/2] [rad]"
    for dd in TAIL_DIMS:
        out[f"tail_formula_d{dd}"] = (f"P(angle(w^0, w*) > pi - delta) for w^0 uniform on S^{dd - 1}: "
                                      "(1/2) I_{sin^2 delta}((d-1)/2, 1/2) (theory.initialization) [1]")
        out[f"tail_empirical_d{dd}"] = (f"frequency of angle(w^0, w*) > pi - delta over n_uniform uniform starts "
                                        f"(numerics.init.uniform_sphere), d = {dd} [1]")
        out[f"tail_se_d{dd}"] = f"standard error sqrt(p (1 - p) / n_uniform) of tail_empirical_d{dd} [1]"
    out["tail_bound"] = "the bound delta/pi (equality at d = 2) [1]"
    out["n_uniform"] = "number of uniform starts per dimension (right panel)"
    return out


DESCRIPTIONS = _descriptions()


@lru_cache(maxsize=1)
def tail_probability_function():
    """The closed form ``(1/2) I_{sin^2 delta}((d-1)/2, 1/2)`` lambdified from its SymPy derivation.

    Returns
    -------
    callable ``f(d, delta)`` (NumPy / SciPy broadcasting)

    Notes
    -----
    SymPy and :mod:`theory` are imported here, not with the module: drawing the figure from its CSV needs neither.
    """
    import sympy as sp

    from theory import initialization
    from theory.symbols import d as d_sym

    expr = initialization.init_tail_probability_expr()
    return sp.lambdify((d_sym, initialization.delta), expr, modules="scipy")


def teacher() -> np.ndarray:
    """The fixed dense teacher ``w*`` (d = 10, i.i.d. N(0, 1) entries under :data:`SEED`)."""
    return np.random.default_rng(SEED).standard_normal(D)


def reach_fractions(theta0: np.ndarray, n_starts: int, iters: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Fraction of starts at each angle in ``theta0`` whose RVSM limit is the predicted one, per method.

    Returns
    -------
    fractions : dict method -> array (len(theta0),)
    final_angle : array (len(METHODS), len(theta0), n_starts)
        angle(w_bar, w*) of every run [rad] (for the report; not plotted).
    """
    ws = teacher()
    th = np.repeat(np.asarray(theta0, dtype=float), n_starts)
    W = np.broadcast_to(ws, (th.size, D)).copy()
    w0 = nm.at_angle(W, th, seed=SEED + 1)
    out: dict[str, np.ndarray] = {}
    final = []
    for m in METHODS:
        pen, lam = ("l1", 0.0) if m == "gd" else (m, LAM)
        a = TL1_A if m == "tl1" else None
        res = nm.run(nm.Problem(ws, K, pen, lam, BETA, a=a), w0, eta=ETA, iters=iters, tol=TOL)
        u = np.asarray(res.u)
        pred = nm.predict(nm.Problem(W, K, pen, lam, BETA, a=a), support=u != 0)
        hit = np.asarray(res.converged) & pred.ok & (np.max(np.abs(u - pred.u), axis=1) <= MATCH_TOL)
        out[m] = hit.reshape(len(theta0), n_starts).mean(axis=1)
        final.append(np.asarray(population.angle(res.w, ws)).reshape(len(theta0), n_starts))
    return out, np.asarray(final)


def tail_empirical(d: int, delta: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequency of ``angle(w^0, w*) > pi - delta`` over ``n`` uniform starts on ``S^{d-1}``, and its standard error.

    ``w*`` is a fixed random direction (the law of the angle does not depend on it).
    """
    rng = np.random.default_rng(seed)
    ws = rng.standard_normal(d)
    w0 = nm.uniform_sphere(n, d, seed=seed + 1)
    ang = np.asarray(population.angle(w0, ws))
    p = (ang[None, :] > math.pi - np.asarray(delta)[:, None]).mean(axis=1)
    return p, np.sqrt(p * (1 - p) / n)


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """All columns of the CSV (see :data:`COLUMNS`)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    cfg = PRESETS[preset]
    n = cfg["n_rows"]
    theta0 = np.linspace(0.0, math.pi, n)
    theta0[-1] = math.pi  # exactly pi: the saddle's direction
    frac, _ = reach_fractions(theta0, cfg["n_starts"], cfg["iters"])
    cols: dict[str, np.ndarray] = {"theta0": theta0}
    for m in METHODS:
        cols[f"reach_{m}"] = frac[m]
    for m in METHODS:
        cols[f"reach_se_{m}"] = np.sqrt(frac[m] * (1 - frac[m]) / cfg["n_starts"])
    cols["n_starts"] = np.full(n, cfg["n_starts"])
    delta = np.linspace(0.0, math.pi / 2, n)
    cols["delta"] = delta
    f = tail_probability_function()
    for i, dd in enumerate(TAIL_DIMS):
        cols[f"tail_formula_d{dd}"] = np.asarray(f(dd, delta), dtype=float)
        p, se = tail_empirical(dd, delta, cfg["n_uniform"], SEED + 10 + 2 * i)
        cols[f"tail_empirical_d{dd}"] = p
        cols[f"tail_se_d{dd}"] = se
    cols["tail_bound"] = delta / math.pi
    cols["n_uniform"] = np.full(n, cfg["n_uniform"])
    return cols


_MARKERS = {"gd": "s", "l1": "o", "l0": "^", "tl1": "v"}
_DIM_COLORS = ("#E69F00", "#56B4E9", "#CC79A7")


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``learnability.csv`` into ``out_dir``; return its path."""
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title=(f"learnability: RVSM from starts at angle theta_0 (d={D}, k={K}, lam={LAM}, "
                            f"beta={BETA}, eta={ETA}, TL1 a={TL1_A}, tol={TOL}, seed={SEED}); "
                            "uniform-start tail probability"),
                     meta={"d": D, "k": K, "lam": LAM, "beta": BETA, "eta": ETA, "tl1_a": TL1_A, "tol": TOL,
                           "match_tol": MATCH_TOL, "seed": SEED, "methods": METHODS, "tail_dims": TAIL_DIMS})


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Draw the two panels from the CSV; save PNG + PDF."""
    cols, meta = read_csv(csv_path), read_meta(csv_path)
    tl1_a = meta["tl1_a"]
    fig, axes = style.new_figure(1, 2, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.62)
    ax, bx = axes[0]
    with style.style_context():
        deg = np.degrees(cols["theta0"])
        for j, m in enumerate(meta["methods"]):
            color = style.PENALTY_COLORS[m]
            label = style.PENALTY_LABELS[m] if m != "tl1" else f"TL1 ($a={tl1_a:g}$)"
            ax.errorbar(deg, cols[f"reach_{m}"], yerr=cols[f"reach_se_{m}"], color=color, marker=_MARKERS[m],
                        mfc="white" if j % 2 else color, ls="-", lw=0.9, ms=3.5 + (3 - j) * 0.6, capsize=1.5,
                        label=label, zorder=3 + j)
        ax.set_xlim(-4, 184)
        ax.set_xticks(np.arange(0, 181, 30))
        ax.set_ylim(-0.05, 1.22)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_xlabel(r"initial angle $\theta_0=\angle(w^0,w^*)$ [deg]")
        ax.set_ylabel(r"fraction reaching predicted $\bar u$")
        # the fractions sit at 1 except near 180 deg: the lower left is empty at every preset
        ax.legend(loc="lower left", ncol=2, handlelength=1.6, columnspacing=1.0)
        ax.set_title(rf"(a) population gradient, $d={meta['d']}$, $k={meta['k']}$, $\lambda={meta['lam']:g}$, "
                     rf"$\beta={meta['beta']:g}$", fontsize=7)

        dl = np.degrees(cols["delta"])
        pos = cols["delta"] > 0
        bx.plot(dl[pos], cols["tail_bound"][pos], color=style.THEORY_COLOR, ls="--", lw=1.0,
                label=r"bound $\delta/\pi$")
        for c, dd in zip(_DIM_COLORS, meta["tail_dims"], strict=True):
            bx.plot(dl[pos], cols[f"tail_formula_d{dd}"][pos], color=c, lw=1.2, label=rf"$d={dd}$")
            emp = cols[f"tail_empirical_d{dd}"]
            ok = pos & (emp > 0)
            bx.errorbar(dl[ok], emp[ok], yerr=cols[f"tail_se_d{dd}"][ok], color=c, marker="o", ls="none",
                        ms=3, mfc="white", capsize=1.5)
        bx.errorbar([], [], yerr=[], color=style.DATA_COLOR, marker="o", ls="none", ms=3, mfc="white",
                    label=f"uniform $w^0$ ({int(cols['n_uniform'][0])} per $d$)")
        bx.set_yscale("log")
        bx.set_ylim(1e-6, 2.0)
        bx.set_xlim(0, 92)
        bx.set_xticks(np.arange(0, 91, 15))
        bx.set_xlabel(r"cap half-width $\delta$ [deg]")
        bx.set_ylabel(r"$P(\angle(w^0,w^*)>\pi-\delta)$")
        # outside the axes: inside, the d = 50 curve crossed it (every corner of the panel holds data)
        bx.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=6,
                  title=r"lines: $\frac{1}{2} I_{\sin^2\delta}(\frac{d-1}{2},\frac{1}{2})$", title_fontsize=6)
        bx.set_title(r"(b) uniform initialization on $S^{d-1}$", fontsize=7)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``learnability.csv``), draw ``learnability.png`` / ``.pdf``; return the paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
