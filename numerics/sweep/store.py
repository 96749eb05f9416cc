"""The results store of a sweep: a Zarr group that ``xarray.open_zarr(DIR)`` opens as a labelled dataset.

Layout (dimensions: the grid axes of :data:`numerics.sweep.spec.GRID_AXES`, then ``trial``, ``coord`` or ``block``):

- per trial (grid..., trial), chunks of ``(1, ..., 1, block)``: the variables of
  :data:`numerics.sweep.task.TRIAL_VARIABLES` and ``diverged``;
- per cell (grid...) or (grid..., coord), one chunk per cell: :data:`numerics.sweep.task.CELL_VARIABLES`;
- ``done`` (grid..., block), one chunk per task: set once the task's data are written.

Every task writes only its own chunks (chunk-aligned regions: no two tasks share a chunk, so concurrent writers
never touch one file), data first and ``done`` last; Zarr's local store writes every chunk file atomically (a
temporary file renamed into place). A task killed mid-way leaves ``done`` unset and is run again on the next
start, overwriting whatever it had written with the same numbers. The store's attributes hold the spec (canonical
JSON) and its SHA-256, the package versions and the git commit; a store made from another spec is refused.
The store is created under a temporary name beside ``DIR`` and renamed into place, so an interrupted creation
leaves nothing behind.

A resumed store is cleared of the temporary files of chunk writes a killed worker left behind.
The on-disk format is Zarr v2 (readable by zarr 2.18 and 3, and by xarray with either).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from numerics.sweep.plan import Task
from numerics.sweep.spec import GRID_AXES, SweepSpec, spec_from_json
from numerics.sweep.task import CELL_VARIABLES, TRIAL_VARIABLES

__all__ = ["StoreError", "create_or_open", "done_mask", "missing_tasks", "provenance", "write_task"]

#: Version of this layout (bumped when the variables or their meaning change).
LAYOUT_VERSION = 1
#: Per-trial variables written by every task: TRIAL_VARIABLES and the block's divergence flag.
ALL_TRIAL_VARIABLES = {**TRIAL_VARIABLES, "diverged": np.bool_}
_FILL = {np.float64: np.nan, np.bool_: False, np.int64: 0}


class StoreError(ValueError):
    """A store that cannot hold this sweep (another spec's store, a file in the way, not a sweep store)."""


def _zarr_format_kw() -> dict[str, Any]:
    import zarr

    return {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}


def provenance() -> dict[str, Any]:
    """Package versions and the git commit of the numerics source (None outside a git checkout; ``-dirty`` when
    its tracked files differ from the commit)."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0]}
    for dist in ("rvsm-toolkit", "numpy", "scipy", "dask", "distributed", "zarr", "xarray", "torch", "numba"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    src = Path(__file__).resolve().parents[2]
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src,
                                   capture_output=True, text=True, timeout=10)
            commit = head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    return {"versions": versions, "git_commit": commit}


def _template(spec: SweepSpec) -> tuple[Any, dict[str, Any]]:
    """The empty dataset (lazy dask arrays: nothing of the size of the results is allocated) and its encoding."""
    import dask.array as da
    import xarray as xr

    grid_dims, shape = GRID_AXES, spec.shape
    ones = (1,) * len(shape)
    data: dict[str, Any] = {}
    enc: dict[str, Any] = {}

    def add(name: str, dims: tuple[str, ...], full: tuple[int, ...], chunks: tuple[int, ...], dtype: Any) -> None:
        data[name] = (dims, da.full(full, _FILL[dtype], dtype=dtype, chunks=chunks))
        # NaN marks an unwritten float; integers and flags get no fill value (xarray would otherwise decode them
        # as masked floats): there ``done`` says whether a task's numbers are in the store
        enc[name] = {"chunks": chunks, "_FillValue": _FILL[dtype] if dtype is np.float64 else None}

    for name, dtype in ALL_TRIAL_VARIABLES.items():
        add(name, (*grid_dims, "trial"), (*shape, spec.trials), (*ones, spec.block), dtype)
    for name, (dtype, has_coord) in CELL_VARIABLES.items():
        if has_coord:
            add(name, (*grid_dims, "coord"), (*shape, spec.max_d), (*ones, spec.max_d), dtype)
        else:
            add(name, grid_dims, shape, ones, dtype)
    add("done", (*grid_dims, "block"), (*shape, spec.n_blocks), (*ones, 1), np.bool_)
    coords = {a: np.asarray(spec.grid[a]) for a in GRID_AXES}
    attrs = {"sweep_layout": LAYOUT_VERSION, "sweep_spec": spec.canonical_json(), "sweep_spec_sha256": spec.sha256,
             **{f"provenance_{k}": json.dumps(v, sort_keys=True) for k, v in provenance().items()}}
    return xr.Dataset(data, coords=coords, attrs=attrs), enc


def _stored_spec(path: Path) -> tuple[str, str] | None:
    """(sha256, canonical JSON) of the sweep stored at ``path``, or None when it is not a sweep store."""
    import zarr

    try:
        g = zarr.open_group(str(path), mode="r")
        return str(g.attrs["sweep_spec_sha256"]), str(g.attrs["sweep_spec"])
    except Exception:  # not a Zarr group, or not one of ours: reported by the caller with the path
        return None


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = []
    for table in ("sweep", "grid"):
        for key in sorted(set(old.get(table, {})) | set(new.get(table, {}))):
            if old.get(table, {}).get(key) != new.get(table, {}).get(key):
                keys.append(f"{table}.{key}")
    return keys


def create_or_open(spec: SweepSpec, path: str | os.PathLike) -> tuple[Path, bool]:
    """The store for ``spec`` at ``path``: created if absent (or an empty folder), reopened if it holds this spec.

    Returns
    -------
    (path, created)

    Raises
    ------
    StoreError
        When ``path`` is a file, a non-empty folder that is not a sweep store, or the store of another spec (the
        message lists the keys that differ).
    """
    p = Path(path).expanduser().absolute()
    if p.exists() and not p.is_dir():
        raise StoreError(f"argument --store: {str(path)!r} exists and is not a directory")
    if p.is_dir() and any(p.iterdir()):
        stored = _stored_spec(p)
        if stored is None:
            raise StoreError(f"argument --store: {str(path)!r} is a non-empty directory that is not a sweep store; "
                             "give a new or empty directory")
        sha, text = stored
        if sha != spec.sha256:
            try:
                diff = ", ".join(_differences(json.loads(text), spec.as_dict())) or "(unknown)"
            except ValueError:
                diff = "(unreadable stored spec)"
            raise StoreError(f"argument --store: {str(path)!r} holds a sweep of another spec (sha256 {sha[:12]}, this "
                             f"spec {spec.sha256[:12]}; differing keys: {diff}); use a new --store, or the spec the "
                             "store was made with to resume it")
        spec_from_json(text)  # the stored spec still validates (same code, same rules)
        _remove_partial_writes(p)
        return p, False
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{p.name}.", suffix=".creating"))
    except OSError as exc:
        raise StoreError(f"argument --store: cannot create {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        ds, enc = _template(spec)
        ds.to_zarr(str(tmp / "store"), compute=False, encoding=enc, mode="w-", consolidated=True, **_zarr_format_kw())
        if p.is_dir():
            p.rmdir()  # empty (checked above)
        os.replace(tmp / "store", p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p, True


def _remove_partial_writes(p: Path) -> None:
    """Remove the temporary files of chunk writes that a killed worker left (zarr names them ``*.partial``; the
    chunk itself was never replaced). Only one sweep client may use a store at a time."""
    for f in p.rglob("*.partial"):
        with contextlib.suppress(OSError):
            f.unlink()


@lru_cache(maxsize=8)
def _group(path: str, sha256: str) -> Any:
    """The store's group, opened once per process for a given spec: keyed by the spec's hash as well as the path, so
    a store removed and made again at the same path by another spec (another grid, another block) is opened anew
    instead of written through the old one's shapes and chunk grid; the hash it records is checked once."""
    import zarr

    g = zarr.open_group(path, mode="r+")
    if g.attrs.get("sweep_spec_sha256") != sha256:
        raise StoreError(f"{path}: the store belongs to another spec (sha256 {g.attrs.get('sweep_spec_sha256')}); "
                         f"this task's spec has {sha256}")
    return g


def done_mask(spec: SweepSpec, path: str | os.PathLike) -> np.ndarray:
    """Per task (task order, cell-major): whether its data are in the store."""
    import zarr

    g = zarr.open_group(str(path), mode="r")
    return np.asarray(g["done"][...], dtype=bool).reshape(spec.n_tasks)


def missing_tasks(spec: SweepSpec, path: str | os.PathLike) -> np.ndarray:
    """Indices of the tasks whose ``done`` flag is not set."""
    return np.flatnonzero(~done_mask(spec, path))


def write_task(spec: SweepSpec, path: str | os.PathLike, t: Task, trial: dict[str, np.ndarray],
               cell: dict[str, np.ndarray] | None) -> None:
    """Write the task's chunk-aligned region (its block of every per-trial variable, the per-cell variables for
    block 0), then set its ``done`` flag. The store must be the spec's (its recorded hash is checked)."""
    g = _group(str(Path(path)), spec.sha256)
    for name in ALL_TRIAL_VARIABLES:
        g[name][(*t.cell, slice(t.start, t.stop))] = trial[name]
    if cell is not None:
        for name, (_, has_coord) in CELL_VARIABLES.items():
            g[name][(*t.cell, slice(None)) if has_coord else t.cell] = cell[name]
    g["done"][(*t.cell, t.block)] = True
