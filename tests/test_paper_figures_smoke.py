"""Every figure renders at the tiny preset: PNG, PDF and a CSV with the declared columns and finite values."""

import numpy as np
import pytest

from paper_figures import registry
from paper_figures.__main__ import main
from paper_figures.data import read_csv


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
