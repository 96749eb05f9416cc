"""paper_figures.data and paper_figures.style.save: metadata written to and read back from the CSV header, exactly;
every file written atomically (an interrupted write leaves the previous file and no temporary file)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paper_figures import style
from paper_figures.data import atomic_path, read_csv, read_meta, write_csv

META = {"lam": 0.1, "tol": 1e-14, "pi": math.pi, "k": 4, "others": (2.0, -1.6), "a": None, "name": "tl1",
        "panels": [{"code": 2, "a": 1.0, "mu_c": 0.25}], "flag": True, "big": np.float64(1 / 3), "n": np.int64(7)}


def _write(path, meta=META):
    return write_csv(path, {"x": [1.0, 2.5], "n": [1, 2]}, {"x": "a value [1]", "n": "a count"}, title="T",
                     meta=meta)


def test_metadata_round_trip(tmp_path):
    p = _write(tmp_path / "f.csv")
    meta = read_meta(p)
    assert meta == {**META, "others": [2.0, -1.6], "big": 1 / 3, "n": 7}
    assert meta["big"] == 1 / 3 and meta["pi"] == math.pi  # floats exactly
    cols = read_csv(p)
    assert list(cols) == ["x", "n"] and cols["x"].tolist() == [1.0, 2.5]
    # the header stays "#" lines before the column row, for other readers
    n_comments = sum(1 for line in p.read_text().splitlines() if line.startswith("#"))
    arr = np.genfromtxt(p, delimiter=",", names=True, skip_header=n_comments)
    assert arr["x"].tolist() == [1.0, 2.5]
    assert read_meta(write_csv(tmp_path / "g.csv", {"x": [1]}, {"x": "x"})) == {}


def test_metadata_rejects_bad_keys_and_values(tmp_path):
    with pytest.raises(ValueError, match="identifiers"):
        _write(tmp_path / "f.csv", {"not a name": 1})
    with pytest.raises(ValueError, match="metadata values"):
        _write(tmp_path / "f.csv", {"obj": object()})


class _Boom:
    def __str__(self):
        raise RuntimeError("interrupted")


def test_write_csv_is_atomic(tmp_path):
    p = _write(tmp_path / "f.csv")
    before = p.read_bytes()
    with pytest.raises(RuntimeError, match="interrupted"):
        write_csv(p, {"x": [1.0, _Boom()]}, {"x": "x"})
    assert p.read_bytes() == before
    assert sorted(q.name for q in tmp_path.iterdir()) == ["f.csv"]


def test_atomic_path_replaces_only_on_success(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    with atomic_path(p) as tmp:
        assert tmp.parent == p.parent and tmp.name.startswith(".") and not p.exists()
        tmp.write_text("new")
    assert p.read_text() == "new"
    with pytest.raises(KeyError), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise KeyError("stop")
    assert p.read_text() == "new" and [q.name for q in p.parent.iterdir()] == ["a.txt"]


def test_style_save_is_atomic(tmp_path):
    fig, axes = style.new_figure()
    axes[0, 0].plot([0, 1], [0, 1])
    png, pdf = style.save(fig, tmp_path, "fig")
    before = png.read_bytes(), pdf.read_bytes()
    fig, _ = style.new_figure()

    def broken(path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    fig.savefig = broken
    with pytest.raises(OSError, match="disk full"):
        style.save(fig, tmp_path, "fig")
    assert (png.read_bytes(), pdf.read_bytes()) == before
    assert sorted(q.name for q in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]
