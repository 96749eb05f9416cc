"""Sphinx configuration of the rvsm-toolkit documentation.

Build (warnings are errors, as in ``tests/test_docs.py``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Three things happen here besides the settings:

* the API page must document every name of ``numerics.__all__`` (a missing one is a Sphinx warning, so the ``-W``
  build fails until ``docs/api.rst`` lists it);
* the gallery page is completed at read time from ``paper_figures.registry.FIGURES``: one section per figure with its
  caption (the first line of the figure module's docstring) and the image ``paper_figures/out/<name>.png`` when it
  has been made (``python -m paper_figures``), otherwise a note saying how to make it. Nothing is written into the
  source tree, and the gallery is re-read on every build so that newly made figures appear;
* no network: no intersphinx, MathJax is only referenced by the HTML pages.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# -- project ---------------------------------------------------------------------------------------------------------
project = "rvsm-toolkit"
author = "the rvsm-toolkit authors"
copyright = "the rvsm-toolkit authors"
release = version = "0.1.0"

# -- general ---------------------------------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
exclude_patterns = ["_build"]
root_doc = "index"
language = "en"
default_role = "literal"  # `x` reads like ``x``, as in the project's docstrings
highlight_language = "python3"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc --------------------------------------------------------------------------------
autodoc_typehints = "none"  # the numpydoc sections carry the types; the annotations use internal aliases
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = True
autosummary_generate = False  # the API page lists its members explicitly: no stub files written into docs/
numpydoc_show_class_members = False  # members come from autodoc's :members: (no autosummary stubs)
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- HTML ------------------------------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = "rvsm-toolkit"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Relaxed variable splitting for sparse one-hidden-layer CNNs: derive, check, reproduce",
    "page_width": "1100px",
    "body_max_width": "none",
}

# ----------------------------------------------------------------------------------------------------------------------
# The API page covers numerics.__all__
# ----------------------------------------------------------------------------------------------------------------------
_API_DIRECTIVE = re.compile(r"^\.\. auto(?:class|function|exception|data)::\s+numerics\.(\w+)\s*$", re.M)


def documented_public_names(api_rst: Path = DOCS / "api.rst") -> set[str]:
    """The names ``numerics.<name>`` that ``api.rst`` documents with an autodoc directive."""
    return set(_API_DIRECTIVE.findall(api_rst.read_text(encoding="utf-8")))


def _check_api_coverage(app) -> None:
    from sphinx.util import logging

    import numerics

    missing = sorted(set(numerics.__all__) - documented_public_names())
    if missing:
        logging.getLogger(__name__).warning(
            "docs/api.rst does not document these names of numerics.__all__: %s", ", ".join(missing))


# ----------------------------------------------------------------------------------------------------------------------
# The gallery
# ----------------------------------------------------------------------------------------------------------------------
FIGURE_DIR = ROOT / "paper_figures"
#: where the made figures are; RVSM_DOCS_FIGURES overrides it (tests/test_docs.py builds a gallery from a temporary one)
FIGURE_OUT = Path(os.environ.get("RVSM_DOCS_FIGURES", FIGURE_DIR / "out")).resolve()


def figure_names() -> list[str]:
    """The figures in the order of ``paper_figures.registry.FIGURES`` (names, or objects with a ``name``)."""
    from paper_figures import registry

    return [entry if isinstance(entry, str) else entry.name for entry in registry.FIGURES]


def figure_caption(name: str) -> str:
    """The first line of the figure module's docstring, without its ``Figure ``name``:`` prefix.

    The module is parsed, not imported (no matplotlib, no computation).
    """
    path = FIGURE_DIR / f"{name}.py"
    if not path.exists():
        path = FIGURE_DIR / name / "__init__.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else name
    first = re.sub(r"^Figure\s+``[^`]*``\s*:\s*", "", first)
    return first[:1].upper() + first[1:]


def gallery_rst(out_dir: Path = FIGURE_OUT) -> str:
    """reStructuredText of every figure: image and caption where the PNG exists, a note where it does not."""
    parts = []
    for name in figure_names():
        caption = figure_caption(name)
        png, csv = out_dir / f"{name}.png", out_dir / f"{name}.csv"
        # relative to docs/ (the directory of gallery.rst): a leading "/" would mean the source directory to Sphinx
        png_ref, csv_ref = (Path(os.path.relpath(p, DOCS)).as_posix() for p in (png, csv))
        title = f"``{name}``"
        parts += [title, "-" * len(title), ""]
        if png.exists():
            parts += [f".. figure:: {png_ref}", "   :width: 100%", f"   :alt: figure {name}", "",
                      f"   {caption}", ""]
        else:
            parts += [caption, "", ".. note::", "",
                      f"   This figure has not been made yet: ``python -m paper_figures --only {name}`` writes "
                      f"``paper_figures/out/{name}.png``, then rebuild the documentation.", ""]
        data = (f"Data: :download:`{name}.csv <{csv_ref}>` (its ``#`` header describes each column). "
                if csv.exists() else "")
        parts += [f"{data}Code: ``paper_figures/{name}.py``.", ""]
    return "\n".join(parts) + "\n"


def _fill_gallery(app, docname: str, source: list[str]) -> None:
    if docname == "gallery":
        source[0] = source[0].rstrip() + "\n\n" + gallery_rst() + "\n"


def _gallery_always_outdated(app, env, added, changed, removed) -> list[str]:
    return ["gallery"] if "gallery" in env.found_docs else []


def setup(app) -> dict:
    app.connect("builder-inited", _check_api_coverage)
    app.connect("source-read", _fill_gallery)
    app.connect("env-get-outdated", _gallery_always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
