"""The pipeline function's return value: a handle, plain JSON values, or tuples, lists and
str-keyed dicts of them. It is recorded as JSON with each handle marked, turned into stored
values once the steps ran (the pipeline run's artifact ``pipeline_outputs.json``), and
loaded back from there (``PipelineRun.outputs``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.pipelines.graph import Handle, Trace, check_json
from loopml.pipelines.values import StoredValue

_HANDLE, _STORED, _TUPLE, _DICT, _LIST, _PLAIN = "$step", "$value", "$tuple", "$dict", "$list", "$"


def encode_returns(value: Any, trace: Trace) -> Any:
    """The JSON form of what the pipeline function returned (handles as step outputs).

    Raises:
        InvalidArgumentError: A handle of another trace, or a value that is neither a
            handle nor JSON.
    """
    if isinstance(value, Handle):
        if value.trace_id != trace.trace_id:
            raise InvalidArgumentError(
                f"Pipeline {trace.pipeline!r} returns {value!r}, a handle it did not make. "
                "Return the outputs of steps called in this pipeline function."
            )
        return {_HANDLE: [value.node, value.index]}
    if isinstance(value, tuple):
        return {_TUPLE: [encode_returns(v, trace) for v in value]}
    if isinstance(value, list):
        return {_LIST: [encode_returns(v, trace) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {_DICT: {k: encode_returns(v, trace) for k, v in value.items()}}
    check_json(value, f"A value pipeline {trace.pipeline!r} returns")
    return {_PLAIN: value}


def resolve_returns(encoded: Any, outputs: Callable[[str], tuple[StoredValue, ...]]) -> Any:
    """``encoded`` with each step output replaced by where its value is stored."""
    return _map(
        encoded, lambda node, index: {_STORED: outputs(node)[index].to_dict()}, handles=True
    )


def load_returns(resolved: Any, load: Callable[[StoredValue], Any]) -> Any:
    """The pipeline's return value with each stored value loaded."""
    return _map(resolved, lambda stored, _: load(StoredValue.from_dict(stored)), handles=False)


def stored_in(resolved: Any) -> list[StoredValue]:
    """Every stored value a resolved return value names."""
    found: list[StoredValue] = []

    def collect(stored: Any, _: Any) -> None:
        found.append(StoredValue.from_dict(stored))

    _map(resolved, collect, handles=False)
    return found


def _map(value: Any, leaf: Callable[[Any, Any], Any], *, handles: bool) -> Any:
    key, inner = next(iter(value.items()))
    if key == _HANDLE and handles:
        return leaf(inner[0], inner[1])
    if key == _STORED and not handles:
        return leaf(inner, None)
    if key in (_TUPLE, _LIST):
        items = [_map(v, leaf, handles=handles) for v in inner]
        if handles:
            return {key: items}
        return tuple(items) if key == _TUPLE else items
    if key == _DICT:
        mapped = {k: _map(v, leaf, handles=handles) for k, v in inner.items()}
        return {key: mapped} if handles else mapped
    return value if handles else inner


def describe_returns(resolved: Any, show: Callable[[StoredValue], str]) -> str:
    """A resolved return value in one line, each stored value as ``show`` renders it."""
    key, inner = next(iter(resolved.items()))
    if key == _STORED:
        return show(StoredValue.from_dict(inner))
    if key in (_TUPLE, _LIST):
        items = ", ".join(describe_returns(v, show) for v in inner)
        return f"({items})" if key == _TUPLE else f"[{items}]"
    if key == _DICT:
        return (
            "{" + ", ".join(f"{k!r}: {describe_returns(v, show)}" for k, v in inner.items()) + "}"
        )
    return json.dumps(inner)
