"""The data behind a figure: a CSV whose header says what each column is and holds the figure's parameters.

Format: lines starting with ``#`` describe the figure (``# title``), hold its metadata (``# @key = <JSON value>``,
one line per key: the parameters, predicted values and reference values that the drawing needs beside the columns)
and describe each column (``# column: description [unit]``), then one ordinary CSV header row and the rows.
``pandas.read_csv(path, comment="#")`` or ``numpy.genfromtxt(path, delimiter=",", names=True, skip_header=n)`` with
``n`` the number of leading ``#`` lines read the table back (``genfromtxt`` with ``comments="#"`` would take its
names from the first comment line); :func:`read_csv` and :func:`read_meta` read the columns and the metadata.

Every file of a figure is written atomically (:func:`atomic_path`, from :mod:`numerics._io`, shared with the other
commands that write): a reader never sees a half-written CSV, PNG or PDF, and an interrupted run leaves the previous
file in place.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from numerics._io import atomic_path

__all__ = ["atomic_path", "read_csv", "read_meta", "write_csv"]

#: prefix of a metadata line (after "# ")
_META = "@"


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if v is None or isinstance(v, str):
        return v
    raise ValueError(f"metadata values must be numbers, strings, None, or lists / dicts of them; got {type(v)}")


def write_csv(path: Path, columns: Mapping[str, Sequence], descriptions: Mapping[str, str], *,
              title: str = "", meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``columns`` (equal-length sequences) to ``path`` with a commented header describing each column.

    ``meta`` (optional) is written as ``# @key = <JSON>`` lines and read back by :func:`read_meta`: numbers (floats
    exactly, by their shortest repr), strings, None, and lists or dicts of them (tuples come back as lists). The
    file is written atomically (:func:`atomic_path`).

    Raises
    ------
    ValueError
        If a column has no description, the columns differ in length, or a metadata key is not a plain name.
    """
    names = list(columns)
    missing = [n for n in names if n not in descriptions]
    if missing:
        raise ValueError(f"columns without a description: {missing}")
    lengths = {n: len(columns[n]) for n in names}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns differ in length: {lengths}")
    meta_lines = []
    for key, value in (meta or {}).items():
        if not key.isidentifier():
            raise ValueError(f"metadata keys must be identifiers; got {key!r}")
        meta_lines.append(f"# {_META}{key} = {json.dumps(_jsonable(value), allow_nan=True)}\n")
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        if title:
            fh.write(f"# {title}\n")
        fh.writelines(meta_lines)
        for n in names:
            fh.write(f"# {n}: {descriptions[n]}\n")
        writer = csv.writer(fh)
        writer.writerow(names)
        rows = zip(*(columns[n] for n in names), strict=True)
        for row in rows:
            writer.writerow([_fmt(v) for v in row])
    return path


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def read_csv(path: Path) -> dict[str, np.ndarray]:
    """Read a CSV written by :func:`write_csv` into a dict of column arrays (numeric where possible)."""
    with Path(path).open(encoding="utf-8") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    reader = csv.reader(lines)
    header = next(reader)
    rows = list(reader)
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        col = [r[j] for r in rows]
        try:
            out[name] = np.asarray([float(c) for c in col])
        except ValueError:
            out[name] = np.asarray(col)
    return out


def read_meta(path: Path) -> dict[str, Any]:
    """The metadata of a CSV written by :func:`write_csv` (``meta=``): a dict of JSON values, empty if none."""
    out: dict[str, Any] = {}
    prefix = f"# {_META}"
    with Path(path).open(encoding="utf-8") as fh:
        for ln in fh:
            if not ln.startswith("#"):
                break
            if ln.startswith(prefix):
                key, sep, value = ln[len(prefix):].partition(" = ")
                if not sep:
                    raise ValueError(f"{path}: malformed metadata line {ln.rstrip()!r}")
                out[key] = json.loads(value)
    return out
