"""The data behind a figure: a CSV whose header says what each column is.

Format: lines starting with ``#`` describe the figure and each column (``# column: description [unit]``), then one
ordinary CSV header row and the rows. ``numpy.genfromtxt(path, delimiter=",", names=True, comments="#")`` or
``pandas.read_csv(path, comment="#")`` read it back.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def write_csv(path: Path, columns: Mapping[str, Sequence], descriptions: Mapping[str, str], *,
              title: str = "") -> Path:
    """Write ``columns`` (equal-length sequences) to ``path`` with a commented header describing each column.

    Raises
    ------
    ValueError
        If a column has no description or the columns differ in length.
    """
    names = list(columns)
    missing = [n for n in names if n not in descriptions]
    if missing:
        raise ValueError(f"columns without a description: {missing}")
    lengths = {n: len(columns[n]) for n in names}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns differ in length: {lengths}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        if title:
            fh.write(f"# {title}\n")
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
