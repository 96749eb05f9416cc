"""The documentation builds without a single warning, documents every public name of numerics, and has a gallery
entry (image or note) for every registered figure.

sphinx and numpydoc are part of the test extra (``pip install -e '.[test]'``); when they are missing the test fails
with that hint rather than skipping, so a CI run cannot pass without building the docs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _figure_names() -> list[str]:
    from paper_figures import registry

    return [entry if isinstance(entry, str) else entry.name for entry in registry.FIGURES]


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    idat = zlib.compress(b"\x00\x80")  # filter byte 0, one grey pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    missing = [m for m in ("sphinx", "numpydoc") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: they are part of the test extra; install with "
                    "pip install -e '.[test]' (or '.[docs]')")
    tmp = tmp_path_factory.mktemp("docs")
    html = tmp / "html"
    # a figures folder where only the first figure has been made: the gallery shows its image and a note for the rest
    figures = tmp / "figures"
    figures.mkdir()
    made = _figure_names()[0]
    (figures / f"{made}.png").write_bytes(_png_1x1())
    (figures / f"{made}.csv").write_text("# stand-in\nx\n1\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-d", str(tmp / "doctrees"),
           str(DOCS), str(html)]
    env = {**os.environ, "RVSM_DOCS_FIGURES": str(figures)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    return proc, html, made


def test_build_is_warning_free(built):
    proc, html, _ = built
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    for page in ("index", "theory", "api", "gallery", "contributing"):
        assert (html / f"{page}.html").is_file(), page


def test_api_page_documents_numerics_all(built):
    import numerics

    proc, html, _ = built
    assert proc.returncode == 0, proc.stderr[-4000:]
    page = (html / "api.html").read_text(encoding="utf-8")
    undocumented = [name for name in numerics.__all__ if f'id="numerics.{name}"' not in page]
    assert not undocumented, undocumented


def test_gallery_shows_made_figures_and_notes_the_others(built):
    proc, html, made = built
    assert proc.returncode == 0, proc.stderr[-4000:]
    page = (html / "gallery.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)  # literals are split into one span per word
    assert re.search(rf'<img[^>]+src="_images/{re.escape(made)}\.png"', page), made
    assert (html / "_images" / f"{made}.png").is_file()
    assert f"{made}.csv" in text  # the data download
    assert f"--only {made} " not in text
    for name in _figure_names()[1:]:
        assert f"--only {name} writes" in text, name  # the note says how to make it
        assert f'src="_images/{name}.png"' not in page, name
