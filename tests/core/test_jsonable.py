"""The one JSON mechanism of dataclasses: every Jsonable class round-trips through strict JSON."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import math
import pkgutil
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.core.jsonable import Jsonable


def _all_jsonable_classes() -> list[type[Jsonable]]:
    for info in pkgutil.walk_packages(loopml.__path__, "loopml."):
        if info.name in ("loopml.__main__", "loopml.store.sql.migrations.env"):
            continue
        importlib.import_module(info.name)
    found: list[type[Jsonable]] = []
    stack = list(Jsonable.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls.__module__.startswith("loopml."):
            found.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _example(tp: Any, depth: int = 0) -> Any:
    """A value of annotation ``tp`` with non-finite floats and non-default content."""
    if tp is Any:
        return {"free": [1, "x", None]}
    if tp is float:
        return [math.nan, math.inf, -math.inf, 0.25][depth % 4]
    if tp is int:
        return 7 + depth
    if tp is bool:
        return True
    if tp is str:
        return f"s{depth}"
    if getattr(tp, "__supertype__", None) is not None:
        return _example(tp.__supertype__, depth)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _example(hints[f.name], depth + 1) for f in dataclasses.fields(tp) if f.init
        }
        return tp(**kwargs)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return args[-1]
    if origin in (typing.Union, __import__("types").UnionType):
        present = [a for a in args if a is not type(None)]
        return None if depth % 2 else _example(present[0], depth + 1)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (_example(args[0], depth + 1), _example(args[0], depth + 2))
        return tuple(_example(a, depth + 1) for a in args)
    if origin in (list, Sequence):
        return [_example(args[0], depth + 1)]
    if origin in (dict, Mapping):
        return {_example(args[0], depth + 1): _example(args[1], depth + 2)}
    raise AssertionError(f"no example for {tp!r}")


def _strict_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data, allow_nan=False))  # no bare NaN tokens


CLASSES = _all_jsonable_classes()


def test_the_mechanism_covers_the_entities() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {"Run", "ModelVersion", "DatasetVersion", "Evaluation", "Event", "DriftResult"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_round_trips_through_strict_json(cls: type[Jsonable]) -> None:
    for depth in (0, 1):  # once with optional fields filled, once with them None where nested
        obj = _example(cls, depth)
        data = _strict_json(obj.to_dict())
        back = cls.from_dict(data)
        assert _strict_json(back.to_dict()) == data
        assert json.dumps(data, allow_nan=False)


@dataclass(frozen=True)
class _Sample(Jsonable):
    x: float
    kind: Literal["a", "b"] = "a"
    tags: Mapping[str, str] = field(default_factory=dict)
    pair: tuple[int, str] | None = None

    json_properties = ("double",)

    @property
    def double(self) -> float:
        return self.x * 2


def test_non_finite_floats_become_strings_and_come_back() -> None:
    data = _Sample(-math.inf).to_dict()
    assert data == {"x": "-Infinity", "kind": "a", "tags": {}, "pair": None, "double": "-Infinity"}
    assert _Sample.from_dict(data) == _Sample(-math.inf)


def test_properties_are_written_and_ignored_on_read() -> None:
    assert _Sample(1.5, pair=(1, "z")).to_dict()["double"] == 3.0
    assert _Sample.from_dict({"x": 1, "double": 99, "pair": [2, "q"]}).pair == (2, "q")


def test_defaults_fill_missing_keys_and_required_keys_are_named() -> None:
    assert _Sample.from_dict({"x": 2}) == _Sample(2.0)
    with pytest.raises(InvalidArgumentError, match=r"_Sample data has no 'x'; it is required"):
        _Sample.from_dict({"kind": "a"})


def test_bad_values_are_named_not_a_traceback_from_inside() -> None:
    with pytest.raises(InvalidArgumentError, match=r"_Sample\.kind cannot be read from 'c'"):
        _Sample.from_dict({"x": 1, "kind": "c"})
    with pytest.raises(InvalidArgumentError, match=r"_Sample\.x cannot be read from 'abc'"):
        _Sample.from_dict({"x": "abc"})
    with pytest.raises(InvalidArgumentError, match=r"read from a JSON object; got list"):
        _Sample.from_dict([1, 2])  # type: ignore[arg-type]


def test_stored_documents_of_earlier_versions_still_load() -> None:
    """Evaluations stored before the helper wrote an undefined float as null (orjson's NaN)."""
    from loopml.core.entities import MetricValue

    old = {"name": "roc_auc", "value": None, "low": None, "high": None, "reason": "one class"}
    assert MetricValue.from_dict(old) == MetricValue("roc_auc", None, None, None, "one class")
