"""The shared look of every paper figure: one color per penalty, single-column sizing, vector output.

Use :func:`new_figure` to create figures and :func:`save` to write PNG + PDF; colors come from
:data:`PENALTY_COLORS` so a penalty looks the same in every figure.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
import numpy as np

from paper_figures.data import atomic_path

# Embedding TrueType fonts (pdf.fonttype 42) makes fontTools log a harmless note about the font file's timestamps
# ("'created' timestamp seems very low") on every PDF; it says nothing about the figure.
logging.getLogger("fontTools").setLevel(logging.ERROR)

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402  (after matplotlib.use)

#: One color per penalty, colour-blind safe (Okabe-Ito), used by every figure.
PENALTY_COLORS = {"l1": "#0072B2", "l0": "#D55E00", "tl1": "#009E73", "tl1_b": "#CC79A7", "gd": "#555555"}
#: Display names with math.
PENALTY_LABELS = {"l1": r"$\ell_1$", "l0": r"$\ell_0$", "tl1": r"TL1", "gd": "GD ($\\lambda=0$)"}
#: Neutral colors for reference lines (theory) and data (simulation).
THEORY_COLOR = "black"
DATA_COLOR = "#444444"

SINGLE_COLUMN_IN = 3.4
DOUBLE_COLUMN_IN = 7.0

_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "legend.frameon": False,
    "savefig.dpi": 200,
    "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
    "figure.constrained_layout.use": True,
}


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = SINGLE_COLUMN_IN, panel_aspect: float = 0.75,
               **kwargs):
    """A figure with the shared style and a grid of axes (always a 2-D array).

    Each panel is ``width / ncols`` wide and ``panel_aspect`` times that high.
    """
    panel_w = width / ncols
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, panel_w * panel_aspect * nrows), squeeze=False,
                                 layout="constrained", **kwargs)
    return fig, axes


def style_context():
    """Context manager applying the shared rcParams (wrap plotting calls in it)."""
    return plt.rc_context(_RC)


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.pdf`` into ``out_dir``, each atomically (:func:`paper_figures.data.atomic_path`);
    close the figure; return the paths."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    try:
        with plt.rc_context(_RC):
            for p in paths:
                with atomic_path(p) as tmp:
                    fig.savefig(tmp, format=p.suffix[1:], bbox_inches="tight", pad_inches=0.02)
    finally:
        plt.close(fig)
    return paths


def draw_limit_map(ax, x: np.ndarray, u: np.ndarray, branch: np.ndarray, band: np.ndarray, color: str) -> None:
    """Draw a predicted limit map ``u(x)`` on a grid of teacher values ``x``: the kept (branch 1) and zeroed
    (branch 0) branches as lines, and each maximal run of band grid points (both branches self-consistent) shaded.

    A branch line is broken wherever consecutive points of that branch are not neighbours on the grid (the branch is
    not self-consistent in between), so no line is drawn across a gap.
    """
    x_all = np.unique(x)
    band_x = np.unique(x[band == 1])
    if band_x.size:
        inb = np.isin(x_all, band_x)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inb.astype(int), [0]])))
        for s0, s1 in zip(edges[::2], edges[1::2], strict=True):
            ax.axvspan(x_all[s0], x_all[s1 - 1], color=color, alpha=0.15, lw=0)
    for b in (1, 0):
        m = branch == b
        o = np.argsort(x[m])
        xb, yb = x[m][o], u[m][o]
        gaps = np.flatnonzero(np.diff(np.searchsorted(x_all, xb)) > 1)
        ax.plot(np.insert(xb, gaps + 1, np.nan), np.insert(yb, gaps + 1, np.nan), color=color, lw=1.3)
