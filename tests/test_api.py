"""The public API is fully annotated (wgf ships py.typed): every function named in a module's ``__all__``
and every public method of a public class annotates each parameter (but *args and **kwargs) and its
return, and the annotations name real types."""

import ast
import importlib
import inspect
import pkgutil
import typing

import pytest

import wgf
import wgf.grids
import wgf.particles
import wgf.validation

PACKAGES = (wgf, wgf.grids, wgf.particles, wgf.validation)


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """These tests only import and inspect: they need no compiled kernels (overrides the conftest warm-up)."""


def _modules() -> list:
    names = [pkg.__name__ for pkg in PACKAGES]
    for pkg in PACKAGES:
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
                  if not m.name.endswith("__main__")]
    return [importlib.import_module(name) for name in dict.fromkeys(names)]


def _public_callables() -> dict:
    """``module.qualname`` -> function, for each public function and each public method of a public class
    (defined in wgf, deduplicated across re-exports)."""
    found = {}

    def add(func):
        func = inspect.unwrap(func)
        # a lambda (a property of a tuple subclass) cannot carry annotations
        if inspect.isfunction(func) and func.__module__.startswith("wgf") and func.__name__ != "<lambda>":
            found.setdefault(f"{func.__module__}.{func.__qualname__}", func)

    for module in _modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                add(obj)
            elif inspect.isclass(obj) and obj.__module__.startswith("wgf"):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    if isinstance(value, (staticmethod, classmethod)):
                        value = value.__func__
                    elif isinstance(value, property):
                        value = value.fget
                    if inspect.isfunction(value):
                        add(value)
    return found


PUBLIC = _public_callables()


def _missing(func) -> list:
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls") and "." in func.__qualname__:
        params = params[1:]
    out = [p.name for p in params
           if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        out.append("return")
    return out


def test_public_api_is_found():
    assert "wgf.config.load_config" in PUBLIC
    assert "wgf.plot.density" in PUBLIC
    assert "wgf.validation.distances.w2" in PUBLIC
    assert len(PUBLIC) > 100


def test_every_public_function_is_annotated():
    offenders = [f"{name}: {', '.join(missing)}" for name, func in sorted(PUBLIC.items())
                 if (missing := _missing(func))]
    assert not offenders, f"{len(offenders)} public functions lack annotations:\n" + "\n".join(offenders)


_NAMESPACES: dict = {}


def _type_checking_namespace(module_name: str) -> dict:
    """The module's globals plus what its ``if TYPE_CHECKING:`` blocks import (what a type checker sees)."""
    if module_name not in _NAMESPACES:
        module = importlib.import_module(module_name)
        ns = dict(vars(module))
        tree = ast.parse(inspect.getsource(module))
        for node in tree.body:
            if (isinstance(node, ast.If) and isinstance(node.test, (ast.Name, ast.Attribute))
                    and ast.unparse(node.test).endswith("TYPE_CHECKING")):
                exec(compile(ast.Module(body=node.body, type_ignores=[]), module.__file__, "exec"), ns)
        _NAMESPACES[module_name] = ns
    return _NAMESPACES[module_name]


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_annotations_resolve(name):
    func = PUBLIC[name]
    hints = typing.get_type_hints(func, globalns=_type_checking_namespace(func.__module__))
    assert set(hints) == set(func.__annotations__)
