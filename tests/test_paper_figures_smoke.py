"""Every figure renders at the tiny preset: PNG, PDF and a CSV with the declared columns and finite values; and
``--redraw`` draws every figure again from those CSVs alone."""

import importlib.util
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import numerics
from paper_figures import registry
from paper_figures.__main__ import main
from paper_figures.data import read_csv, read_meta

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    code = main(["--out", str(out), "--preset", "tiny"])
    return out, code


def test_driver_succeeds(rendered):
    _, code = rendered
    assert code == 0


@pytest.mark.parametrize("name", registry.FIGURES)
def test_files_and_columns(rendered, name):
    out, _ = rendered
    for ext in ("png", "pdf", "csv"):
        path = out / f"{name}.{ext}"
        assert path.exists() and path.stat().st_size > 0, path
    data = read_csv(out / f"{name}.csv")
    assert list(data) == list(registry.module(name).COLUMNS)
    assert read_meta(out / f"{name}.csv"), "the drawing's parameters are in the CSV header"
    assert all(len(col) > 0 for col in data.values())
    # A figure may declare columns where NaN means "not applicable" (e.g. no error bar for a theory row).
    nan_ok = set(getattr(registry.module(name), "NAN_COLUMNS", ()))
    for col_name, col in data.items():
        if col.dtype.kind == "f":
            assert not np.any(np.isinf(col)), col_name
            if col_name in nan_ok:
                assert np.any(np.isfinite(col)), col_name
            else:
                assert np.all(np.isfinite(col)), col_name


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--only", "no_such_figure"])
    assert exc.value.code == 2


def test_no_temporary_files_left(rendered):
    out, _ = rendered
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def _copy_csvs(src, dst, names):
    for name in names:
        shutil.copy(src / f"{name}.csv", dst / f"{name}.csv")


def test_redraw_uses_only_the_csvs(rendered, tmp_path, monkeypatch):
    out, _ = rendered
    _copy_csvs(out, tmp_path, registry.FIGURES)

    def forbidden(*args, **kwargs):
        raise AssertionError("--redraw must not compute anything")

    for attr in ("run", "predict", "predict_binary"):
        monkeypatch.setattr(numerics, attr, forbidden)
    for name in registry.FIGURES:
        for attr in ("compute", "table", "make"):
            monkeypatch.setattr(registry.module(name), attr, forbidden)
    assert main(["--out", str(tmp_path), "--redraw"]) == 0
    for name in registry.FIGURES:
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE, name
        img = matplotlib.image.imread(png)
        assert img.ndim == 3 and min(img.shape[:2]) > 200, (name, img.shape)
        assert np.ptp(img[..., :3]) > 0.5, name  # not a blank canvas
        assert (tmp_path / f"{name}.pdf").read_bytes()[:5] == b"%PDF-", name
        # make drew its figure from the same CSV: the redrawn PNG is the same file
        assert png.read_bytes() == (out / f"{name}.png").read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.{ext}" for n in registry.FIGURES for ext in ("csv", "png", "pdf"))


def test_redraw_with_a_missing_csv_exits_2(rendered, tmp_path, capsys):
    out, _ = rendered
    present = [n for n in registry.FIGURES if n != "angle"]
    _copy_csvs(out, tmp_path, present)
    assert main(["--out", str(tmp_path), "--redraw"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "angle.csv") in err, err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.pdf"))  # nothing drawn
    # --only asks for the named figures' CSVs only
    assert main(["--out", str(tmp_path), "--redraw", "--only", "tradeoff"]) == 0
    assert (tmp_path / "tradeoff.png").exists() and not (tmp_path / "angle.png").exists()


@pytest.mark.parametrize("kind", ["file", "inside a file", "empty", "unwritable"])
def test_bad_out_exits_2_with_one_line_before_computing(tmp_path, monkeypatch, capsys, kind):
    import numerics._io

    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"file": str(afile), "inside a file": str(afile / "sub"), "empty": "", "unwritable": str(tmp_path)}[kind]
    if kind == "unwritable":  # as root a chmod would not stop the write: the permission query says no instead
        monkeypatch.setattr(numerics._io.os, "access", lambda path, mode: False)

    def forbidden(name):
        raise AssertionError("nothing may be computed when --out is bad")

    monkeypatch.setattr("paper_figures.__main__.module", forbidden)
    for extra in ([], ["--redraw"]):
        assert main(["--out", out, "--preset", "tiny", "--only", "tradeoff", *extra]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1, captured
        assert captured.err.startswith("python -m paper_figures: error: --out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_interrupted_drawing_leaves_the_previous_files_and_no_temporary_file(rendered, tmp_path, monkeypatch):
    out, _ = rendered
    _copy_csvs(out, tmp_path, ["tradeoff"])
    assert main(["--out", str(tmp_path), "--redraw", "--only", "tradeoff"]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["tradeoff.csv", "tradeoff.pdf", "tradeoff.png"]
    from matplotlib.figure import Figure

    real = Figure.savefig

    def interrupted(self, fname, **kwargs):  # the PNG is written in full, the PDF is cut midway
        if kwargs.get("format") == "pdf":
            Path(fname).write_bytes(before["tradeoff.pdf"][:100])
            raise KeyboardInterrupt
        return real(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["--out", str(tmp_path), "--redraw", "--only", "tradeoff"])
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(after) == sorted(before)  # no temporary file
    assert after["tradeoff.pdf"] == before["tradeoff.pdf"]  # the previous PDF, not a truncated one
    assert after["tradeoff.png"][:8] == PNG_SIGNATURE and after["tradeoff.csv"] == before["tradeoff.csv"]


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="the fused engine needs numba")
def test_fused_and_array_engines_give_the_same_figure_data(tmp_path, capsys, monkeypatch):
    """The driver runs the figures' RVSM on the fused engine where numba is installed: the thresholding map's limits
    (every point an RVSM run) equal the array engine's to the 1e-12 that the engines are held to (the CSV prints
    shortest round-trip floats), and the driver says which engine it used."""
    from numerics.engines import fused

    calls = []
    real = fused.run_fused
    monkeypatch.setattr(fused, "run_fused", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    for engine in ("array", "fused"):
        assert main(["--only", "thresholding_map", "--preset", "tiny", "--engine", engine,
                     "--out", str(tmp_path / engine)]) == 0
        assert f"(engine: {engine})" in capsys.readouterr().out
        if engine == "array":
            assert not calls
    assert calls, "the fused engine was never used"
    ref = read_csv(tmp_path / "array" / "thresholding_map.csv")
    got = read_csv(tmp_path / "fused" / "thresholding_map.csv")
    assert ref.keys() == got.keys()
    for col, values in ref.items():
        if values.dtype.kind == "f":
            np.testing.assert_allclose(got[col], values, rtol=1e-12, atol=1e-12, err_msg=col)
        else:
            np.testing.assert_array_equal(got[col], values, err_msg=col)
