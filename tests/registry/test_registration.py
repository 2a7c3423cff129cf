"""The options of a registration are defined once (RegisterOptions); the three entry points
take exactly them, with the same types and defaults, and check them the same way."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import loopml
from loopml.client.run_handle import ActiveRun
from loopml.core.errors import InvalidArgumentError
from loopml.registry import ModelRegistry, RegisterOptions

ENTRY_POINTS = [
    pytest.param(ModelRegistry.register, id="ModelRegistry.register"),
    pytest.param(loopml.models.register, id="loopml.models.register"),
    pytest.param(ActiveRun.log_model, id="ActiveRun.log_model"),
]


def _options() -> dict[str, tuple[Any, Any]]:
    return {f.name: (f.default, f.type) for f in dataclasses.fields(RegisterOptions)}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_points_take_exactly_the_register_options(entry: Callable[..., Any]) -> None:
    keywords = {
        p.name: (p.default, p.annotation)
        for p in inspect.signature(entry).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "run_id"
    }
    assert keywords == _options()


def test_options_are_keyword_only_and_frozen() -> None:
    options = RegisterOptions(trusted_types=["sklearn.tree._tree.Tree"])
    assert options.trusted_types == ("sklearn.tree._tree.Tree",)
    with pytest.raises(
        dataclasses.FrozenInstanceError, match="cannot assign to field 'description'"
    ):
        options.description = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional argument"):
        RegisterOptions(None)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("flavor", 3, r"The 'flavor' parameter of register must be a string or None\. Got 3"),
        ("code_commit", b"abc", r"'code_commit' parameter of register must be a string or None"),
        ("description", None, r"The 'description' parameter of register must be a string\."),
        ("tags", [("a", 1)], r"The 'tags' parameter of register must be a mapping"),
        ("trusted_types", "a.B", r"must be a list of qualified type names \(e\.g\. \["),
        ("trusted_types", ["a.B", ""], r"must be a list of qualified type names"),
        ("trusted_types", [int], r"must be a list of qualified type names"),
    ],
)
def test_bad_values_name_the_parameter(field: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        RegisterOptions(**{field: value})
