"""The converters an ONNX export runs, and what a model needs before it can be converted.

:func:`converters_for` returns skl2onnx's converter of every step of a model, each run over a
container that writes integer attributes as integers. skl2onnx 1.20 passes Python booleans to
integer attributes (``nodes_missing_value_tracks_true`` of the HistGradientBoosting trees);
protobuf 6.33 warns about that and protobuf 7.34 refuses it (``Field onnx.AttributeProto.ints:
Expected an int, got a boolean``). With the container, the export works whichever protobuf
the environment resolved, without pinning a library that most of the environment shares.

XGBoost and LightGBM models at the end of a scikit-learn pipeline are converted by onnxmltools'
converters, registered with skl2onnx on first use (:func:`register_boosting_converters`).

:func:`unconvertible_steps` names the steps no converter knows, so that an export of such a
model fails with a message that says which step and why, before skl2onnx is called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "converters_for",
    "parts",
    "register_boosting_converters",
    "unconvertible_steps",
]

_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
#: (library, class, skl2onnx alias, onnxmltools converter function)
_BOOSTING: tuple[tuple[str, str, str, str], ...] = (
    ("xgboost", "XGBClassifier", "XGBoostXGBClassifier", "convert_xgboost"),
    ("xgboost", "XGBRegressor", "XGBoostXGBRegressor", "convert_xgboost"),
    ("lightgbm", "LGBMClassifier", "LightGbmLGBMClassifier", "convert_lightgbm"),
    ("lightgbm", "LGBMRegressor", "LightGbmLGBMRegressor", "convert_lightgbm"),
)
_CONVERTER_MODULES = {
    "xgboost": "onnxmltools.convert.xgboost.operator_converters.XGBoost",
    "lightgbm": "onnxmltools.convert.lightgbm.operator_converters.LightGbm",
}
_registered: set[str] = set()


def parts(model: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, estimator)`` for ``model`` and every estimator nested in its pipelines
    and column transformers (``"prep/cat"`` is the ``cat`` transformer of the ``prep`` step).

    Args:
        model: A scikit-learn estimator or composite.
        path: The path of ``model`` itself (empty at the top).

    Example:
        >>> from sklearn.pipeline import Pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> [p for p, _ in parts(Pipeline([("scale", StandardScaler())]))]
        ['', 'scale']
    """
    yield path, model
    for name, step in getattr(model, "steps", ()):
        yield from parts(step, f"{path}/{name}" if path else str(name))
    transformers: Any = getattr(model, "transformers_", None) or getattr(model, "transformers", ())
    for item in transformers:
        if isinstance(item, tuple) and len(item) == 3 and not isinstance(item[1], str):
            yield from parts(item[1], f"{path}/{item[0]}" if path else str(item[0]))


def _library(part: Any) -> str:
    return type(part).__module__.partition(".")[0]


def register_boosting_converters(model: Any) -> None:
    """Register onnxmltools' converters with skl2onnx for the XGBoost and LightGBM models
    inside ``model`` (once per library and process; nothing is imported for other models).

    Raises:
        ImportError: ``model`` holds an XGBoost or LightGBM model and onnxmltools is not
            installed; the message has the ``pip install`` line.
    """
    libraries = {_library(part) for _, part in parts(model)} & set(_CONVERTER_MODULES)
    for library in sorted(libraries - _registered):
        try:
            converters = importlib.import_module(_CONVERTER_MODULES[library])
        except ImportError as exc:
            raise ImportError(
                f"Exporting a {library} model to ONNX needs onnxmltools, which cannot be "
                f"imported: {exc}. Install it with:\n    pip install 'loopml[onnx]'"
            ) from exc
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )

        module = importlib.import_module(library)
        for lib, class_name, alias, function in _BOOSTING:
            if lib != library:
                continue
            classifier = class_name.endswith("Classifier")
            update_registered_converter(
                getattr(module, class_name),
                alias,
                calculate_linear_classifier_output_shapes
                if classifier
                else calculate_linear_regressor_output_shapes,
                getattr(converters, function),
                options=_CLASSIFIER_OPTIONS if classifier else None,
            )
        _registered.add(library)


def unconvertible_steps(model: Any) -> list[tuple[str, str]]:
    """Return ``(path, qualified class name)`` of every step of ``model`` that no registered
    converter knows (call :func:`register_boosting_converters` first); the path of ``model``
    itself is empty."""
    from skl2onnx import get_model_alias

    missing = []
    for path, part in parts(model):
        try:
            get_model_alias(type(part))
        except RuntimeError:
            kind = type(part)
            missing.append((path, f"{kind.__module__}.{kind.__qualname__}"))
    return missing


class _IntAttributes:
    """A skl2onnx container whose ``add_node`` writes boolean attribute values as 0/1."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, *args: Any, **attributes: Any) -> Any:
        for key, value in attributes.items():
            if isinstance(value, list | tuple | np.ndarray) and any(
                isinstance(item, bool | np.bool_) for item in value
            ):
                attributes[key] = [int(item) for item in value]
            elif isinstance(value, bool | np.bool_):
                attributes[key] = int(value)
        return self._container.add_node(*args, **attributes)


def _over_int_attributes(converter: Callable[..., Any]) -> Callable[..., Any]:
    def convert(scope: Any, operator: Any, container: Any) -> Any:
        return converter(scope, operator, _IntAttributes(container))

    return convert


def converters_for(model: Any) -> dict[type, Callable[..., Any]]:
    """Return ``custom_conversion_functions`` for ``skl2onnx.convert_sklearn``: the registered
    converter of every step type of ``model``, run over a container that writes integer
    attributes as integers."""
    from skl2onnx import get_model_alias
    from skl2onnx.common._registration import get_converter

    converters: dict[type, Callable[..., Any]] = {}
    for _, part in parts(model):
        kind = type(part)
        if kind in converters:
            continue
        try:
            converter = get_converter(get_model_alias(kind))
        except (RuntimeError, ValueError):  # a composite (parsed, not converted) or unknown
            continue
        converters[kind] = _over_int_attributes(converter)
    return converters
