"""Fallbacks declared with the deployment rather than registered: a constant answer or a
heuristic function of the rows.

``ServeConfig.fallback`` (and ``loopml serve --fallback``) takes, besides ``previous``, a model
ref or None:

* ``value:<JSON>``: the same answer for every row (``value:0``, ``value:"review"``); no
  probabilities;
* ``python:<module>:<function>``: a function imported at start-up and called with the rows
  (the champion's signature-checked DataFrame); it returns one prediction per row, or a pair
  ``(predictions, probabilities)`` with one probability column per class of the champion;
* in Python, the function itself: ``ServeConfig(fallback=my_rules)``.

They answer as version 0 of the served model (not a registered version), route ``fallback``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.core.errors import FallbackFailedError, InvalidArgumentError
from loopml.serving.batcher import BatchOutput

VALUE_PREFIX = "value:"
PYTHON_PREFIX = "python:"
#: The version number a declared fallback answers as (registered versions start at 1).
DECLARED_VERSION = 0

#: A heuristic: the rows in, one prediction per row (or predictions and probabilities) out.
Heuristic = Callable[[pd.DataFrame], Any]


@dataclass(frozen=True)
class DeclaredFallback:
    """A constant or a heuristic answering for the served model.

    Attributes:
        ref: How it was declared (``value:0``, ``python:rules:late``, or the function's name).
        name: The served model's name.
        classes: The champion's class labels (the columns of returned probabilities).
        answer: The rows in, the outputs out.
    """

    ref: str
    name: str
    classes: tuple[Any, ...]
    answer: Callable[[pd.DataFrame], BatchOutput]

    @property
    def version(self) -> int:
        """Always :data:`DECLARED_VERSION`: not a registered version."""
        return DECLARED_VERSION

    def run(self, frame: pd.DataFrame) -> BatchOutput:
        """Answer for ``frame``."""
        return self.answer(frame)


def is_declared(spec: object) -> bool:
    """Whether ``spec`` declares a constant or a heuristic (not ``previous``, a ref or None)."""
    return callable(spec) or (
        isinstance(spec, str) and spec.startswith((VALUE_PREFIX, PYTHON_PREFIX))
    )


def declared_fallback(
    spec: str | Heuristic, *, name: str, classes: tuple[Any, ...]
) -> DeclaredFallback:
    """Build the fallback ``spec`` declares (see the module docstring).

    Raises:
        InvalidArgumentError: The constant is not a JSON scalar, or the function cannot be
            imported or is not callable.
    """
    if callable(spec):
        label = getattr(spec, "__qualname__", None) or type(spec).__name__
        return DeclaredFallback(f"python:{label}", name, classes, _heuristic(spec, classes))
    if spec.startswith(VALUE_PREFIX):
        return DeclaredFallback(spec, name, classes, _constant(spec))
    return DeclaredFallback(spec, name, classes, _heuristic(_import(spec), classes))


def _constant(spec: str) -> Callable[[pd.DataFrame], BatchOutput]:
    text = spec[len(VALUE_PREFIX) :]
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidArgumentError(
            f"The fallback {spec!r} must give its answer as JSON after 'value:', e.g. "
            "'value:0', 'value:0.5' or 'value:\"review\"' (quote text)."
        ) from None
    if isinstance(value, list | dict) or value is None:
        raise InvalidArgumentError(
            f"The fallback {spec!r} must answer one number, text or boolean per row; got "
            f"{type(value).__name__}."
        )

    def answer(frame: pd.DataFrame) -> BatchOutput:
        return BatchOutput(np.full(len(frame), value, dtype=object), None)

    return answer


def _import(spec: str) -> Heuristic:
    path = spec[len(PYTHON_PREFIX) :]
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise InvalidArgumentError(
            f"The fallback {spec!r} must name a function as 'python:module:function', e.g. "
            "'python:my_rules:late_flight'."
        )
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgumentError(
            f"Cannot import the fallback {spec!r}: {type(exc).__name__}: {exc}. Check that "
            f"the module {module_name!r} is importable where the server runs (PYTHONPATH) and "
            f"defines {attribute!r}."
        ) from None
    if not callable(function):
        raise InvalidArgumentError(
            f"The fallback {spec!r} names a {type(function).__name__}, not a function."
        )
    return function  # type: ignore[no-any-return]


def _heuristic(
    function: Heuristic, classes: tuple[Any, ...]
) -> Callable[[pd.DataFrame], BatchOutput]:
    def answer(frame: pd.DataFrame) -> BatchOutput:
        try:
            returned = function(frame)
        except Exception as exc:
            raise FallbackFailedError(f"{type(exc).__name__}: {exc}") from exc
        predictions, proba = returned if isinstance(returned, tuple) else (returned, None)
        values = np.asarray(predictions).reshape(-1)
        if len(values) != len(frame):
            raise FallbackFailedError(
                f"it returned {len(values)} predictions for {len(frame)} rows; return one per row"
            )
        if proba is None:
            return BatchOutput(values, None)
        matrix = np.asarray(proba, dtype=float)
        if matrix.shape != (len(frame), len(classes)):
            raise FallbackFailedError(
                f"its probabilities have the shape {matrix.shape}; expected "
                f"{(len(frame), len(classes))}: a row per input row, a column per class "
                f"{list(classes)}"
            )
        return BatchOutput(values, matrix)

    return answer
