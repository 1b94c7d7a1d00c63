"""Sphinx configuration: the pages in this folder (Markdown through MyST, the tutorial notebook
through MyST-NB with its stored outputs), the gallery of examples (``python docs/gallery.py``) and
the API reference generated from the docstrings (autosummary, one page per module, with numpydoc).
Mathematics is LaTeX, rendered by MathJax: ``$...$`` and ``$$...$$`` in the pages, ``:math:`` and
``.. math::`` in the docstrings. Build: ``python -m sphinx -W -b html docs docs/_build``."""

import importlib
import re
from pathlib import Path

from wgf._version import __version__

project = "wgf"
author = "The wgf developers"
copyright = "2026, the wgf developers"
release = version = __version__

extensions = [
    "myst_nb",  # MyST Markdown pages and notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "api/generated/*.md"]
templates_path = ["_templates"]
root_doc = "index"
suppress_warnings = [
    "myst.header",  # pages number their sections (§1 ...) rather than nest them strictly
    "config.cache",  # autosummary_context holds a function (module_members): the environment is rebuilt
]

# MyST: $...$ and $$...$$ mathematics, amsmath environments (aligned, ...), anchors for headings
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
myst_heading_anchors = 3

# The notebook is stored with its outputs (tests/test_tutorial.py checks it); the build does not run it.
nb_execution_mode = "off"

html_theme = "pydata_sphinx_theme"
html_title = f"wgf {version}"
html_static_path = ["_static"]
html_css_files = ["wide.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"gallery": [], "changelog": []}

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings state the shapes and types
autosummary_generate = True  # docs/api/generated/<module>.rst, written at every build
autosummary_imported_members = False
autosummary_ignore_module_all = False  # a module page documents its __all__
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# The packages whose top re-exports names (``wgf.open_results`` is ``wgf.io.open_results``): their pages
# list every name of ``__all__`` with the module that defines and documents it (_package_pages).
PACKAGES = ("wgf", "wgf.grids", "wgf.particles", "wgf.validation")
_HERE = Path(__file__).parent
GENERATED = _HERE / "api" / "generated"


def defining_module(package: str, name: str) -> str:
    """The module that defines and documents the public name ``package.name``: a class's or function's
    ``__module__``; for other values (registries, constants) the submodule whose ``__all__`` holds the
    same object; the package itself when none does."""
    value = getattr(importlib.import_module(package), name)
    if isinstance(value, type(importlib)):  # a module re-exported as an attribute
        return value.__name__
    module = getattr(value, "__module__", None) if callable(value) else None
    if module and module.startswith(package.split(".")[0]) and name in getattr(
            importlib.import_module(module), "__all__", ()):
        return module
    for candidate in _submodules(package):
        found = importlib.import_module(candidate)
        if name in getattr(found, "__all__", ()) and getattr(found, name, None) is value:
            return candidate
    return module or package


def _submodules(package: str) -> list:
    root = Path(importlib.import_module(package).__file__).parent
    return [f"{package}.{p.stem}" for p in sorted(root.glob("*.py")) if not p.stem.startswith("_")]


def module_members(fullname: str) -> list:
    """(directive, name) for every name of a module's ``__all__``, in that order: ``autoclass`` for classes
    and exceptions, ``autofunction`` for other callables (numba dispatchers too), ``autodata`` for values
    (registries, constants), so that every public name has its entry on the module's page."""
    module = importlib.import_module(fullname)
    entries = []
    for name in getattr(module, "__all__", ()):
        value = getattr(module, name)
        if isinstance(value, type):
            entries.append(("autoclass", name))
        elif callable(value):
            entries.append(("autofunction", name))
        elif not isinstance(value, type(importlib)):
            entries.append(("autodata", name))
    return entries


autosummary_context = {"module_members": module_members}


def _package_page(package: str) -> str:
    """reST of the page of a package's top: its docstring and a table of ``__all__``, each name linked
    to its entry in the page of the module that defines it."""
    module = importlib.import_module(package)
    title = f"``{package}``: the names at the top"
    lines = [title, "=" * len(title), "", f".. py:module:: {package}", ""]
    doc = (module.__doc__ or "").strip()
    lines += [doc, "", f"``import {package}`` gives these names (``{package}.__all__``):", "",
              ".. list-table::", "   :header-rows: 1", "   :widths: 30 70", "",
              "   * - name", "     - defined and documented in"]
    for name in module.__all__:
        if name.startswith("__"):
            continue
        home = defining_module(package, name)
        target = f":py:obj:`{package}.{name} <{home}.{name}>`" if home != package else f"``{package}.{name}``"
        lines += [f"   * - {target}", f"     - :py:mod:`{home}`"]
    return "\n".join(lines) + "\n"


def _package_pages(app):
    GENERATED.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        path = GENERATED / f"{package}.top.rst"
        text = _package_page(package)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


# Docstrings write LaTeX in :math:`...` roles and ``.. math::`` blocks, which are left as they are.
# Some still write formulas in plain text (|z|^2, P_E#nu): reST would read |...| as substitutions,
# * as emphasis and name_ as a link. Outside literal blocks, roles and inline literals these characters
# are escaped, so such a docstring renders as written.
_LITERAL = re.compile(r"::\s*$")
_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::")  # a directive (``.. math::``) and its indented body
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?!\w)")
_VERBATIM = re.compile(r"(``.*?``|:[\w:.-]+:`[^`]*`)")  # inline literals and roles (:math:`\|x\|^2`)


def _escape(line: str, in_table: bool = False) -> str:
    parts = _VERBATIM.split(line)
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
        if _DIRECTIVE.match(line):
            literal_indent = indent
            continue
        bullet = re.match(r"\s*\* ", line) if borders == 0 else None  # a "* " list item keeps its marker
        cut = bullet.end() if bullet else 0
        lines[k] = line[:cut] + _escape(line[cut:], in_table=borders > 0)
        if _LITERAL.search(line):
            literal_indent = indent


def setup(app):
    app.connect("builder-inited", _package_pages)
    app.connect("autodoc-process-docstring", _plain_text_math, priority=400)
