"""The figure set, in order. Each module ``paper_figures/<name>.py`` exposes

- ``PRESETS``: a dict ``{"tiny": {...}, "quick": {...}, "full": {...}}`` of the module's own sizes (trials, grid
  points, iterations); ``tiny`` is for the CI smoke test, ``quick`` (default) for everyday regeneration,
  ``full`` for publication;
- ``COLUMNS``: the CSV column names it writes (the smoke test checks them);
- ``make(out_dir: Path, preset: str = "quick") -> list[Path]``: computes the data, writes ``<name>.csv`` with a
  described header (:func:`paper_figures.data.write_csv`), draws with :mod:`paper_figures.style`, writes
  ``<name>.png`` and ``<name>.pdf``, and returns the written paths. Deterministic under its fixed seed.
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
)
PRESET_NAMES = ("tiny", "quick", "full")


def module(name: str) -> ModuleType:
    """The module of figure ``name`` (ValueError listing the known names otherwise)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    return importlib.import_module(f"{__package__}.{name}")
