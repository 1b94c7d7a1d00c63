"""Check a built site (``python docs/check_html.py BUILD_DIR``, run by .ci/run after the Sphinx build).

- the mathematics pages hold MathJax-rendered equations (``class="math``, the MathJax script) and no
  emphasis made from a plain-text formula (``sigma_*(x, z)`` read as ``sigma_<em>...``);
- every name of ``__all__`` of the package tops (``wgf.open_results``, ...) has a reference entry, an
  anchor ``id="<module>.<name>"`` in the page of the module that defines it;
- no API page is larger than ``MAX_PAGE_BYTES`` (one page per module, not one page for everything).

Exit 0 when all hold; otherwise one line per failure and exit 1.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conf import PACKAGES, defining_module  # noqa: E402

MATH_PAGES = ("theory", "groups", "kernels", "pde", "outputs")
MAX_PAGE_BYTES = 400_000
# an <em> that starts right after an identifier and "_" (or a "*" or "#"): a formula read as emphasis
_STRAY_EMPHASIS = re.compile(r"\w[_*#]<em>|<em>[^<]*</em>[^<\s]*_")


def failures(site: Path) -> list[str]:
    found = []
    for page in MATH_PAGES:
        html = (site / f"{page}.html").read_text()
        if 'class="math' not in html or "mathjax" not in html.lower():
            found.append(f"{page}.html: no MathJax-rendered equation")
        stray = _STRAY_EMPHASIS.findall(html)
        if stray:
            found.append(f"{page}.html: emphasis from plain-text formulas: {stray[:3]}")
    api = site / "api" / "generated"
    for package in PACKAGES:
        for name in importlib.import_module(package).__all__:
            if name.startswith("__"):
                continue
            home = defining_module(package, name)
            page = api / f"{home}.html"
            if not page.exists() or f'id="{home}.{name}"' not in page.read_text():
                found.append(f"{package}.{name}: no reference entry in {page.relative_to(site)}")
    for page in sorted(api.glob("*.html")):
        if page.stat().st_size > MAX_PAGE_BYTES:
            found.append(f"{page.relative_to(site)}: {page.stat().st_size} bytes > {MAX_PAGE_BYTES}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python docs/check_html.py BUILD_DIR", file=sys.stderr)
        return 2
    found = failures(Path(argv[0]))
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
