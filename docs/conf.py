"""Sphinx configuration: the pages in this folder (Markdown, through MyST) and the API reference generated
from the docstrings (autodoc with numpydoc). Build: ``python -m sphinx -W -b html docs docs/_build``."""

import re

from wgf._version import __version__

project = "wgf"
author = "The wgf developers"
copyright = "2026, the wgf developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"
html_theme = "alabaster"
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # pages number their sections (§1 ...) rather than nest them strictly

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings state the shapes and types
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# The docstrings write their formulas in plain text (|z|^2, sigma_*(x, z), P_E#nu): reST would read
# |...| as substitutions, * as emphasis and name_ as a link. Outside literal blocks these characters are
# escaped, so every docstring renders as written.
_LITERAL = re.compile(r"::\s*$")
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?!\w)")


def _escape(line: str, in_table: bool = False) -> str:
    parts = re.split(r"(``.*?``)", line)  # keep inline literals as they are
    for i in range(0, len(parts), 2):
        if in_table:  # same-width look-alikes keep a simple table's columns where they are
            parts[i] = parts[i].replace("|", "\u2223").replace("*", "\u2217")
        else:
            part = parts[i].replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
            parts[i] = _TRAILING_UNDERSCORE.sub(r"\\_", part)
    return "".join(parts)


_TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _plain_text_math(app, what, name, obj, options, lines):
    literal_indent, borders = None, 0
    for k, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if _TABLE_BORDER.match(line):
            borders = (borders + 1) % 3  # a simple table has three borders: top, below the header, bottom
            continue
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        lines[k] = _escape(line, in_table=borders > 0)
        if _LITERAL.search(line):
            literal_indent = indent


def setup(app):
    app.connect("autodoc-process-docstring", _plain_text_math, priority=400)
