"""Registries: name -> entry, one shape for every named concept of wgf.

Units, activations, losses, schedules, groups, schemes, teachers, starts, metrics and per-run
diagnostics are each a ``Registry`` kept in the module that defines them (``wgf.losses.LOSSES``,
``wgf.groups.GROUPS``, ...). An ``Entry`` holds the name, the factory that builds the object, a
one-line doc and the metadata other parts need (a unit's parameter dimension, a group's order,
a loss's label convention, what a metric needs). Config choices, CLI choices, error messages,
``wgf config`` and the docs' tables are read from the registries: adding a loss, an activation
or a finite group is one ``register`` call in one file.

A registry is a read-only mapping ``name -> Entry`` (iteration gives the names in registration
order), so ``name in LOSSES`` and ``", ".join(LOSSES)`` read as they say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Entry", "Registry", "UnknownNameError", "markdown_cell"]


def markdown_cell(text: str) -> str:
    """``text`` as the cell of a Markdown table (its ``|`` escaped)."""
    return text.replace("|", "\\|")


class UnknownNameError(ValueError, KeyError):
    """A name that is not in a registry; the message lists the names that are."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Entry:
    """One registered name: ``factory`` builds the object, ``doc`` says in one line what it is,
    ``meta`` holds what other parts of wgf need to know about it without building it."""

    name: str
    factory: Callable[..., Any] | None
    doc: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        # metadata read as attributes: UNITS["matrix"].dim(...)
        meta = object.__getattribute__(self, "meta")
        if key in meta:
            return meta[key]
        raise AttributeError(f"{type(self).__name__} {self.name!r} has no attribute or metadata {key!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Build the object: ``factory(*args, **kwargs)`` (``GROUPS["swap"](dim_x, dim_y)``)."""
        if self.factory is None:
            raise TypeError(f"{self.name!r} is a plain choice: it has no factory")
        return self.factory(*args, **kwargs)


class Registry(Mapping[str, Entry]):
    """The registered names of one ``kind`` of object (``"loss"``, ``"group"``, ...), in order."""

    def __init__(self, kind: str, doc: str = "") -> None:
        self.kind = kind
        self.doc = doc
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, factory: Callable[..., Any] | None = None, *, doc: str, replace: bool = False,
            **meta: Any) -> Entry:
        """Register ``name`` (a lowercase identifier) with its factory (None for a plain choice), a one-line
        ``doc`` and metadata; returns the entry. A name registered twice is refused unless ``replace``."""
        if not (isinstance(name, str) and name.isidentifier() and name == name.lower()):
            raise ValueError(f"{self.kind} names are lowercase identifiers, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if not isinstance(doc, str) or not doc.strip() or "\n" in doc:
            raise ValueError(f"{self.kind} {name!r}: give a one-line doc")
        entry = Entry(name, factory, doc, MappingProxyType(dict(meta)))
        self._entries[name] = entry
        return entry

    def register(self, name: str, *, doc: str, replace: bool = False, **meta: Any) -> Callable[[Callable], Callable]:
        """Decorator form of ``add``: ``@LOSSES.register("squared", doc=...)`` above the factory."""

        def decorate(factory):
            self.add(name, factory, doc=doc, replace=replace, **meta)
            return factory

        return decorate

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a temporary entry)."""
        self._entries.pop(name, None)

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(f"unknown {self.kind} {name!r} (choose from {', '.join(self._entries)})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in order."""
        return tuple(self._entries)

    def docs(self) -> dict[str, str]:
        """name -> one-line doc."""
        return {name: e.doc for name, e in self._entries.items()}

    def where(self, **meta: Any) -> tuple[str, ...]:
        """The names whose metadata has these values, in order: ``GROUPS.where(compact=True)``."""
        return tuple(name for name, e in self._entries.items()
                     if all(key in e.meta and e.meta[key] == value for key, value in meta.items()))

    def table(self) -> str:
        """A Markdown table of the names and their docs (for ``docs/`` and ``wgf`` listings)."""
        rows = [f"| `{name}` | {markdown_cell(e.doc)} |" for name, e in self._entries.items()]
        return "\n".join([f"| {self.kind} | meaning |", "|---|---|", *rows])

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
