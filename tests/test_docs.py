"""The documentation site's sources (docs/): the API reference covers every public name, the gallery page is
what docs/gallery.py generates, the tutorial is stored with its outputs, and the mathematics of the pages
is LaTeX (no plain-text formula that Markdown would turn into emphasis). Cheap: no Sphinx build (CI builds
the site with -W, .ci/run, and checks its HTML with ``python docs/check_html.py``)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import conf  # noqa: E402  (docs/conf.py: the package tops and where their names are documented)
import gallery  # noqa: E402


def _api_modules() -> list[str]:
    """The modules docs/api.md lists in its autosummary tables."""
    text = (DOCS / "api.md").read_text()
    return re.findall(r"^   (wgf(?:\.\w+)+)$", text, flags=re.M)


def test_every_public_module_has_an_api_page():
    listed = set(_api_modules())
    public = set()
    for package in conf.PACKAGES:
        module = importlib.import_module(package)
        public |= {f"{package}.{m.name}" for m in pkgutil.iter_modules(module.__path__)
                   if not m.name.startswith("_") and not m.ispkg}
    assert public - listed == set(), f"modules without an API page (add them to docs/api.md): {public - listed}"
    assert listed - public == set(), f"docs/api.md lists modules that do not exist: {listed - public}"


@pytest.mark.parametrize("package", conf.PACKAGES)
def test_every_name_of_a_package_top_is_documented_where_it_is_defined(package):
    """A name the package top re-exports (``wgf.open_results``) is in the ``__all__`` of a module that has
    an API page, so autodoc writes its entry there and the package's page links to it."""
    modules = set(_api_modules())
    missing = {}
    for name in importlib.import_module(package).__all__:
        if name.startswith("__"):
            continue
        home = conf.defining_module(package, name)
        if home not in modules or name not in importlib.import_module(home).__all__:
            missing[name] = home
    assert missing == {}, f"{package}: names with no reference entry (name: module): {missing}"


def test_open_results_has_a_reference_entry():
    assert conf.defining_module("wgf", "open_results") == "wgf.io"
    assert "open_results" in importlib.import_module("wgf.io").__all__
    page = conf._package_page("wgf")
    assert ":py:obj:`wgf.open_results <wgf.io.open_results>`" in page


def test_gallery_page_is_generated_from_the_examples():
    result = subprocess.run([sys.executable, str(DOCS / "gallery.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    page = (DOCS / "gallery.md").read_text()
    for path in gallery.examples():
        assert f"`examples/{path.name}`" in page
    assert page.count("\n## ") == len(gallery.examples())


def test_gallery_shows_figures_when_there_are_some(tmp_path, monkeypatch):
    """A figure docs/_static/gallery/<example>*.png appears under its example; none, no image line."""
    monkeypatch.setattr(gallery, "FIGURES", tmp_path)
    assert "![" not in gallery.render()
    (tmp_path / "rotation_gated_rates.png").write_bytes(b"")
    monkeypatch.setattr(gallery, "DOCS", tmp_path.parent)
    page = gallery.render()
    section = page.split("`examples/rotation_gated.toml`")[1].split("\n## ")[0]
    assert f"![rotation\\_gated\\_rates]({tmp_path.name}/rotation_gated_rates.png)" in section


def test_gallery_escapes_markup_in_headers():
    assert gallery.plain("sigma_*(x, z) in `wgf run a_b.toml` |x|") == r"sigma\_\*(x, z) in `wgf run a_b.toml` \|x\|"


def test_the_tutorial_is_stored_with_its_outputs():
    cells = json.loads((DOCS / "tutorial.ipynb").read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code), "execute docs/tutorial.ipynb and store it"
    printing = [c for c in code if "print(" in "".join(c["source"]) or "plot." in "".join(c["source"])]
    assert printing and all(c["outputs"] for c in printing), "cells that print or draw have stored outputs"
    figures = [o for c in code for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert len(figures) >= 2  # the distance against N and the density with its particles


# plain-text mathematics that MyST would render as emphasis or lose: sigma_*, P_E#nu, x^2 outside $...$
_PLAIN_MATH = re.compile(r"\w_\*|\w\^[\w{(]|\bd_t\b|\bLap\b")
_MATH_PAGES = ["theory.md", "groups.md", "kernels.md", "pde.md"]


@pytest.mark.parametrize("page", _MATH_PAGES)
def test_formulas_are_latex(page):
    """Outside code (fences, indented blocks, `spans`) and $...$ mathematics, no formula is plain text."""
    text = (DOCS / page).read_text()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", "", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    stray = [line for line in text.splitlines() if _PLAIN_MATH.search(line) and not line.startswith("    ")]
    assert stray == [], f"docs/{page}: plain-text formulas (write them as $...$): {stray[:5]}"


def test_the_docstring_hook_keeps_latex():
    """:math: roles and .. math:: blocks reach Sphinx as written; plain text around them is escaped."""
    lines = [r"The norm :math:`\|x\|_2^2` of sigma_*(x) and |z|.", "", ".. math::", "",
             r"    \partial_t \mu = \nabla \cdot (\mu \nabla V)", "", "* a bullet with a_* here"]
    conf._plain_text_math(None, "function", "f", None, None, lines)
    assert lines[0] == r"The norm :math:`\|x\|_2^2` of sigma\_\*(x) and \|z\|."
    assert lines[2:5] == [".. math::", "", r"    \partial_t \mu = \nabla \cdot (\mu \nabla V)"]
    assert lines[6] == r"* a bullet with a\_\* here"


def test_the_guide_includes_sections_the_readme_has():
    """docs/guide.md is built from README sections between two headings: each heading it names exists
    (a renamed README section would otherwise break the docs build)."""
    guide = (DOCS / "guide.md").read_text()
    readme = (ROOT / "README.md").read_text().splitlines()
    markers = re.findall(r'^:(?:start-after|end-before): "(.*)"$', guide, flags=re.M)
    assert len(markers) >= 10
    missing = [m for m in markers if m not in readme]
    assert missing == [], f"docs/guide.md names README headings that do not exist: {missing}"


def test_the_html_check_names_what_fails(tmp_path):
    """docs/check_html.py reports a page without MathJax, emphasis made from ``sigma_*`` and a missing
    reference entry, one line each."""
    import check_html

    for page in check_html.MATH_PAGES:
        (tmp_path / f"{page}.html").write_text('<script src="mathjax.js"></script><span class="math">x</span>')
    (tmp_path / "theory.html").write_text("<p>sigma_<em>(x, z) and sigma_</em>(x, z)</p>")
    (tmp_path / "api" / "generated").mkdir(parents=True)
    lines = check_html.failures(tmp_path)
    assert "theory.html: no MathJax-rendered equation" in lines
    assert any(line.startswith("theory.html: emphasis from plain-text formulas") for line in lines)
    assert "wgf.open_results: no reference entry in api/generated/wgf.io.html" in lines
    assert not any(line.startswith(("groups.html", "pde.html")) for line in lines)
