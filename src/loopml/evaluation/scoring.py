"""Scoring one model version on one dataset's rows: labels as class indices, predictions,
probabilities, and the plot data of the report.

Everything here turns a model and a DataFrame into the NumPy conventions of
:mod:`loopml.stats.metrics` (class indices ``0..k-1`` in the order of the model's classes,
probabilities ``(n, k)``; regression values as floats), or says why it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError
from loopml.registry import LoadedModel
from loopml.registry.labels import encode_labels

#: Points kept per curve (the report downsamples further for drawing).
CURVE_POINTS = 400
#: Bins of the calibration curve.
CALIBRATION_BINS = 10

__all__ = ["Scored", "curves", "encode_labels", "score_rows"]


@dataclass(frozen=True)
class Scored:
    """A model's outputs on some rows, in the metric kernels' conventions.

    Attributes:
        pred: Predicted class indices (classification) or values (regression).
        score: Class probabilities ``(n, k)``, or None.
        reason: Why the model could not score the rows (then ``pred`` is empty).
    """

    pred: np.ndarray
    score: np.ndarray | None
    reason: str = ""


def score_rows(
    model: LoadedModel, frame: pd.DataFrame, *, task: str, classes: tuple[Any, ...]
) -> Scored:
    """Run ``model`` on ``frame`` and convert its outputs.

    Only the model's own failures become a :class:`Scored` with the reason (rows that break its
    signature, or an exception raised by the model's code while predicting); they are facts
    about the model and the data, stored as "not computable". Anything else raised here is a
    loopml bug and propagates, so it is fixed rather than recorded as a property of the model.
    """
    try:
        rows = model.prepare(frame)
    except InvalidArgumentError as exc:
        return Scored(np.empty(0), None, f"{model.version.ref} cannot score these rows: {exc}")
    want_proba = task in ("binary", "multiclass") and model.signature.output.has_proba
    try:  # the model's own code: whatever it raises is the model failing on these rows
        raw = model.raw.predict(rows)
        raw_proba = model.raw.predict_proba(rows) if want_proba else None
    except Exception as exc:
        return Scored(
            np.empty(0),
            None,
            f"{model.version.ref} failed on these rows ({type(exc).__name__}: {exc})",
        )
    if want_proba and raw_proba is None:
        return Scored(np.empty(0), None, f"{model.version.ref} returned no probabilities")
    proba = None if raw_proba is None else np.asarray(raw_proba, dtype=float)
    predicted = np.asarray(raw).reshape(len(rows))
    if task in ("binary", "multiclass"):
        pred, _known, _unseen = encode_labels(pd.Series(predicted), classes)
        return Scored(pred, proba)
    return Scored(np.asarray(predicted, dtype=float), None)


def _thin(*columns: np.ndarray) -> list[list[float]]:
    n = len(columns[0])
    if n > CURVE_POINTS:
        keep = np.unique(np.linspace(0, n - 1, CURVE_POINTS).round().astype(int))
        columns = tuple(c[keep] for c in columns)
    return [np.round(c.astype(float), 6).tolist() for c in columns]


def curves(
    task: str, y: np.ndarray, scored: Scored, *, labels: tuple[Any, ...], prefix: str = ""
) -> dict[str, Any]:
    """Plot data for the report: ROC, PR and calibration (binary), residuals (regression),
    the confusion matrix (classification); keys prefixed (``baseline_``) for the baseline."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    out: dict[str, Any] = {}
    if task == "regression":
        residuals = y - scored.pred
        counts, edges = np.histogram(residuals, bins=30)
        out[f"{prefix}residuals"] = {"edges": edges.round(6).tolist(), "counts": counts.tolist()}
        return out
    if not prefix:
        k = len(labels)
        matrix = np.zeros((k, k), dtype=np.int64)
        np.add.at(matrix, (y, scored.pred), 1)
        out["confusion"] = {"labels": [str(c) for c in labels], "matrix": matrix.tolist()}
    if task == "binary" and scored.score is not None and len(set(y.tolist())) == 2:
        p1 = scored.score[:, 1]
        fpr, tpr, _ = roc_curve(y, p1)
        precision, recall, _ = precision_recall_curve(y, p1)
        fpr_l, tpr_l = _thin(fpr, tpr)
        recall_l, precision_l = _thin(recall[::-1], precision[::-1])
        out[f"{prefix}roc"] = {"fpr": fpr_l, "tpr": tpr_l}
        out[f"{prefix}pr"] = {"recall": recall_l, "precision": precision_l}
        edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
        which = np.clip(np.digitize(p1, edges[1:-1]), 0, CALIBRATION_BINS - 1)
        counts = np.bincount(which, minlength=CALIBRATION_BINS)
        sums = np.bincount(which, weights=p1, minlength=CALIBRATION_BINS)
        hits = np.bincount(which, weights=y, minlength=CALIBRATION_BINS)
        filled = counts > 0
        out[f"{prefix}calibration"] = {
            "predicted": np.round(sums[filled] / counts[filled], 6).tolist(),
            "observed": np.round(hits[filled] / counts[filled], 6).tolist(),
            "count": counts[filled].tolist(),
        }
    return out
