"""Figure ``phase_diagram``: where the theorem holds, as phase diagrams computed by a sweep (:mod:`numerics.sweep`).

For l1, l0 and TL1 (a = 1), one sparse teacher (d = 8, half of the coordinates zero, k = 4) and many start points
uniform on the unit sphere per cell: the fraction of trials that reach the predicted limit (:func:`numerics.predict`,
within the sweep's match tolerance) AND recover the support of w* exactly,

- row (a) over (lam k, beta) at eta = 0.5, with the theory's boundaries: where the predicted limit's support stops
  being supp(w*) (solid), where the l0 / TL1 band (two coexisting fixed points) is nonempty (dashed), and q = 0
  (dotted; drawn only where q changes sign on the grid);
- row (b) over (lam, eta) at beta = 0.1, with the stable step bound eta = 2/(L + beta) (L the largest Hessian
  eigenvalue of the loss at w*) as a horizontal line; cells whose iteration diverged are crossed.

The "full" preset runs the shipped specs ``numerics/sweep/specs/phase_diagram.toml`` and ``phase_diagram_step.toml``
on a local Dask cluster into resumable stores ``phase_diagram.zarr`` / ``phase_diagram_step.zarr`` beside the CSV;
``quick`` runs smaller versions of them (fewer lam values, trials and iterations) on a local cluster, ``tiny`` in
this process; their stores are temporary.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from numerics.sweep import example_spec, load_spec, parse_spec, run_sweep
from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "phase_diagram"
PENALTY_CODES = {"l1": 0, "l0": 1, "tl1": 2}
PENALTY_NAMES = {v: k for k, v in PENALTY_CODES.items()}
SPECS = ("phase_diagram", "phase_diagram_step")

#: per preset: lam values kept (every n-th of the shipped spec's), trials per cell, the other axes of each spec
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"lam_every": 6, "trials": 2, "beta": [0.1, 1.0], "eta": [0.5, 5.0], "iters": 2000, "workers": 0},
    "quick": {"lam_every": 2, "trials": 8, "beta": None, "eta": [0.5, 1.0, 2.0, 3.0, 4.0, 5.0], "iters": 5000,
              "workers": None},
    "full": {"lam_every": 1, "trials": None, "beta": None, "eta": None, "iters": None, "workers": None},
}

COLUMNS = ("panel", "penalty", "a", "lam", "lam_k", "beta", "eta", "k", "d", "n_trials", "frac_both",
           "frac_reached", "frac_support", "frac_converged", "frac_diverged", "q_pred", "band_coords",
           "pred_support", "eta_bound")
DESCRIPTIONS = {
    "panel": "0 = row (a), the (lam k, beta) grid at eta = 0.5; 1 = row (b), the (lam, eta) grid at beta = 0.1",
    "penalty": "0 = l1, 1 = l0, 2 = TL1",
    "a": "TL1 parameter a (unused by l1 and l0)",
    "lam": "penalty weight lam",
    "lam_k": "lam k, the product the limit map's threshold scales with for small lam [1]",
    "beta": "relaxation weight beta",
    "eta": "step size eta",
    "k": "patches k",
    "d": "patch dimension d",
    "n_trials": "trials (start points) in the cell",
    "frac_both": "fraction of trials that reached the predicted limit and recovered supp(w*) exactly [1]",
    "frac_reached": "fraction of trials within the match tolerance of numerics.predict (band: the nearer branch) [1]",
    "frac_support": "fraction of trials with supp(u) = supp(w*) [1]",
    "frac_converged": "fraction of trials whose stationarity residual fell below tol [1]",
    "frac_diverged": "fraction of trials in blocks whose iteration became non-finite [1]",
    "q_pred": "q of the predicted limit (the limit map needs q > 0)",
    "band_coords": "coordinates of the prediction in the band (two coexisting fixed points; l0, TL1)",
    "pred_support": "1 if the predicted limit's support equals supp(w*), else 0",
    "eta_bound": "stable step bound 2/(L + beta), L the largest Hessian eigenvalue of l at w*",
}


def _spec(name: str, preset: str) -> Any:
    """The shipped spec ``name``, shrunk for the preset."""
    p = PRESETS[preset]
    data = load_spec(example_spec(name)).as_dict()
    data["grid"]["lam"] = data["grid"]["lam"][:: p["lam_every"]]
    axis = "beta" if name == "phase_diagram" else "eta"
    if p[axis] is not None:
        data["grid"][axis] = p[axis]
    for key in ("trials", "iters"):
        if p[key] is not None:
            data["sweep"][key] = p[key]
    data["sweep"]["block"] = min(data["sweep"]["block"], data["sweep"]["trials"])
    return parse_spec(data)


def _rows(ds: Any, panel: int) -> dict[str, np.ndarray]:
    """Per-cell rows of one store (an xarray dataset) for ``panel``."""
    both = (ds.reached & ds.support).mean("trial")
    pred_support = ((ds.u_pred != 0) == (ds.w_star != 0)).where(ds.w_star.notnull(), True).all("coord")
    cols = {"frac_both": both, "frac_reached": ds.reached.mean("trial"), "frac_support": ds.support.mean("trial"),
            "frac_converged": ds.converged.mean("trial"), "frac_diverged": ds.diverged.mean("trial"),
            "q_pred": ds.q_pred, "band_coords": ds.band_coords, "pred_support": pred_support,
            "eta_bound": ds.eta_bound}
    flat = {k: np.asarray(v.transpose(*ds.q_pred.dims).values, dtype=np.float64).reshape(-1) for k, v in cols.items()}
    mesh = np.meshgrid(*[ds[a].values for a in ds.q_pred.dims], indexing="ij")
    coords = {a: m.reshape(-1) for a, m in zip(ds.q_pred.dims, mesh, strict=True)}
    n = flat["q_pred"].size
    return {"panel": np.full(n, panel), "penalty": np.array([PENALTY_CODES[p] for p in coords["penalty"]]),
            "a": coords["a"].astype(float), "lam": coords["lam"].astype(float),
            "lam_k": coords["lam"].astype(float) * coords["k"], "beta": coords["beta"].astype(float),
            "eta": coords["eta"].astype(float), "k": coords["k"], "d": coords["d"],
            "n_trials": np.full(n, ds.sizes["trial"]), **flat}


def table(preset: str = "quick", store_dir: Path | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run both sweeps for ``preset`` (stores in ``store_dir``, else a temporary folder) and return the rows and
    the metadata."""
    import xarray as xr

    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    meta: dict[str, Any] = {"preset": preset}
    with tempfile.TemporaryDirectory(prefix="phase-diagram-") as tmp:
        base = Path(tmp) if store_dir is None else Path(store_dir)
        for panel, name in enumerate(SPECS):
            spec = _spec(name, preset)
            store = base / f"{name}.zarr"
            run_sweep(spec, store, workers=PRESETS[preset]["workers"], quiet=preset == "tiny")
            with xr.open_zarr(store, chunks=None) as ds:  # plain NumPy reads: no dask graph of tiny chunks
                rows = _rows(ds.load(), panel)
            for c in COLUMNS:
                cols[c].extend(np.asarray(rows[c]).tolist())
            meta[f"spec_{panel}"] = spec.as_dict()
            meta[f"spec_sha256_{panel}"] = spec.sha256
            meta[f"match_tol_{panel}"] = spec.match_tolerance(spec.grid["k"][0])
    return {c: np.asarray(v) for c, v in cols.items()}, meta


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Run the sweeps and write ``phase_diagram.csv`` into ``out_dir``; return its path. The full preset keeps
    its stores in ``out_dir`` (an interrupted run resumes)."""
    out_dir = Path(out_dir)
    data, meta = table(preset, store_dir=out_dir if preset == "full" else None)
    return write_csv(out_dir / f"{NAME}.csv", data, DESCRIPTIONS,
                     title="Phase diagrams of RVSM: fraction of trials reaching the predicted limit with the "
                           "support of w* (numerics.sweep)", meta=meta)


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on a log axis)."""
    t = np.log(v) if log else v
    if t.size == 1:
        return np.exp(t + np.array([-0.5, 0.5])) if log else t + np.array([-0.5, 0.5])
    mid = (t[1:] + t[:-1]) / 2
    e = np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])
    return np.exp(e) if log else e


def _grid(data: dict[str, np.ndarray], sel: np.ndarray, x: str, y: str, z: str) -> tuple[np.ndarray, ...]:
    xs, ys = np.unique(data[x][sel]), np.unique(data[y][sel])
    Z = np.full((ys.size, xs.size), np.nan)
    ix = np.searchsorted(xs, data[x][sel])
    iy = np.searchsorted(ys, data[y][sel])
    Z[iy, ix] = data[z][sel]
    return xs, ys, Z


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Two rows of three heat maps (one per penalty) with the theory's boundaries, from the CSV; PNG + PDF."""
    from matplotlib.lines import Line2D

    data, meta = read_csv(csv_path), read_meta(csv_path)
    pens = [int(c) for c in np.unique(data["penalty"])]
    with style.style_context():
        fig, axes = style.new_figure(2, len(pens), width=style.DOUBLE_COLUMN_IN, panel_aspect=0.8)
        mesh = None
        for row, (x, y, ylog) in enumerate((("lam_k", "beta", True), ("lam", "eta", False))):
            for col, code in enumerate(pens):
                ax = axes[row, col]
                sel = (data["panel"] == row) & (data["penalty"] == code)
                if not sel.any():
                    ax.set_axis_off()
                    continue
                xs, ys, Z = _grid(data, sel, x, y, "frac_both")
                y_edges = _edges(ys, ylog) if ylog else np.maximum(_edges(ys, ylog), 0.0)  # a step is positive
                mesh = ax.pcolormesh(_edges(xs, True), y_edges, Z, cmap="viridis", vmin=0, vmax=1, shading="flat")
                X, Y = np.meshgrid(xs, ys)
                if xs.size > 1 and ys.size > 1:
                    for key, level, ls in (("pred_support", 0.5, "-"), ("band_coords", 0.5, "--")):
                        _, _, V = _grid(data, sel, x, y, key)
                        if np.nanmin(V) < level < np.nanmax(V):
                            ax.contour(X, Y, V, levels=[level], colors="white", linewidths=1.2, linestyles=ls)
                    _, _, Q = _grid(data, sel, x, y, "q_pred")
                    if np.nanmin(Q) < 0 < np.nanmax(Q):
                        ax.contour(X, Y, Q, levels=[0.0], colors="white", linewidths=1.2, linestyles=":")
                if row == 1:
                    bound = float(np.median(data["eta_bound"][sel]))
                    ax.axhline(bound, color="red", lw=1.2, ls="-.")
                    _, _, Dv = _grid(data, sel, x, y, "frac_diverged")
                    iy, ix = np.nonzero(Dv > 0.5)
                    ax.plot(xs[ix], ys[iy], ls="none", marker="x", ms=4, color="red", mew=0.9)
                ax.set_xscale("log")
                if ylog:
                    ax.set_yscale("log")
                ax.grid(False)
                name = PENALTY_NAMES[code]
                a = float(data["a"][sel][0])
                label = style.PENALTY_LABELS[name] + (f" ($a = {a:g}$)" if name == "tl1" else "")
                fixed = (rf"$\eta = {data['eta'][sel][0]:g}$" if row == 0 else rf"$\beta = {data['beta'][sel][0]:g}$")
                ax.set_title(f"({'ab'[row]}{col + 1}) {label}, {fixed}")
                ax.set_xlabel(r"$\lambda k$" if row == 0 else r"$\lambda$")
                if col == 0:
                    ax.set_ylabel(r"$\beta$" if row == 0 else r"step size $\eta$")
        if mesh is not None:
            fig.colorbar(mesh, ax=axes, shrink=0.9, label="fraction reaching the predicted limit\n"
                                                          r"with supp$(u)$ = supp$(w^*)$")
        q_all = data["q_pred"]
        q_sign_change = bool(np.nanmin(q_all) < 0 < np.nanmax(q_all))
        q_note = ("q of the predicted limit changes sign" if q_sign_change
                  else f"q > 0 in every cell (min {np.nanmin(q_all):.3g})")
        handles = [Line2D([], [], color="0.2", lw=1.2, ls="-"), Line2D([], [], color="0.2", lw=1.2, ls="--"),
                   Line2D([], [], color="red", lw=1.2, ls="-."),
                   Line2D([], [], color="red", ls="none", marker="x", ms=4)]
        labels = [r"edge of the region where the predicted supp$(\bar u)$ = supp$(w^*)$",
                  "edge of the band (two fixed points coexist)",
                  r"stable step bound $2/(L + \beta)$", "diverged"]
        if q_sign_change:
            handles.append(Line2D([], [], color="0.2", lw=1.2, ls=":"))
            labels.append("q = 0 of the predicted limit")
        d, k = int(data["d"][0]), int(data["k"][0])
        n = int(data["n_trials"][0])
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=6.5,
                   title=f"one sparse teacher, d = {d}, k = {k}, {n} start points per cell; {q_note}; "
                         f"preset {meta['preset']}", title_fontsize=6.5)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data (``phase_diagram.csv``), draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
