"""Lazy module attributes (PEP 562): a package exports names whose modules load heavy
libraries, and imports each module only when one of its names is first used."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    module: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module``: ``name`` is imported from
    ``table[name]`` on first use and cached in ``namespace`` (the module's ``globals()``), so
    later lookups are plain attribute reads.

    >>> __getattr__ = lazy_getattr("pkg", {"sqrt": "math"}, {})
    >>> __getattr__("sqrt")(4.0)
    2.0
    """

    def lookup(name: str) -> Any:
        source = table.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        namespace[name] = value
        return value

    return lookup
