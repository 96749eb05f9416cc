"""Figure ``binary_coarse_gradient``: the binarized network trained by the normalized split iteration.

This figure carries the RVSM analysis over from the ReLU network to a network with a binary activation, trained with a
coarse (straight-through) gradient. Network ``f(Z; w) = (1/k) sum_i 1{Z_i . w > 0}``, coarse gradient with the ReLU
straight-through estimator, split iteration with the normalization ``w <- w/|w|`` after each w-update
(:func:`numerics.run` with ``gradient=ExpectedCoarse(normalize=True)`` or ``SampledCoarse(normalize=True, ...)``).
Only the direction ``e* = w*/|w*|`` of the teacher can be learned.

Top row, the limit map (like ``thresholding_map``): one teacher coordinate ``w*_1`` is swept with the others fixed;
the predicted limit ``u_bar_1`` (:func:`numerics.predict_binary`) on its kept and zeroed branches where
they are self-consistent, the band of two fixed points shaded, the unpenalized direction ``e*_1`` dotted, and the
limits of the iteration (expected coarse gradient) from two starts: coordinate 1 of ``w^0`` at ``2 w*_1`` or at 0.
Panels: l1 (``u_bar = r' soft(e*, tau)``), l0, TL1 (``a = 1``, subcritical: continuous prox).

Bottom row, the *sampled* coarse gradient on ``N`` fixed samples (:class:`numerics.SampledCoarse`) beside the
population prediction: (d) ``|u^t - u_bar|`` against the iteration ``t`` for l1 and several ``N`` (median over
seeds), with the expected-gradient run for reference; (e) the final distance against ``N`` for the three penalties
(median and interquartile range over seeds) with an ``N^{-1/2}`` reference line; (f) the coordinates ``u^t_i`` of one
sampled run (l1, largest N) with the predicted ``u_bar_i`` dashed. The sampled coarse gradient is piecewise constant
in ``w``, so the sampled iteration settles into a small neighbourhood of a point rather than converging exactly.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

import numerics as nm
from numerics import binary
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv
from paper_figures.progress import progress

NAME = "binary_coarse_gradient"

K, LAM, BETA, ETA, STE = 2, 0.004, 0.1, 1.0, "relu"
#: fixed coordinates 2..d of the swept teacher: their e*_i stay above the l0 band edge, so they stay kept
OTHERS = (2.0, -2.0, 2.2)
W1_MAX = 2.2
MAP_PANELS = ((0, "l1", None), (1, "l0", None), (2, "tl1", 1.0))
PENALTY_CODE = {"l1": 0, "l0": 1, "tl1": 2}
#: the penalty of each code of the CSV (its schema, see DESCRIPTIONS["penalty"])
PENALTY_NAMES = {code: name for name, code in PENALTY_CODE.items()}
#: teacher of the sampled runs: one zero coordinate, one small coordinate (thresholded by l0 and TL1, kept by l1)
W_STAR = (1.6, -2.0, 2.2, 0.0, 0.3)
SEED = 20261121
SIM_TOL, SIM_ITERS = 1e-14, 20000
CHUNK = 10  # iterations between recorded distances of the sampled runs

PRESETS = {
    "tiny": {"n_curve": 60, "n_sim": 6, "n_values": (300, 1200), "n_seeds": 2, "iters": 150},
    "quick": {"n_curve": 400, "n_sim": 14, "n_values": (500, 2000, 8000), "n_seeds": 4, "iters": 300},
    "full": {"n_curve": 1500, "n_sim": 30, "n_values": (500, 1000, 2000, 4000, 8000, 16000, 32000, 64000),
             "n_seeds": 12, "iters": 600},
}

COLUMNS = ("kind", "penalty", "a", "w_star_1", "branch", "u_bar_1", "band", "u_pred_1", "sim_error", "n_samples",
           "seed", "iteration", "coordinate", "value", "u_pred", "dist")
NAN_COLUMNS = ("w_star_1", "branch", "u_bar_1", "band", "u_pred_1", "sim_error", "n_samples", "seed", "iteration",
               "coordinate", "value", "u_pred", "dist")
DESCRIPTIONS = {
    "kind": "0 = predicted limit-map point; 1 = simulated limit-map point (expected coarse gradient); "
            "2 = distance trace of a run; 3 = final distance of a sampled run; 4 = coordinate trace of one run",
    "penalty": "0 = l1, 1 = l0, 2 = TL1 (a = 1)",
    "a": "TL1 parameter a (0 for l1 and l0)",
    "w_star_1": f"kinds 0-1: swept teacher coordinate w*_1, others fixed at {OTHERS} [unit of w]; NaN otherwise",
    "branch": "kind 0: 1 = kept branch, 0 = zeroed branch; kind 1: the start, 1 = w0_1 = 2 w*_1, 0 = w0_1 = 0; "
              "NaN otherwise",
    "u_bar_1": "kinds 0-1: coordinate 1 of the limit u_bar (predicted / simulated; |w_bar| = 1) [1]; NaN otherwise",
    "band": "kinds 0-1: 1 if both branches of coordinate 1 are self-consistent at this w*_1, else 0; NaN otherwise",
    "u_pred_1": "kinds 0-1: predicted u_bar_1 for the support the row has (kind 1: the support the simulation "
                "reached) [1]; NaN otherwise",
    "sim_error": "kind 1: max_i |u_sim_i - u_pred_i| over all coordinates [1]; NaN otherwise",
    "n_samples": "kinds 2-4: number N of samples of the coarse gradient (0 = expected coarse gradient); NaN otherwise",
    "seed": "kinds 2-4: seed of the sample draw and of the start w0; NaN otherwise",
    "iteration": "kinds 2, 4: iteration t; NaN otherwise",
    "coordinate": "kind 4: coordinate index i of u^t; NaN otherwise",
    "value": "kind 4: u^t_i [1]; NaN otherwise",
    "u_pred": "kind 4: predicted limit u_bar_i of the population iteration [1]; NaN otherwise",
    "dist": "kinds 2-3: Euclidean distance |u^t - u_bar| to the population prediction [1]; NaN otherwise",
}


def teachers(w1: np.ndarray) -> np.ndarray:
    """Teachers (n, d): coordinate 1 = ``w1``, the rest :data:`OTHERS`."""
    return np.column_stack([w1, np.broadcast_to(OTHERS, (w1.size, len(OTHERS)))])


def predict_branches(name: str, a: float | None, w1: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """Predicted kept and zeroed branch of coordinate 1 at each ``w1`` (nonzero) with their self-consistency."""
    ws = teachers(w1)
    out = {}
    for br in (1, 0):
        sup = np.ones_like(ws, dtype=bool)
        sup[:, 0] = bool(br)
        p = nm.predict_binary(nm.Problem(ws, K, name, LAM, BETA, a=a), ste=STE, support=sup)
        out[br] = (p.u[:, 0], p.ok)
    return {"kept": out[1], "zero": out[0], "band": out[1][1] & out[0][1]}


def simulate_map(name: str, a: float | None, w1: np.ndarray) -> dict[str, np.ndarray]:
    """Limits of the normalized iteration (expected coarse gradient) from the two starts, with the prediction for
    the support each reached."""
    ws = teachers(w1)
    starts = []
    for br in (1, 0):
        w0 = ws.copy()
        w0[:, 0] = 2.0 * w1 if br else 0.0
        starts.append(w0)
    WS = np.concatenate([ws, ws])
    problem = nm.Problem(WS, K, name, LAM, BETA, a=a)
    r = nm.run(problem, np.concatenate(starts), eta=ETA, iters=SIM_ITERS, tol=SIM_TOL,
               gradient=nm.ExpectedCoarse(ste=STE, normalize=True))
    u = np.asarray(r.u)
    p = nm.predict_binary(problem, ste=STE, support=u != 0)
    return {"w_star_1": WS[:, 0], "start": np.repeat([1, 0], w1.size), "u": u[:, 0], "u_pred": p.u[:, 0],
            "error": np.where(p.ok, np.max(np.abs(u - p.u), axis=1), np.inf)}


def sampled_run(name: str, a: float | None, n: int | None, seed: int, iters: int, u_bar: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalized iteration with the coarse gradient of ``n`` samples (None: expected), recorded every
    :data:`CHUNK` iterations (the state (w, u = prox(w)) is continued exactly across chunks on the same samples).

    Returns the recorded iterations, the distances ``|u^t - u_bar|`` and the iterates ``u^t`` (rows)."""
    ws = np.asarray(W_STAR)
    rng = np.random.default_rng([SEED, seed])
    w = rng.standard_normal(ws.size)
    if n is None:
        gradient = nm.ExpectedCoarse(ste=STE, normalize=True)
    else:
        samples = np.random.default_rng([SEED, seed, n]).standard_normal((n, K, ws.size))
        gradient = nm.SampledCoarse(ste=STE, normalize=True, samples=samples)
    problem = nm.Problem(ws, K, name, LAM, BETA, a=a)
    w = w / np.linalg.norm(w)
    its, us = [0], [np.asarray(problem.penalty.prox(w, LAM / BETA))]
    t = 0
    while t < iters:
        r = nm.run(problem, w, eta=ETA, iters=CHUNK, gradient=gradient)
        w = np.asarray(r.w)
        t += CHUNK
        its.append(t)
        us.append(np.asarray(r.u))
    U = np.asarray(us)
    return np.asarray(its), np.linalg.norm(U - u_bar, axis=1), U


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """The data of the figure (all rows of the CSV) for ``preset``."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    cols: dict[str, list] = {c: [] for c in COLUMNS}

    def add(n_rows: int, **kv) -> None:
        for c in COLUMNS:
            v = kv.get(c, np.nan)
            cols[c].extend(np.broadcast_to(np.asarray(v, dtype=float), (n_rows,)).tolist())

    sims = np.linspace(-W1_MAX, W1_MAX, 2 * (p["n_sim"] // 2)) * 0.97
    grid = np.unique(np.concatenate([np.linspace(-W1_MAX, W1_MAX, 2 * (p["n_curve"] // 2)), sims]))
    for code, name, a in MAP_PANELS:
        br = predict_branches(name, a, grid)
        for b, key in ((1, "kept"), (0, "zero")):
            u, ok = br[key]
            add(int(ok.sum()), kind=0, penalty=code, a=a or 0.0, w_star_1=grid[ok], branch=b, u_bar_1=u[ok],
                band=br["band"][ok].astype(float), u_pred_1=u[ok])
        sm = simulate_map(name, a, sims)
        bsim = predict_branches(name, a, sm["w_star_1"])["band"].astype(float)
        add(sm["u"].size, kind=1, penalty=code, a=a or 0.0, w_star_1=sm["w_star_1"], branch=sm["start"],
            u_bar_1=sm["u"], band=bsim, u_pred_1=sm["u_pred"], sim_error=sm["error"])

    jobs = [(code, name, a, n, s) for code, name, a in MAP_PANELS for n in (None, *p["n_values"])
            for s in range(1 if n is None else p["n_seeds"])]
    for code, name, a, n, s in progress(jobs, desc=NAME):
        u_bar = nm.predict_binary(nm.Problem(np.asarray(W_STAR), K, name, LAM, BETA, a=a), ste=STE).u
        its, dist, U = sampled_run(name, a, n, s, p["iters"], u_bar)
        nn = 0 if n is None else n
        add(its.size, kind=2, penalty=code, a=a or 0.0, n_samples=nn, seed=s, iteration=its, dist=dist)
        if n is not None:
            add(1, kind=3, penalty=code, a=a or 0.0, n_samples=nn, seed=s, dist=dist[-1])
        if name == "l1" and s == 0 and n in (None, max(p["n_values"])):
            for i in range(U.shape[1]):
                add(its.size, kind=4, penalty=code, a=0.0, n_samples=nn, seed=s, iteration=its, coordinate=i,
                    value=U[:, i], u_pred=u_bar[i])
    return {c: np.asarray(v, dtype=float) for c, v in cols.items()}


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``binary_coarse_gradient.csv`` into ``out_dir``; return its path.

    The metadata holds the problem, the coarse-gradient coefficient ``c`` of the STE
    (:func:`numerics.binary.coarse_coefficient`) shown in the title, and the teachers of both rows.
    """
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title="binarized network, normalized split iteration with the coarse gradient: limit map and "
                           "sampled convergence",
                     meta={"k": K, "lam": LAM, "beta": BETA, "eta": ETA, "ste": STE,
                           "coarse_coefficient": binary.coarse_coefficient(K, STE), "others": OTHERS,
                           "w1_max": W1_MAX, "w_star": W_STAR, "seed": SEED, "chunk": CHUNK})


def _title(name: str, a: float) -> str:
    return style.PENALTY_LABELS[name] + (f", $a = {a:g}$" if name == "tl1" else "")


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Six panels from the CSV; save PNG + PDF.

    The dotted reference of the top row is the unpenalized direction ``e*_1 = w*_1/|w*|`` of the swept teachers
    ``(w*_1, others)`` (``others`` from the CSV's metadata).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import NullFormatter

    data, meta = read_csv(csv_path), read_meta(csv_path)
    w1_max = meta["w1_max"]
    kind, pen = data["kind"], data["penalty"]
    map_codes = [int(c) for c in np.unique(pen[kind == 0])]
    with style.style_context():
        fig, axes = style.new_figure(2, 3, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.8)
        # --- top row: limit maps -------------------------------------------------------------------------------
        x_line = np.linspace(-w1_max, w1_max, 400)
        e1 = x_line / np.sqrt(x_line**2 + float(np.sum(np.square(meta["others"]))))
        for j, code in enumerate(map_codes):
            name = PENALTY_NAMES[code]
            a = float(data["a"][(kind == 0) & (pen == code)][0])
            ax = axes[0, j]
            color = style.PENALTY_COLORS[name]
            cur, sim = (kind == 0) & (pen == code), (kind == 1) & (pen == code)
            ax.plot(x_line, e1, color="0.6", lw=0.8, ls=":")
            style.draw_limit_map(ax, data["w_star_1"][cur], data["u_bar_1"][cur], data["branch"][cur],
                                 data["band"][cur], color)
            for b, mk in ((1, "o"), (0, "x")):
                m = sim & (data["branch"] == b)
                ax.plot(data["w_star_1"][m], data["u_bar_1"][m], ls="none", marker=mk, ms=4 if b else 3.5,
                        mfc="none" if b else None, mec=style.DATA_COLOR, mew=0.8)
            ax.set_title(f"({'abc'[j]}) limit map, {_title(name, a)}")
            ax.set_xlabel(r"teacher coordinate $w^*_1$")
            ax.set_xlim(-w1_max * 1.03, w1_max * 1.03)
            ax.set_ylim(-0.65, 0.65)
        axes[0, 0].set_ylabel(r"limit $\bar u_1$ ($|\bar w| = 1$)")
        handles = [Line2D([], [], color="0.3", lw=1.3), Patch(color="0.3", alpha=0.2),
                   Line2D([], [], ls="none", marker="o", mfc="none", mec=style.DATA_COLOR),
                   Line2D([], [], ls="none", marker="x", mec=style.DATA_COLOR),
                   Line2D([], [], color="0.6", lw=0.8, ls=":")]
        labels = ["predicted limit (self-consistent branches)", "band: two fixed points",
                  r"iteration, $w^0_1 = 2w^*_1$", r"iteration, $w^0_1 = 0$", r"direction $e^*_1 = w^*_1/|w^*|$"]
        fig.legend(handles, [f"(a)-(c): {labels[0]}", *labels[1:]], loc="outside lower center", ncol=5, fontsize=6,
                   handlelength=1.5,
                   columnspacing=1.0)

        # --- (d) distance vs iteration, l1 --------------------------------------------------------------------
        ax = axes[1, 0]
        tr = (kind == 2) & (pen == 0)
        ns = np.unique(data["n_samples"][tr])
        shades = np.linspace(0.25, 0.8, max(1, ns.size - 1))
        for n in ns:
            m = tr & (data["n_samples"] == n)
            its = np.unique(data["iteration"][m])
            med = np.array([np.median(data["dist"][m & (data["iteration"] == t)]) for t in its])
            med = np.maximum(med, 1e-16)
            if n == 0:
                ax.plot(its, med, color=style.THEORY_COLOR, lw=1.2, label="expected coarse gradient")
            else:
                idx = int(np.flatnonzero(ns[ns > 0] == n)[0])
                ax.plot(its, med, color=style.PENALTY_COLORS["l1"], alpha=float(shades[::-1][idx] if ns.size > 2
                                                                                else 1.0),
                        lw=1.1, label=f"sampled, $N = {int(n)}$")
        ax.set_yscale("log")
        ax.set_xlabel("iteration $t$")
        ax.set_ylabel(r"$|u^t - \bar u|$ (median over seeds)")
        ax.set_title(r"(d) convergence, $\ell_1$")
        ax.legend(loc="lower left", fontsize=5.5)

        # --- (e) final distance vs N ---------------------------------------------------------------------------
        ax = axes[1, 1]
        fin = kind == 3
        n_all = np.unique(data["n_samples"][fin])
        for code in map_codes:
            name = PENALTY_NAMES[code]
            m = fin & (pen == code)
            med = np.array([np.median(data["dist"][m & (data["n_samples"] == n)]) for n in n_all])
            q25 = np.array([np.quantile(data["dist"][m & (data["n_samples"] == n)], 0.25) for n in n_all])
            q75 = np.array([np.quantile(data["dist"][m & (data["n_samples"] == n)], 0.75) for n in n_all])
            off = {0: 0.96, 1: 1.0, 2: 1.04}[code]
            ax.errorbar(n_all * off, med, yerr=[med - q25, q75 - med], color=style.PENALTY_COLORS[name], marker="o",
                        ms=3, lw=1.0, capsize=2, label=style.PENALTY_LABELS[name])
        if n_all.size:
            ref = np.median(data["dist"][fin & (data["n_samples"] == n_all[0])]) * np.sqrt(n_all[0] / n_all)
            ax.plot(n_all, ref, color="0.5", ls="--", lw=0.9, label=r"$\propto N^{-1/2}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(n_all, [f"{int(v)}" for v in n_all])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("number of samples $N$")
        ax.set_ylabel(r"final $|u_N - \bar u|$ (median, IQR)")
        ax.set_title("(e) sampled limit vs prediction")
        ax.legend(loc="upper right", fontsize=5.5)

        # --- (f) coordinates of one sampled run ----------------------------------------------------------------
        ax = axes[1, 2]
        co = kind == 4
        n_big = np.max(data["n_samples"][co]) if np.any(co) else 0
        m = co & (data["n_samples"] == n_big)
        coords = np.unique(data["coordinate"][m])
        # Shades of the l1 color (this is an l1 run): the default color cycle would reuse the l0 / TL1 colors.
        shades = matplotlib.colormaps["Blues"](np.linspace(0.45, 1.0, max(len(coords), 1)))
        for i, color in zip(coords, shades, strict=False):
            mi = m & (data["coordinate"] == i)
            ax.plot(data["iteration"][mi], data["value"][mi], color=color, lw=1.0)
            ax.axhline(float(data["u_pred"][mi][0]), color=color, lw=0.9, ls="--")
        ax.set_xlabel("iteration $t$")
        ax.set_ylabel(r"coordinates $u^t_i$")
        ax.set_title(rf"(f) one sampled run, $\ell_1$, $N = {int(n_big)}$")
        ax.legend([Line2D([], [], color="0.3", lw=1.0), Line2D([], [], color="0.3", lw=0.9, ls="--")],
                  [r"sampled $u^t_i$", r"predicted $\bar u_i$"], loc="center right", bbox_to_anchor=(1.0, 0.3),
                  fontsize=5.5)
        fig.suptitle(rf"binarized network, ReLU STE, normalized split iteration: $k = {meta['k']}$, "
                     rf"$\lambda = {meta['lam']:g}$, $\beta = {meta['beta']:g}$, $\eta = {meta['eta']:g}$, "
                     rf"$c = 1/(k\sqrt{{2\pi}}) = {meta['coarse_coefficient']:.3f}$; "
                     rf"(d)-(f): $w^* = {tuple(meta['w_star'])}$", fontsize=7)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``binary_coarse_gradient.csv``), draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
