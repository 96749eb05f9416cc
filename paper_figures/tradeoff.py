"""Figure ``tradeoff``: accuracy against sparsity of the RVSM output for l1, l0 and TL1 (a lam sweep).

Sparse teachers (:func:`numerics.make_teachers`, ``d = 20``, half of the coordinates zero) and start points
uniform on the unit sphere; for each penalty one batched :func:`numerics.run` covers every ``lam`` and every
(teacher, start) pair. Per ``lam``: median and interquartile range over the trials of x = fraction of zeros in
``u_bar`` and y = relative error ``|u_bar - w*|/|w*|`` (panel a) or the population loss ``l(u_bar)/|w*|^2``
(panel b). Filled markers: at least half of the trials recover the support of ``w*`` exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import numerics as nm
from numerics import population
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "tradeoff"

D, K, BETA, ETA = 20, 4, 1.0, 0.5
SPARSITY = 0.5
#: penalties: (name, code, a)
PENALTIES = (("l1", 0, None), ("l0", 1, None), ("tl1", 2, 1.0))
#: the penalty of each code of the CSV (its schema, see DESCRIPTIONS["penalty"])
PENALTY_NAMES = {0: "l1", 1: "l0", 2: "tl1"}
SEED = 11
ITERS, TOL = 20000, 1e-12

PRESETS = {
    "tiny": {"n_teachers": 4, "n_starts": 2, "lams": np.logspace(-4, -0.5, 6)},
    "quick": {"n_teachers": 20, "n_starts": 5, "lams": np.logspace(-4, -0.3, 16)},
    "full": {"n_teachers": 100, "n_starts": 10, "lams": np.logspace(-4, -0.3, 30)},
}

COLUMNS = ("penalty", "a", "lam", "n_trials", "zeros_median", "zeros_q25", "zeros_q75", "relerr_median",
           "relerr_q25", "relerr_q75", "loss_median", "loss_q25", "loss_q75", "support_recovered", "converged")
DESCRIPTIONS = {
    "penalty": "0 = l1, 1 = l0, 2 = TL1",
    "a": "TL1 parameter a (0 for l1 and l0)",
    "lam": "penalty weight lam (beta = 1, eta = 0.5, k = 4, d = 20)",
    "n_trials": "number of trials (teachers x start points) at this lam",
    "zeros_median": "median over trials of the fraction of zero coordinates of u_bar [1]",
    "zeros_q25": "25th percentile of that fraction [1]",
    "zeros_q75": "75th percentile of that fraction [1]",
    "relerr_median": "median relative error |u_bar - w*| / |w*| [1]",
    "relerr_q25": "25th percentile of the relative error [1]",
    "relerr_q75": "75th percentile of the relative error [1]",
    "loss_median": "median population loss l(u_bar) / |w*|^2 (numerics.population.loss) [1]",
    "loss_q25": "25th percentile of l(u_bar) / |w*|^2 [1]",
    "loss_q75": "75th percentile of l(u_bar) / |w*|^2 [1]",
    "support_recovered": "fraction of trials with supp(u_bar) = supp(w*) exactly [1]",
    "converged": "fraction of trials that stopped with |w^{t+1} - w^t|/eta < 1e-12 within 20000 iterations [1]",
}


def simulate(name: str, a: float | None, lams: np.ndarray, n_teachers: int, n_starts: int) -> dict[str, np.ndarray]:
    """One batched RVSM run for all ``lam`` x teachers x starts; per-trial results of shape (n_lam, n_trials).

    The same (teacher, start) pairs are used at every ``lam`` (trial j of every row is the same problem).
    """
    ss = np.random.SeedSequence(SEED).spawn(2)
    ws = nm.make_teachers(n_teachers, D, kind="sparse", sparsity=SPARSITY, seed=ss[0])
    ws = np.repeat(ws, n_starts, axis=0)
    w0 = np.asarray(nm.uniform_sphere(ws.shape[0], D, seed=int(ss[1].generate_state(1)[0])))
    n_lam, n_tr = lams.size, ws.shape[0]
    WS, W0 = np.tile(ws, (n_lam, 1)), np.tile(w0, (n_lam, 1))
    LAM = np.repeat(lams, n_tr)
    r = nm.run(nm.Problem(WS, K, name, LAM, BETA, a=a), W0, eta=ETA, iters=ITERS, tol=TOL)
    u = np.asarray(r.u)
    norm = np.linalg.norm(WS, axis=1)
    zeros = np.mean(u == 0, axis=1)
    relerr = np.linalg.norm(u - WS, axis=1) / norm
    loss = np.asarray(population.loss(u, WS, K)) / norm**2
    recovered = np.all((u != 0) == (WS != 0), axis=1)
    shape = (n_lam, n_tr)
    return {"zeros": zeros.reshape(shape), "relerr": relerr.reshape(shape), "loss": loss.reshape(shape),
            "recovered": recovered.reshape(shape), "converged": np.asarray(r.converged).reshape(shape),
            "w_star": ws, "u": u.reshape(n_lam, n_tr, D)}


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """The data of the figure (all rows of the CSV) for ``preset``."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    lams = np.asarray(p["lams"], dtype=np.float64)
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    for name, code, a in PENALTIES:
        sim = simulate(name, a, lams, p["n_teachers"], p["n_starts"])
        q = {key: np.percentile(sim[key], [25, 50, 75], axis=1) for key in ("zeros", "relerr", "loss")}
        n = lams.size
        rows = {"penalty": [code] * n, "a": [a or 0.0] * n, "lam": lams, "n_trials": [sim["zeros"].shape[1]] * n,
                "support_recovered": sim["recovered"].mean(axis=1), "converged": sim["converged"].mean(axis=1)}
        for key, short in (("zeros", "zeros"), ("relerr", "relerr"), ("loss", "loss")):
            rows[f"{short}_q25"], rows[f"{short}_median"], rows[f"{short}_q75"] = q[key]
        for c in COLUMNS:
            cols[c].extend(np.asarray(rows[c]).tolist())
    return {c: np.asarray(v) for c, v in cols.items()}


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``tradeoff.csv`` into ``out_dir``; return its path."""
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title="Accuracy-sparsity trade-off of RVSM over a lam sweep (sparse teachers, seeded)",
                     meta={"d": D, "k": K, "beta": BETA, "eta": ETA, "sparsity": SPARSITY, "seed": SEED,
                           "iters": ITERS, "tol": TOL})


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Two panels (relative error, population loss) against the fraction of zeros, from the CSV; save PNG + PDF."""
    from matplotlib.lines import Line2D

    data, meta = read_csv(csv_path), read_meta(csv_path)
    sparsity = meta["sparsity"]
    pens = [(PENALTY_NAMES[int(c)], int(c), float(data["a"][data["penalty"] == c][0]))
            for c in np.unique(data["penalty"])]
    with style.style_context():
        fig, axes = style.new_figure(1, 2, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.72)
        for ax, key, ylabel, floor in (
                (axes[0, 0], "relerr", r"relative error $|\bar u - w^*|\,/\,|w^*|$", 1e-5),
                (axes[0, 1], "loss", r"population loss $\ell(\bar u)\,/\,|w^*|^2$", 1e-9)):
            for name, code, _a in pens:
                sel = data["penalty"] == code
                color = style.PENALTY_COLORS[name]
                # values below `floor` (l0 with the exact support: u_bar = w* up to the iteration tolerance) are
                # drawn at the floor as downward triangles
                x, y = data["zeros_median"][sel], np.maximum(data[f"{key}_median"][sel], floor)
                xerr = np.abs(np.stack([x - data["zeros_q25"][sel], data["zeros_q75"][sel] - x]))
                yerr = np.abs(np.stack([y - np.maximum(data[f"{key}_q25"][sel], floor),
                                        np.maximum(data[f"{key}_q75"][sel], floor) - y]))
                ax.errorbar(x, y, xerr=xerr, yerr=yerr, color=color, lw=0.9, elinewidth=0.6, capsize=0,
                            marker="none", alpha=0.9)
                rec = data["support_recovered"][sel] >= 0.5
                low = data[f"{key}_median"][sel] < floor
                ax.plot(x[~rec], y[~rec], ls="none", marker="o", ms=3.5, mfc="white", mec=color)
                ax.plot(x[rec & ~low], y[rec & ~low], ls="none", marker="o", ms=4, mfc=color, mec=color)
                ax.plot(x[low], y[low], ls="none", marker="v", ms=5, mfc=color, mec=color)
            ax.set_ylim(floor / 3, 3)
            ax.axvline(sparsity, color="0.5", lw=0.8, ls="--")
            ax.set_yscale("log")
            ax.set_xlabel(r"fraction of zeros in $\bar u$")
            ax.set_ylabel(ylabel)
            ax.set_xlim(sparsity - 0.08, 1.03)
        axes[0, 0].set_title("(a) accuracy vs sparsity")
        axes[0, 1].set_title("(b) population loss vs sparsity")
        handles = [Line2D([], [], color=style.PENALTY_COLORS[n], marker="o", ms=3.5, lw=0.9) for n, _, _ in pens]
        labels = [style.PENALTY_LABELS[n] + (f" ($a = {a:g}$)" if a else "") for n, _, a in pens]
        handles += [Line2D([], [], ls="none", marker="v", mfc="0.3", mec="0.3"),
                    Line2D([], [], ls="none", marker="o", mfc="0.3", mec="0.3"),
                    Line2D([], [], ls="none", marker="o", mfc="white", mec="0.3"),
                    Line2D([], [], color="0.5", lw=0.8, ls="--")]
        labels += [r"below the axis (l0, exact support: $\bar u = w^*$)",
                   r"supp$(\bar u)$ = supp$(w^*)$ in $\geq 50\%$ of trials", "support not recovered (median)",
                   r"sparsity of $w^*$"]
        n_tr = int(data["n_trials"][0])
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=6.5,
                   title=rf"$\lambda$ sweep ($\lambda$ grows to the right); median and IQR over {n_tr} trials; "
                         rf"$d = {meta['d']}$, $k = {meta['k']}$, $\beta = {meta['beta']:g}$, "
                         rf"$\eta = {meta['eta']:g}$", title_fontsize=6.5)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``tradeoff.csv``), draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
