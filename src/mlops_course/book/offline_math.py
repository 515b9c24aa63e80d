"""Sphinx extension: serve MathJax from the built book instead of a CDN.

Jupyter Book 1.x loads MathJax from the internet when a page is viewed; the
course must render offline, so the book ships the copy of MathJax 3 that the
`django-static-mathjax` package carries (plain static files).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx

MATHJAX_SCRIPT = "tex-mml-chtml.js"
TARGET = "_static/mathjax"


def mathjax_source() -> Path:
    import mathjax  # the django-static-mathjax package

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def use_local_mathjax(app: Sphinx, config) -> None:
    config.mathjax_path = f"mathjax/{MATHJAX_SCRIPT}"


def copy_mathjax(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / TARGET
    if not (target / MATHJAX_SCRIPT).exists():
        shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", use_local_mathjax, priority=900)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
