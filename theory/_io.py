"""Files that are never half-written, and an output folder checked before any derivation runs (``python -m theory``).

The same few lines as ``numerics/_io.py`` (used by ``numerics``, ``paper_figures`` and ``benchmarks``): ``theory`` and
``numerics`` import nothing of each other, so ``theory`` keeps its own copy; keep the two alike.
:func:`atomic_path` gives a temporary name beside the target, moved onto the final name with ``os.replace`` only when
the writer finished; :func:`check_out_dir` says why ``--out`` cannot take the report before anything is derived.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "check_out_dir", "write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name in the folder of ``path`` to write to; on success it replaces ``path`` (``os.replace``).

    On any exception (``KeyboardInterrupt`` included) the temporary file is removed and ``path`` is left as it was.
    The folder is created if needed. The temporary name starts with a dot and ends in ``.tmp`` (so a writer that
    infers the format from the suffix must be told the format). Nest two of them to replace two files together:
    neither is replaced unless both writes finished.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 (the plain write used inside :func:`atomic_path`)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def check_out_dir(out: str | os.PathLike, option: str = "--out") -> Path:
    """``out`` as a ``Path`` if files can be written into it (it is a writable folder, or can be created as one).

    Nothing is created. Call it before computing, so that a bad folder costs nothing.

    Raises
    ------
    ValueError
        One line naming ``option`` and ``out``: the name is empty, ``out`` (or a part of its path) is a file, or the
        folder (or, if it does not exist yet, its nearest existing parent) is not writable.
    """
    text = os.fspath(out)
    if not text.strip():
        raise ValueError(f"{option} must name a folder; got an empty path")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {text}: is a file, not a folder")
    probe = path
    while not probe.exists():  # the nearest existing ancestor is where the folder would be created
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{option} {text}: {probe} is a file, so no folder can be made there")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "folder" if probe == path else f"folder {probe} (where it would be created)"
        raise ValueError(f"{option} {text}: the {what} is not writable")
    return path
