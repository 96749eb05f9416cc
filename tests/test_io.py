"""The atomic-write and output-folder helpers (``numerics/_io.py``, and its copy ``theory/_io.py`` for ``theory``, which
imports nothing of ``numerics``): the two copies stay alike, a write replaces the file only when it finished, and a
bad ``--out`` is named in one line before anything is computed."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import numerics._io
import theory._io

ROOT = Path(__file__).resolve().parents[1]
MODULES = [numerics._io, theory._io]


def _code_without_docstring(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body
    return "\n".join(ast.unparse(node) for node in body)


def test_the_two_copies_are_alike():
    assert _code_without_docstring(ROOT / "numerics" / "_io.py") == _code_without_docstring(ROOT / "theory" / "_io.py")


@pytest.mark.parametrize("io", MODULES)
def test_atomic_path_replaces_only_when_the_write_finished(tmp_path, io):
    target = tmp_path / "new" / "r.md"
    with io.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".") and tmp.suffix == ".tmp"
        io.write_text(tmp, "first")
    assert target.read_text() == "first"
    with pytest.raises(KeyboardInterrupt), io.atomic_path(target) as tmp:
        io.write_text(tmp, "half of the sec")
        raise KeyboardInterrupt
    assert target.read_text() == "first" and [p.name for p in target.parent.iterdir()] == ["r.md"]


@pytest.mark.parametrize("io", MODULES)
def test_nested_atomic_paths_replace_neither_file_unless_both_were_written(tmp_path, io):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.write_text("old b")
    with pytest.raises(OSError, match="disk full"), io.atomic_path(a) as ta, io.atomic_path(b) as tb:
        io.write_text(ta, "new a")
        io.write_text(tb, "new")
        raise OSError("disk full")
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("io", MODULES)
def test_check_out_dir_accepts_folders_that_exist_or_can_be_made(tmp_path, io):
    assert io.check_out_dir(tmp_path) == tmp_path
    assert io.check_out_dir(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # nothing is created by the check


@pytest.mark.parametrize("io", MODULES)
def test_check_out_dir_names_the_problem_in_one_line(tmp_path, io, monkeypatch):
    afile = tmp_path / "f.csv"
    afile.write_text("x")
    cases = {"": "empty path", "  ": "empty path", str(afile): "is a file, not a folder",
             str(afile / "sub"): "is a file, so no folder can be made there"}
    for out, expected in cases.items():
        with pytest.raises(ValueError, match=expected) as exc:
            io.check_out_dir(out, "--out")
        assert "\n" not in str(exc.value) and str(exc.value).startswith("--out")
    monkeypatch.setattr(io.os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match="is not writable"):
        io.check_out_dir(tmp_path)
    with pytest.raises(ValueError, match=r"where it would be created\) is not writable"):
        io.check_out_dir(tmp_path / "new")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write into a read-only folder")
def test_check_out_dir_sees_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            numerics._io.check_out_dir(ro)
    finally:
        ro.chmod(0o700)
