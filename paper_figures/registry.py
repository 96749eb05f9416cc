"""The figure set, in order. Each module ``paper_figures/<name>.py`` exposes

- ``PRESETS``: a dict ``{"tiny": {...}, "quick": {...}, "full": {...}}`` of the module's own sizes (trials, grid
  points, iterations); ``tiny`` is for the CI smoke test, ``quick`` (default) for everyday regeneration,
  ``full`` for publication;
- ``COLUMNS``: the CSV column names it writes (the smoke test checks them);
- ``compute(out_dir: Path, preset: str = "quick") -> Path``: runs the simulation and writes ``<name>.csv`` with a
  described header (:func:`paper_figures.data.write_csv`): the columns, and as ``# @key`` metadata lines every
  parameter, predicted value and reference value that the drawing needs. Deterministic under its fixed seed;
- ``draw(csv_path: Path, out_dir: Path) -> list[Path]``: reads only that CSV (:func:`paper_figures.data.read_csv`,
  :func:`paper_figures.data.read_meta`; nothing is recomputed), draws with :mod:`paper_figures.style` and writes
  ``<name>.png`` and ``<name>.pdf``; returns their paths (``python -m paper_figures --redraw``);
- ``make(out_dir: Path, preset: str = "quick") -> list[Path]``: ``compute`` then ``draw``; returns the CSV, PNG and
  PDF paths.

Every file is written atomically (a temporary name in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

FIGURES: tuple[str, ...] = (
    "population_loss",
    "convergence",
    "thresholding_map",
    "tradeoff",
    "learnability",
    "angle",
    "l0_hysteresis",
    "finite_sample",
    "binary_coarse_gradient",
    "pareto_front",
    "real_data_tradeoff",
    "phase_diagram",
)
PRESET_NAMES = ("tiny", "quick", "full")


def module(name: str) -> ModuleType:
    """The module of figure ``name`` (ValueError listing the known names otherwise)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    return importlib.import_module(f"{__package__}.{name}")
