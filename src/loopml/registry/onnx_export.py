"""ONNX export of scikit-learn models, accepted only after an equivalence check.

:func:`export_onnx` converts a fitted model with skl2onnx (:func:`convert_sklearn`), loads the
result in onnxruntime and compares it with the original on held-out rows
(:func:`check_equivalence`). An export that does not predict the same within the tolerance
raises :class:`~loopml.core.errors.ModelExportError`: keep serving the native model.

What converts: the scikit-learn estimators and transformers skl2onnx has converters for
(``skl2onnx.supported_converters()``: linear models, trees, random forests, gradient boosting
and HistGradientBoosting, scalers, encoders, imputers, ``Pipeline``, ``ColumnTransformer``,
...), and XGBoost and LightGBM models at the end of a pipeline through onnxmltools (see
:mod:`loopml.registry.onnx_converters`). A model with a step no converter knows is refused
before conversion, with the step named; a converter that fails is reported with its own
error, whole, and the library versions.

Input typing (measured on scikit-learn's bundled data sets, see ``tests/registry/test_onnx.py``):

* **Trees and tree ensembles get float inputs.** scikit-learn casts ``X`` to float32 before it
  walks a tree, so a float32 graph routes every row as scikit-learn does (probabilities within
  ~1e-7). A double graph compares the unrounded float64 value with the threshold and routes
  rows near a threshold differently (a random forest on breast cancer: max probability
  difference 0.05). A pipeline that preprocesses before a tree (scaler, then forest) gets
  double inputs and a cast to float32 before the tree, as scikit-learn computes it; a float
  graph would round the scaled values differently (1 row of 171 off by 0.05).
* **Everything else gets double inputs** (linear models: ~1e-15 instead of ~1e-6 in float32),
  falling back to float when skl2onnx has no double converter or onnxruntime rejects the
  double graph (gradient boosting, some pipelines).
* One matrix input ``X`` when every column is numeric and the model does not select columns
  by name; otherwise one ``[N, 1]`` input per column (strings as string tensors).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities.data import ColumnSchema
from loopml.core.errors import InvalidArgumentError, ModelExportError
from loopml.core.jsonable import Jsonable
from loopml.registry.flavors.base import Predictor
from loopml.registry.flavors.onnx import CLASSES_KEY, COLUMNS_KEY, OnnxPredictor
from loopml.registry.onnx_converters import (
    converters_for,
    parts,
    register_boosting_converters,
    unconvertible_steps,
)

__all__ = [
    "TARGET_OPSET",
    "EquivalenceReport",
    "check_equivalence",
    "convert_sklearn",
    "export_onnx",
]

#: The opsets exports target: every onnxruntime the ``onnx`` extra allows (>= 1.17) runs them.
TARGET_OPSET: Mapping[str, int] = {"": 18, "ai.onnx.ml": 3}

_TREE_MODULES = ("sklearn.tree", "sklearn.ensemble", "xgboost", "lightgbm")
_KEEP_NATIVE = "Keep serving the native model"


def _selects_by_name(model: Any) -> bool:
    for _, part in parts(model):
        for item in getattr(part, "transformers", ()):
            columns = item[2] if isinstance(item, tuple) and len(item) == 3 else None
            if isinstance(columns, str) or callable(columns):
                return True
            if isinstance(columns, list | tuple) and any(isinstance(c, str) for c in columns):
                return True
    return False


def _is_tree_based(model: Any) -> bool:
    return any(type(part).__module__.startswith(_TREE_MODULES) for _, part in parts(model))


def _candidates(model: Any) -> list[tuple[Any, bool]]:
    """Return the (model to convert, double inputs?) variants to try, best first."""
    if not _is_tree_based(model):
        return [(model, True), (model, False)]
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1 and _is_tree_based(steps[-1][1]):
        # Preprocess in double as scikit-learn does, then round to float32 as its trees do.
        from skl2onnx.sklapi import CastTransformer
        from sklearn.pipeline import Pipeline

        cast = ("loopml_cast_float32", CastTransformer(dtype=np.float32))
        return [(Pipeline([*steps[:-1], cast, steps[-1]]), True), (model, False)]
    return [(model, False), (model, True)]


def _kind(column: ColumnSchema) -> str:
    """Return ``numeric`` or ``string`` for a column, or raise for other Arrow types."""
    dtype = column.dtype.lower()
    if dtype == "bool" or dtype.startswith(("int", "uint", "float", "double", "halffloat")):
        return "numeric"
    if "string" in dtype or "utf8" in dtype:
        return "string"
    raise ModelExportError(
        f"Cannot export the column {column.name!r} of Arrow type {dtype!r} to ONNX: an ONNX "
        "export takes numeric, boolean and string columns. Encode the column as a number or "
        f"a string before training. {_KEEP_NATIVE}."
    )


def _initial_types(
    model: Any, inputs: Sequence[ColumnSchema], *, double: bool
) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number = DoubleTensorType if double else FloatTensorType
    kinds = [_kind(column) for column in inputs]
    if all(kind == "numeric" for kind in kinds) and not _selects_by_name(model):
        return [("X", number([None, len(inputs)]))]
    return [
        (column.name, number([None, 1]) if kind == "numeric" else StringTensorType([None, 1]))
        for column, kind in zip(inputs, kinds, strict=True)
    ]


def _json_label(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain (skl2onnx wraps the library error that says why)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def _versions() -> str:
    import importlib.metadata

    found = []
    for distribution in ("skl2onnx", "onnx", "onnxruntime", "protobuf", "onnxmltools"):
        try:
            found.append(f"{distribution} {importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _convert_once(model: Any, initial_types: list[tuple[str, Any]]) -> Any:
    import skl2onnx
    from sklearn.base import is_classifier

    options: dict[int, dict[str, Any]] | None = None
    if is_classifier(model):
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(final): {"zipmap": False}}
    onx = skl2onnx.convert_sklearn(
        model,
        initial_types=initial_types,
        options=options,
        target_opset=dict(TARGET_OPSET),
        custom_conversion_functions=converters_for(model),
    )
    from onnxruntime import InferenceSession

    InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return onx


def _check_convertible(model: Any) -> None:
    """Refuse a model with a step no converter knows, naming the steps."""
    register_boosting_converters(model)
    missing = unconvertible_steps(model)
    if not missing:
        return
    steps = ", ".join(f"the step {path!r} ({kind})" if path else kind for path, kind in missing)
    raise ModelExportError(
        f"Cannot convert {type(model).__name__} to ONNX: no ONNX converter is registered for "
        f"{steps}. An export converts the scikit-learn estimators and transformers that "
        "skl2onnx lists in skl2onnx.supported_converters(), and XGBoost and LightGBM models "
        "(XGBClassifier, XGBRegressor, LGBMClassifier, LGBMRegressor) through onnxmltools. "
        "Register a converter for the step with skl2onnx.update_registered_converter, or "
        "keep serving the native model."
    )


def convert_sklearn(
    model: Any, inputs: Sequence[ColumnSchema], *, classes: Sequence[Any] = ()
) -> bytes:
    """Convert a fitted scikit-learn model to a serialized ONNX ``ModelProto``.

    Args:
        model: A fitted estimator or pipeline, trained on a frame of the ``inputs`` columns.
        inputs: The signature's input columns, in order.
        classes: Class labels in ``predict_proba`` order; empty reads ``model.classes_``
            (regressors have none).

    Returns:
        The ``model.onnx`` bytes, with metadata ``loopml.classes`` and ``loopml.columns``.

    Raises:
        InvalidArgumentError: When ``inputs`` is empty.
        ModelExportError: When skl2onnx cannot convert the model or onnxruntime cannot load it.

    Example:
        >>> data = convert_sklearn(model, signature.inputs)  # doctest: +SKIP
    """
    if not inputs:
        raise InvalidArgumentError(
            "The 'inputs' parameter of convert_sklearn must list at least one column. Got 0 "
            "columns instead. Pass the input columns of the model's signature."
        )
    name = type(model).__name__
    if not classes and getattr(model, "classes_", None) is not None:
        classes = list(model.classes_)
    _check_convertible(model)
    failures: list[Exception] = []
    onx: Any = None
    for variant, double in _candidates(model):
        initial_types = _initial_types(model, inputs, double=double)
        try:
            onx = _convert_once(variant, initial_types)
            break
        except Exception as exc:  # skl2onnx and onnxruntime raise many types
            failures.append(exc)
    if onx is None:
        cause = _root_cause(failures[0])
        raise ModelExportError(
            f"Cannot convert {name} to ONNX: the conversion failed with "
            f"{type(cause).__name__}: {str(cause).strip()} ({_versions()}). "
            f"{_KEEP_NATIVE}, or change the model so that it converts."
        ) from failures[0]
    import onnx

    columns = [c.name for c in inputs] if len(onx.graph.input) == len(inputs) else []
    onnx.helper.set_model_props(
        onx,
        {
            CLASSES_KEY: json.dumps([_json_label(c) for c in classes]),
            COLUMNS_KEY: json.dumps(columns),
        },
    )
    data: bytes = onx.SerializeToString()
    return data


@dataclass(frozen=True)
class EquivalenceReport(Jsonable):
    """How closely an exported model predicts like the original on held-out rows.

    Attributes:
        rows: Rows compared.
        tolerance: The allowed difference.
        max_abs_diff: Classifiers: the largest absolute probability difference. Regressors:
            the largest ``|a - b| / max(1, |a|)``.
        label_mismatches: Rows whose predicted label differs (classifiers).
        near_ties: Rows whose original top-2 probability margin is at most ``2 * tolerance``;
            a label flip there is accepted.
        differing_rows: Rows that break the rule (a difference above the tolerance, or a
            label flip outside the near ties).
        passed: True when ``differing_rows`` is 0.
        detail: One sentence for people.
    """

    rows: int
    tolerance: float
    max_abs_diff: float
    label_mismatches: int
    near_ties: int
    differing_rows: int
    passed: bool
    detail: str


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference where two NaNs agree and one NaN differs infinitely."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    both = np.isnan(a) & np.isnan(b)
    return np.where(both, 0.0, np.nan_to_num(np.abs(a - b), nan=np.inf))


def _report(
    rows: int, tolerance: float, max_diff: float, bad: int, **counts: int
) -> EquivalenceReport:
    passed = bad == 0
    verdict = "matches" if passed else f"differs on {bad} of {rows} rows"
    detail = f"The export {verdict} (max abs diff {max_diff:.3g}, tolerance {tolerance:g})."
    return EquivalenceReport(
        rows=rows,
        tolerance=tolerance,
        max_abs_diff=max_diff,
        label_mismatches=counts.get("label_mismatches", 0),
        near_ties=counts.get("near_ties", 0),
        differing_rows=bad,
        passed=passed,
        detail=detail,
    )


def check_equivalence(
    original: Predictor, exported: Predictor, frame: pd.DataFrame, *, tolerance: float = 1e-5
) -> EquivalenceReport:
    """Compare an exported model with the original on the rows of ``frame``.

    Classifiers (``original.classes`` non-empty, probabilities available) pass when every
    probability is within ``tolerance`` and labels agree on every row except near ties (top-2
    margin at most ``2 * tolerance``). Regressors pass when ``|a - b| / max(1, |a|)`` is at
    most ``tolerance`` on every row.

    Args:
        original: The native model.
        exported: The converted model.
        frame: Held-out rows of the input columns.
        tolerance: The allowed difference, a float > 0.

    Returns:
        The report; ``passed`` tells the verdict.

    Raises:
        InvalidArgumentError: When ``tolerance`` is not a float > 0 or ``frame`` is empty.
    """
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance <= 0
    ):
        raise InvalidArgumentError(
            "The 'tolerance' parameter of check_equivalence must be a float > 0. "
            f"Got {tolerance!r} instead."
        )
    rows = len(frame)
    if rows == 0:
        raise InvalidArgumentError(
            "The 'frame' parameter of check_equivalence must have at least one row. Got 0 rows "
            "instead. Pass held-out rows of the model's input columns."
        )
    tolerance = float(tolerance)
    expected = np.asarray(original.predict(frame)).reshape(rows, -1)[:, 0]
    actual = np.asarray(exported.predict(frame)).reshape(-1)
    if actual.shape != (rows,):
        return _report(rows, tolerance, math.inf, rows)
    proba = original.predict_proba(frame) if original.classes else None
    if proba is None:
        if original.classes:  # a classifier without probabilities: labels only
            flips = int(np.sum(expected != actual))
            return _report(rows, tolerance, 0.0, flips, label_mismatches=flips)
        scaled = _diff(expected, actual) / np.maximum(1.0, np.abs(expected.astype(np.float64)))
        bad = int(np.sum(scaled > tolerance))
        return _report(rows, tolerance, float(scaled.max()), bad)
    proba = np.asarray(proba, dtype=np.float64)
    exported_proba = exported.predict_proba(frame)
    if exported_proba is None or np.shape(exported_proba) != proba.shape:
        return _report(rows, tolerance, math.inf, rows)
    row_diff = _diff(proba, np.asarray(exported_proba)).max(axis=1)
    top2 = np.sort(proba, axis=1)[:, -2:] if proba.shape[1] > 1 else np.zeros((rows, 2))
    tie = (top2[:, 1] - top2[:, 0]) <= 2 * tolerance
    flip = expected != actual
    bad = int(np.sum((row_diff > tolerance) | (flip & ~tie)))
    return _report(
        rows,
        tolerance,
        float(row_diff.max()),
        bad,
        label_mismatches=int(flip.sum()),
        near_ties=int(tie.sum()),
    )


def export_onnx(
    model: Any,
    original: Predictor,
    inputs: Sequence[ColumnSchema],
    holdout: pd.DataFrame,
    *,
    tolerance: float = 1e-5,
) -> tuple[bytes, EquivalenceReport]:
    """Convert ``model`` to ONNX and accept the copy only if it predicts like the original.

    Args:
        model: The fitted scikit-learn model.
        original: ``model`` behind the predictor convention (the sklearn flavor's ``wrap``).
        inputs: The signature's input columns, in order.
        holdout: Held-out rows with (at least) the input columns.
        tolerance: The allowed difference (see :func:`check_equivalence`).

    Returns:
        The ``model.onnx`` bytes and the passed equivalence report.

    Raises:
        InvalidArgumentError: When ``holdout`` lacks an input column, is empty, or
            ``tolerance`` is not a float > 0.
        ModelExportError: When the conversion fails or the check does not pass; the error's
            ``report`` attribute holds the :class:`EquivalenceReport`.

    Example:
        >>> data, report = export_onnx(model, predictor, signature.inputs, test)  # doctest: +SKIP
    """
    missing = [c.name for c in inputs if c.name not in holdout.columns]
    if missing:
        raise InvalidArgumentError(
            f"The 'holdout' frame of export_onnx lacks the input columns {missing!r}. Pass "
            "held-out rows with every input column of the model's signature."
        )
    frame = holdout[[c.name for c in inputs]]
    data = convert_sklearn(model, inputs, classes=original.classes)
    exported = OnnxPredictor.from_bytes(data)
    report = check_equivalence(original, exported, frame, tolerance=tolerance)
    if not report.passed:
        above = ">" if report.max_abs_diff > report.tolerance else "<="
        error = ModelExportError(
            f"The ONNX export of {type(model).__name__} differs from the original on "
            f"{report.differing_rows} of {report.rows} held-out rows (max abs diff "
            f"{report.max_abs_diff:.3g} {above} tolerance {report.tolerance:g}; "
            f"{report.label_mismatches} label mismatches, {report.near_ties} near ties). "
            "Keep serving the native model, or pass a larger tolerance if the difference is "
            "acceptable."
        )
        error.report = report
        raise error
    return data, report
