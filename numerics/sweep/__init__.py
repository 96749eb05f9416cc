"""Parameter sweeps of RVSM on Dask into a resumable Zarr store (``python -m numerics sweep SPEC --store DIR``).

>>> from numerics.sweep import load_spec, run_sweep, example_spec  # doctest: +SKIP
>>> summary = run_sweep(load_spec(example_spec("tiny")), "tiny.zarr")  # doctest: +SKIP
>>> import xarray as xr; ds = xr.open_zarr("tiny.zarr")  # doctest: +SKIP

The pieces: :mod:`~numerics.sweep.spec` (the TOML spec, validated once), :mod:`~numerics.sweep.plan` (tasks and
their seeds), :mod:`~numerics.sweep.task` (one batched engine call per task), :mod:`~numerics.sweep.store` (the
Zarr layout, the ``done`` mask), :mod:`~numerics.sweep.runner` (Dask, progress, summary) and
:mod:`~numerics.sweep.command` (the ``sweep`` subcommand). Dask, Zarr and xarray are imported only when a sweep
runs or a store is made (the ``sweep`` extra).
"""

from __future__ import annotations

from pathlib import Path

from numerics.sweep.runner import SweepSummary, run_sweep
from numerics.sweep.spec import GRID_AXES, SpecError, SweepSpec, load_spec, parse_spec
from numerics.sweep.store import StoreError

__all__ = ["GRID_AXES", "SPECS", "SpecError", "StoreError", "SweepSpec", "SweepSummary", "example_spec", "load_spec",
           "parse_spec", "run_sweep"]

#: Folder of the example specs shipped with the package.
SPECS = Path(__file__).resolve().parent / "specs"


def example_spec(name: str) -> Path:
    """Path of a shipped example spec: ``"tiny"`` (a minute or less on two cores) or ``"phase_diagram"``."""
    path = SPECS / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SPECS.glob("*.toml")))
        raise ValueError(f"unknown example spec {name!r}; known: {known}")
    return path
