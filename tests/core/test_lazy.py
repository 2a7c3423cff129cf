"""Lazy module attributes: imported on first use, cached, and a clear error otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from loopml.core.lazy import lazy_getattr


def test_a_name_is_imported_on_first_use_and_cached() -> None:
    namespace: dict[str, Any] = {}
    lookup = lazy_getattr("pkg", {"sqrt": "math"}, namespace)
    assert lookup("sqrt")(9.0) == 3.0
    assert "sqrt" in namespace  # later reads are plain attribute reads


def test_an_unknown_name_is_an_attribute_error_naming_the_module() -> None:
    lookup = lazy_getattr("pkg", {"sqrt": "math"}, {})
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'cbrt'"):
        lookup("cbrt")
