"""Sphinx configuration of Aura's site: ``make docs`` (HTML) and ``make doctest`` (its examples).

Built with warnings as errors and without network access (no intersphinx). The reference pages
are generated from the code by the local extension ``_ext/aura_reference.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The reference platform (contracts, modules, app) is imported from the checkout, not installed.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import aura  # noqa: E402  # after the checkout is on sys.path

project = "Aura"
author = "The Aura authors"
copyright = "the Aura authors"  # Sphinx's name for it
release = version = aura.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "aura_reference",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
# docs/architecture/ is Markdown written by `aura docs`; the tutorial's project is code, shown
# with literalinclude; _ext is the local extension.
exclude_patterns = ["_build", "_ext", "architecture/**", "tutorial/bookshop/**", "**/.*"]
templates_path: list[str] = []

html_theme = "alabaster"
html_theme_options = {
    "description": "A framework and pytest harness for Python modular monoliths.",
    "fixed_sidebar": True,
}
html_title = f"Aura {release}"

# --- cross-references: every reference to Aura must resolve ---------------------------------------
nitpicky = True
nitpick_ignore_regex = [
    # The standard library, pydantic, pytest, FastAPI, import-linter, ... are not documented here
    # (no intersphinx: the build has no network). Aura's own names must all resolve.
    (r"py:.*", r"(?!aura\b).*"),
    # Type variables and aliases that exist only for the type checker.
    (r"py:.*", r"aura\.\w+(\.\w+)*\.([A-Z]|Key|Lifetime|Handler|CompletionMode|Params)"),
]

# --- autodoc --------------------------------------------------------------------------------------
# Each directive says `:members:` itself: with a default for it, Sphinx 9 ignores a directive's
# own list of members.
autodoc_default_options = {"member-order": "bysource"}
autoclass_content = "both"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
python_use_unqualified_type_names = True

# Every name in the __all__ of these modules must be documented, under one of them; see
# _ext/aura_reference.py.
aura_api_modules = [
    "aura",
    "aura.exceptions",
    "aura.config",
    "aura.testing",
    "aura.testing.factories",
    "aura.web",
]
aura_api_objects = ["aura.architecture.contracts.ModuleDependencyContract"]
# reference/modules.rst documents every other module of aura, except these: the pytest plugins
# have pages of their own, and importing aura.__main__ runs the command line.
aura_modules_elsewhere = [
    "aura.__main__",
    "aura.testing.plugin",
    "aura.testing.bdd",
    "aura.architecture.pytest_plugin",
]

# --- doctest --------------------------------------------------------------------------------------
doctest_global_setup = """
import logging

import aura

# A failing handler is logged with its traceback; the examples show dead letters instead.
logging.getLogger("aura").addHandler(logging.NullHandler())
"""
doctest_test_doctest_blocks = ""  # only the explicit doctest / testcode blocks run


# --- the specification ----------------------------------------------------------------------------
# docs/specification.rst is the seed's page byte for byte (a test compares it with the shared
# copy). Three of its section titles have adornments shorter than their text, which docutils
# reports as warnings; as the build turns warnings into errors, they are lengthened while Sphinx
# reads that one document. The file itself is not changed, and no warning is silenced.
SPECIFICATION = "specification"
_ADORNMENT = re.compile(r"([=\-~^\"'`#*+])\1{2,}")


def lengthen_adornments(text: str) -> str:
    """Return ``text`` with each section title's over- and underline as long as the title."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not _ADORNMENT.fullmatch(line) or index == 0:
            continue
        title = lines[index - 1]
        if not title.strip() or title[0].isspace() or _ADORNMENT.fullmatch(title):
            continue
        width = len(title.rstrip())
        if len(line) < width:
            lines[index] = line[0] * width
            over = index - 2
            if over >= 0 and lines[over][:1] == line[0] and _ADORNMENT.fullmatch(lines[over]):
                lines[over] = line[0] * width
    return "\n".join(lines)


def read_specification(app: Any, docname: str, source: list[str]) -> None:
    """``source-read`` handler: fix the specification's title adornments in memory only."""
    if docname == SPECIFICATION:
        source[0] = lengthen_adornments(source[0])


def setup(app: Any) -> None:
    """Connect the specification's reader."""
    app.connect("source-read", read_specification)
