"""Figure ``thresholding_map``: the RVSM limit as a thresholding of the truth, ``u_bar_1`` against ``w*_1``.

One coordinate ``w*_1`` of a teacher is swept while the others stay fixed (they change ``s`` and ``q``, so every
point is predicted separately with :func:`numerics.predict`). For each penalty the two branches of the limit
map are drawn where they are self-consistent fixed points: kept (``u_bar_1 != 0``, :func:`predict` with coordinate 1
in the support) and zeroed (``u_bar_1 = 0``); where both are, the band of two fixed points is shaded. Panels, one per
penalty family of :data:`numerics.penalties.PENALTIES`: l1, l0, TL1 with ``a`` in the subcritical regime
(``mu = lam/beta <= a^2/(2(a+1))``: continuous prox) and in the supercritical one, MCP (``gamma = 1.5``), SCAD
(``a = 2.5``), l_{1/2} and log-sum (``eps = 0.2``: ``mu > eps^2``, its prox jumps). Points: RVSM limits
(:func:`numerics.run`, population gradient) from two starts per ``w*_1``: coordinate 1 of ``w^0`` at ``2 w*_1``
("kept start") or at 0 ("zero start"), the other coordinates at ``w*``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import numerics as nm
from numerics import penalties
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "thresholding_map"

#: the fixed coordinates 2..d of the teacher (all well above the l0 band, so they stay kept)
OTHERS = (2.0, -1.6, 2.4, -1.8)
K, BETA, LAM, ETA = 4, 0.5, 0.05, 0.5
#: panels: (code, penalty, parameters); TL1 with a = 1 is subcritical (mu_c = a^2/(2(a+1)) = 0.25 >= mu = lam/beta =
#: 0.1), a = 0.1 supercritical (mu_c = 0.0045 < mu); MCP and SCAD with their knees (gamma, resp. 1 and a) inside the
#: swept range; log-sum with mu = 0.1 > eps^2 = 0.04 (its prox jumps)
PANELS = ((0, "l1", {}), (1, "l0", {}), (2, "tl1", {"a": 1.0}), (3, "tl1", {"a": 0.1}), (4, "mcp", {"gamma": 1.5}),
          (5, "scad", {"a": 2.5}), (6, "l_half", {}), (7, "log_sum", {"eps": 0.2}))
#: colors of the penalties that paper_figures.style does not name (Okabe-Ito and Tol palettes)
EXTRA_COLORS = {"mcp": "#E69F00", "scad": "#56B4E9", "l_half": "#882255", "log_sum": "#999933"}
EXTRA_LABELS = {"mcp": "MCP", "scad": "SCAD", "l_half": r"$\ell_{1/2}$", "log_sum": "log-sum"}
W1_MAX = 1.8
SIM_TOL, SIM_ITERS = 1e-14, 40000

PRESETS = {
    "tiny": {"n_curve": 120, "n_sim": 8},
    "quick": {"n_curve": 600, "n_sim": 16},
    "full": {"n_curve": 2000, "n_sim": 40},
}

COLUMNS = ("panel", "a", "is_sim", "w_star_1", "branch", "u_bar_1", "w_bar_1", "band", "u_pred_1", "consistent",
           "sim_error", "sim_converged")
DESCRIPTIONS = {
    "panel": "0 = l1, 1 = l0, 2 = TL1 subcritical a, 3 = TL1 supercritical a, 4 = MCP, 5 = SCAD, 6 = l_half, "
             "7 = log-sum (parameters in the metadata)",
    "a": "TL1 or SCAD parameter a (0 for the other penalties)",
    "is_sim": "0 = predicted curve point (numerics.predict); 1 = simulated RVSM limit",
    "w_star_1": "swept teacher coordinate w*_1 (other coordinates fixed at 2.0, -1.6, 2.4, -1.8) [unit of w]",
    "branch": "curve rows: 1 = kept branch (u_bar_1 != 0), 0 = zeroed branch; simulated rows: the start, "
              "1 = w0_1 = 2 w*_1, 0 = w0_1 = 0",
    "u_bar_1": "coordinate 1 of the limit u_bar (predicted on curve rows, simulated on sim rows) [unit of w]",
    "w_bar_1": "coordinate 1 of the limit w_bar [unit of w]",
    "band": "1 if both branches are self-consistent at this w*_1 (two fixed points coexist), else 0",
    "u_pred_1": "predicted u_bar_1 for the support the row has (curve rows: = u_bar_1; sim rows: predict with the "
                "support RVSM reached) [unit of w]",
    "consistent": "1 if the predicted limit with that support is a self-consistent fixed point (curve rows are "
                  "written only where it is)",
    "sim_error": "sim rows: max_i |u_sim_i - u_pred_i| over all d coordinates (0 on curve rows) [unit of w]",
    "sim_converged": "sim rows: 1 if RVSM stopped with |w^{t+1} - w^t|/eta < 1e-14 (1 on curve rows)",
}


def teachers(w1: np.ndarray) -> np.ndarray:
    """Teachers (n, d): coordinate 1 = ``w1``, the rest :data:`OTHERS`."""
    return np.column_stack([w1, np.broadcast_to(OTHERS, (w1.size, len(OTHERS)))])


def penalty_params(panel: int) -> tuple[str, float | None]:
    """``(penalty name, a)`` of a panel (``a`` None where the penalty has none)."""
    for code, name, params in PANELS:
        if code == panel:
            return name, params.get("a")
    raise ValueError(f"panel must be one of {[p[0] for p in PANELS]}; got {panel!r}")


def penalty_of(panel: int) -> penalties.Penalty:
    """The penalty object of a panel."""
    for code, name, params in PANELS:
        if code == panel:
            return penalties.get_penalty(name, **params)
    raise ValueError(f"panel must be one of {[p[0] for p in PANELS]}; got {panel!r}")


def predict_branches(name: str, a: float | None, w1: np.ndarray, *, params: dict | None = None
                     ) -> dict[str, np.ndarray]:
    """Predicted kept and zeroed branches of coordinate 1 at each ``w1`` (nonzero), with their consistency."""
    ws = teachers(w1)
    out = {}
    for br in (1, 0):
        sup = np.ones_like(ws, dtype=bool)
        sup[:, 0] = bool(br)
        p = nm.predict(nm.Problem(ws, K, name, LAM, BETA, a=a, params=params), support=sup)
        ok = np.all(p.consistent, axis=1) & p.converged
        out[br] = (p.u[:, 0], p.w[:, 0], ok)
    band = out[1][2] & out[0][2]
    return {"kept": out[1], "zero": out[0], "band": band}


def simulate(name: str, a: float | None, w1: np.ndarray, *, params: dict | None = None) -> dict[str, np.ndarray]:
    """RVSM limits from the two starts for each ``w1``; and the prediction for the support each reached."""
    ws = teachers(w1)
    n = w1.size
    starts = []
    for br in (1, 0):
        w0 = ws.copy()
        w0[:, 0] = 2.0 * w1 if br else 0.0
        starts.append(w0)
    W0 = np.concatenate(starts)
    WS = np.concatenate([ws, ws])
    problem = nm.Problem(WS, K, name, LAM, BETA, a=a, params=params)
    r = nm.run(problem, W0, eta=ETA, iters=SIM_ITERS, tol=SIM_TOL)
    u, w = np.asarray(r.u), np.asarray(r.w)
    sup = u != 0
    p = nm.predict(problem, support=sup)
    return {"w_star_1": WS[:, 0], "start": np.repeat([1, 0], n), "u": u[:, 0], "w": w[:, 0],
            "u_pred": p.u[:, 0], "consistent": np.all(p.consistent, axis=1) & p.converged,
            "error": np.max(np.abs(u - p.u), axis=1), "converged": np.asarray(r.converged)}


def _grid(n: int, sims: np.ndarray) -> np.ndarray:
    g = np.linspace(-W1_MAX, W1_MAX, 2 * (n // 2))  # even count: 0 is not on the grid
    return np.unique(np.concatenate([g, sims]))


def sim_points(n_sim: int) -> np.ndarray:
    """The simulated ``w*_1``: evenly spread on ``[-W1_MAX, W1_MAX]``, avoiding 0."""
    return np.linspace(-W1_MAX, W1_MAX, 2 * (n_sim // 2)) * 0.97


def table(preset: str = "quick") -> dict[str, np.ndarray]:
    """The data of the figure (all rows of the CSV) for ``preset``."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    sims = sim_points(p["n_sim"])
    grid = _grid(p["n_curve"], sims)
    cols: dict[str, list] = {c: [] for c in COLUMNS}

    def add(**kv):
        for c in COLUMNS:
            cols[c].extend(np.broadcast_to(kv[c], kv["w_star_1"].shape).tolist())

    for code, name, params in PANELS:
        a, others = params.get("a"), {k: v for k, v in params.items() if k != "a"} or None
        br = predict_branches(name, a, grid, params=others)
        band = br["band"].astype(int)
        for b, key in ((1, "kept"), (0, "zero")):
            u, w, ok = br[key]
            add(panel=code, a=a or 0.0, is_sim=0, w_star_1=grid[ok], branch=b, u_bar_1=u[ok], w_bar_1=w[ok],
                band=band[ok], u_pred_1=u[ok], consistent=1, sim_error=0.0, sim_converged=1)
        sm = simulate(name, a, sims, params=others)
        bsim = predict_branches(name, a, sm["w_star_1"], params=others)["band"].astype(int)
        add(panel=code, a=a or 0.0, is_sim=1, w_star_1=sm["w_star_1"], branch=sm["start"], u_bar_1=sm["u"],
            w_bar_1=sm["w"], band=bsim, u_pred_1=sm["u_pred"], consistent=sm["consistent"].astype(int),
            sim_error=sm["error"], sim_converged=sm["converged"].astype(int))
    return {c: np.asarray(v) for c, v in cols.items()}


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Compute the data and write ``thresholding_map.csv`` into ``out_dir``; return its path.

    The metadata holds the problem and, per panel, its penalty and (TL1) the critical ``mu_c = a^2/(2(a+1))`` of
    :func:`numerics.penalties.tl1_critical_mu` that the panel titles compare ``mu = lam/beta`` with.
    """
    panels = [{"code": code, "penalty": name, "a": params.get("a"), "params": params,
               "tl1_critical_mu": penalties.tl1_critical_mu(params["a"]) if name == "tl1" else None}
              for code, name, params in PANELS]
    return write_csv(Path(out_dir) / f"{NAME}.csv", table(preset), DESCRIPTIONS,
                     title="RVSM limit map u_bar_1 against w*_1: predicted branches and simulated limits",
                     meta={"others": OTHERS, "k": K, "lam": LAM, "beta": BETA, "eta": ETA, "w1_max": W1_MAX,
                           "sim_tol": SIM_TOL, "sim_iters": SIM_ITERS, "panels": panels})


_SYMBOLS = {"a": "a", "gamma": r"\gamma", "eps": r"\epsilon"}


def _title(name: str, a: float | None, mu: float, mu_c: float | None, params: dict | None = None) -> str:
    if name != "tl1":
        label = style.PENALTY_LABELS.get(name, EXTRA_LABELS.get(name, name))
        extra = ", ".join(f"${_SYMBOLS.get(k, k)} = {v:g}$" for k, v in (params or {}).items())
        return f"{label}, {extra}" if extra else label
    rel = r"\leq" if mu <= mu_c else ">"
    return f"TL1, $a = {a:g}$: $\\mu {rel} a^2/(2(a+1))$"


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """One panel per penalty (eight) from the CSV; save PNG + PDF."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    data, meta = read_csv(csv_path), read_meta(csv_path)
    lam, beta, w1_max = meta["lam"], meta["beta"], meta["w1_max"]
    with style.style_context():
        n = len(meta["panels"])
        ncols = 4
        nrows = -(-n // ncols)
        fig, axes = style.new_figure(nrows, ncols, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.9, sharex=True,
                                     sharey=True)
        for j, panel in enumerate(meta["panels"]):
            code, name, a = panel["code"], panel["penalty"], panel["a"]
            ax = axes.flat[j]
            key = "tl1_b" if (name == "tl1" and j == 3) else name
            color = style.PENALTY_COLORS.get(key, EXTRA_COLORS.get(name, "0.3"))
            sel = data["panel"] == code
            cur, sim = sel & (data["is_sim"] == 0), sel & (data["is_sim"] == 1)
            lim = w1_max * 1.05
            ax.plot([-lim, lim], [-lim, lim], color="0.7", lw=0.7, ls=":")
            style.draw_limit_map(ax, data["w_star_1"][cur], data["u_bar_1"][cur], data["branch"][cur],
                                 data["band"][cur], color)
            for b, mk in ((1, "o"), (0, "x")):
                m = sim & (data["branch"] == b)
                ax.plot(data["w_star_1"][m], data["u_bar_1"][m], ls="none", marker=mk, ms=4 if b else 3.5,
                        mfc="none" if b else None, mec=style.DATA_COLOR, mew=0.8)
            title = _title(name, a, lam / beta, panel["tl1_critical_mu"], panel.get("params"))
            ax.set_title(f"({'abcdefgh'[j]}) {title}", fontsize=7)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        for ax in axes[-1]:
            ax.set_xlabel(r"teacher coordinate $w^*_1$")
        for ax in axes[:, 0]:
            ax.set_ylabel(r"limit $\bar u_1$")
        handles = [Line2D([], [], color="0.3", lw=1.3), Patch(color="0.3", alpha=0.2),
                   Line2D([], [], ls="none", marker="o", mfc="none", mec=style.DATA_COLOR),
                   Line2D([], [], ls="none", marker="x", mec=style.DATA_COLOR),
                   Line2D([], [], color="0.7", lw=0.7, ls=":")]
        labels = ["predicted limit map (self-consistent branches)", "band: two fixed points",
                  r"RVSM limit, start $w^0_1 = 2w^*_1$", r"RVSM limit, start $w^0_1 = 0$", r"$\bar u_1 = w^*_1$"]
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=6.5)
        others = ", ".join(f"{v:g}" for v in meta["others"])
        fig.suptitle(rf"$w^* = (w^*_1, {others})$, $k = {meta['k']}$, $\lambda = {lam:g}$, "
                     rf"$\beta = {beta:g}$ ($\mu = {lam / beta:g}$), $\eta = {meta['eta']:g}$", fontsize=7.5)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``thresholding_map.csv``), draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
