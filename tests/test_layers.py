"""Layers you can see (wgf/__init__.py): utilities < the problem < the engines < the application.

No module imports from a layer above its own (read from the sources, lazy imports included), and
importing an engine loads no application module and no matplotlib (checked in a fresh process).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"wgf": "wgf", "grids": "wgf.grids", "particles": "wgf.particles", "validation": "wgf.validation"}

UTILITIES = {"_typing", "_version", "registry", "jit", "vector_math", "io", "resources", "layout"}
PROBLEM = {"units", "activations", "losses", "schedules", "groups", "symmetry", "data", "schemes", "problem",
           "functionals", "unit_kernels", "unit_sums"}
ENGINES = {"grids", "particles", "validation"}
APPLICATION = {"settings", "config", "plan", "runner", "executors", "sweep", "study", "discovery", "report", "plot",
               "labels", "cli", "demo", "schema", "diagnostics", "interrupts", "__main__"}
RANK = {**{m: 0 for m in UTILITIES}, **{m: 1 for m in PROBLEM}, **{m: 2 for m in ENGINES},
        **{m: 3 for m in APPLICATION}}


def _rank(module: str):
    parts = module.split(".")
    return None if parts[0] != "wgf" or len(parts) == 1 else RANK.get(parts[1], "unknown")


def _modules():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            yield (package if path.stem == "__init__" else f"{package}.{path.stem}"), path


def test_every_module_has_a_layer():
    unknown = [name for name, _ in _modules() if name != "wgf" and _rank(name) == "unknown"]
    assert not unknown, f"modules in no layer (tests/test_layers.py): {unknown}"


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for name, path in _modules():
        own = _rank(name)
        if own is None:  # the lazy top-level namespace
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    upward.append(f"{name}: relative import (imports are absolute)")
                targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                rank = _rank(target)
                if isinstance(rank, int) and rank > own:
                    upward.append(f"{name} imports {target}")
    assert not upward, upward


def test_importing_the_engines_loads_no_application_module():
    """All three engines in one fresh process: if together they load no application module, neither does
    any one of them."""
    engines = ("wgf.grids", "wgf.particles", "wgf.validation")
    code = (f"import json, sys; import {', '.join(engines)}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('wgf.', 'matplotlib')))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       cwd=ROOT).stdout)
    application = [m for m in loaded if _rank(m) == 3]
    assert not application and not [m for m in loaded if m.startswith("matplotlib")], loaded
    assert set(engines) <= set(loaded)
