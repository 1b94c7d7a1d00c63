"""Compiled closures are named after their code (wgf.jit._named_by).

numba names a compiled function's symbol after its qualified name and a per-process counter. The step loop
of every unit is one closure of ``wgf.particles.kernels._build_advance``: two units' loops compiled in two
processes at the same counter got the same symbols, and a process that loaded both from the disk cache ran
the second unit with the first one's inner functions (a discovery after a linear-unit run kept the wrong
subspace). With the fingerprint in the qualified name, equal names mean equal code. Nothing is compiled here.
"""

import subprocess
import sys

import wgf
from wgf.jit import fingerprint, jit
from wgf.particles import kernels


def _closures(unit):
    """The qualified names of the step loop of ``unit`` and of the closures it calls."""
    names, todo = set(), [kernels.make_advance(unit, wgf.make_loss("squared")).kernel.py_func]
    while todo:  # the loop and, recursively, every compiled closure it calls
        py_func = todo.pop()
        if py_func.__qualname__ not in names:
            names.add(py_func.__qualname__)
            todo += [f for f in (getattr(c.cell_contents, "py_func", None) for c in py_func.__closure__)
                     if f is not None and f.__closure__ and "_build_advance" in f.__qualname__]
    return names


def test_two_units_step_loops_share_no_closure_name():
    a, b = _closures(wgf.make_unit("linear", 1, 1)), _closures(wgf.make_unit("gated_matrix", 2, 2))
    assert len(a) >= 4 and len(b) == len(a)
    # equal names mean equal code: the two share only the closure that depends on the loss alone
    assert {name.split("<locals>.")[1].rsplit("_", 1)[0] for name in a & b} == {"cotangents"}
    assert {"advance", "step_chunk", "forward_chunk", "update_chunk", "draw_batch"} <= {
        name.split("<locals>.")[1].rsplit("_", 1)[0] for name in a - b}
    assert all("_build_advance.<locals>." in name for name in a | b)


def test_the_name_ends_with_the_fingerprint_and_the_function_is_unchanged():
    def cube(x):
        return x * x * x

    disp = jit(cube)
    assert disp.py_func.__qualname__ == f"{cube.__qualname__}_{fingerprint(cube)[:12]}"
    assert cube.__qualname__.endswith("cube") and disp.py_func.__code__ is cube.__code__
    assert disp._uuid == f"wgf-{fingerprint(cube)}"


def test_names_are_the_same_in_every_process():
    code = ("import wgf; from wgf.particles import kernels; "
            "print(kernels.make_advance(wgf.make_unit('linear', 1, 1), wgf.make_loss('squared')).kernel.py_func.__qualname__)")
    names = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(names) == 1 and "_build_advance.<locals>.advance_" in names.pop()
