"""The model's side of a monitor run: its scores on the current rows and on the reference, the
labels as class indices, and the calibration of the label-free estimate.

Scores are the positive class's probability of a binary classifier (the second of
``predict_proba``'s columns), read from ``score_column`` when the current data carry them,
else computed by the model once over all current rows (vectorized, never row by row). The
reference's scores are computed on a sample of :data:`SCORE_SAMPLE` rows.

Where the estimate is calibrated, in order: the reference when it has labels and is not the
training data; else the version's registered validation data. Training rows are refused: a
model is overconfident on the rows it learned, so an estimate calibrated there is biased.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError
from loopml.health.performance import Calibrated, calibrate
from loopml.health.sources import Data
from loopml.stats.sketch import NumericSketch, numeric_sketch

#: Reference rows scored for the score sketch and the calibration.
SCORE_SAMPLE = 50_000


@dataclass
class ModelSide:
    """Scores, labels and calibration for one run.

    Attributes:
        scores: Per current row (NaN where the model gave none).
        labels: Per current row, the label's class index (-1: no label, or not a class).
        has_labels: Whether the current data have a label column.
        reference_scores: The sketch of the reference's scores.
        calibrated: The calibration of the estimate (or why there is none).
        notes: Remarks for the report.
    """

    scores: np.ndarray
    labels: np.ndarray
    has_labels: bool
    reference_scores: NumericSketch
    calibrated: Calibrated
    notes: list[str] = field(default_factory=list)


def label_index(values: pd.Series, classes: tuple[Any, ...]) -> np.ndarray:
    """Each label's index among ``classes`` (-1 for nulls and values that are no class);
    labels given as text or numbers match classes of the other form (``"1"``, ``1``, ``True``)."""
    index = pd.Index(list(classes)).get_indexer(pd.Index(values))
    unmatched = (index < 0) & values.notna().to_numpy()
    if unmatched.any():
        as_text = pd.Index([_text(c) for c in classes])
        index = np.where(unmatched, as_text.get_indexer(pd.Index(values.map(_text))), index)
    return np.asarray(index, dtype=np.int64)


def _text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip().lower()
    return {"true": "1", "false": "0", "1.0": "1", "0.0": "0"}.get(text, text)


def _label_of(frame: pd.DataFrame, column: str | None, declared: str | None) -> str | None:
    """The label column of ``frame``: ``column`` when it has it, else the declared target."""
    for name in (column, declared):
        if name is not None and name in frame.columns:
            return name
    return None


def _score(loaded: Any, frame: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is not None and column in frame.columns:
        return np.asarray(pd.to_numeric(frame[column], errors="coerce"), dtype=np.float64)
    return np.asarray(loaded.predict_proba(frame).iloc[:, 1], dtype=np.float64)


def _sample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    if len(frame) <= SCORE_SAMPLE:
        return frame
    rng = np.random.default_rng(seed)
    return frame.iloc[np.sort(rng.choice(len(frame), SCORE_SAMPLE, replace=False))]


def model_side(
    loaded: Any,
    ref: Data,
    current: pd.DataFrame,
    *,
    training: str | None,
    validation: Data | None,
    label_column: str | None,
    score_column: str | None,
    seed: int = 0,
) -> ModelSide:
    """Score both sides and calibrate (see the module docstring)."""
    name = loaded.version.ref
    classes = loaded.classes
    notes: list[str] = []
    has_labels = label_column is not None and label_column in current.columns
    labels = (
        label_index(current[label_column], classes)
        if has_labels and label_column is not None
        else np.full(len(current), -1, dtype=np.int64)
    )
    if has_labels and label_column is not None:
        stray = int(((labels < 0) & current[label_column].notna().to_numpy()).sum())
        if stray:
            notes.append(f"{stray:,} labels are not classes of {name} ({list(classes)}): left out")
    if not (loaded.signature.output.has_proba and len(classes) == 2):
        why = (
            f"{name} is not a binary classifier with probabilities "
            f"({loaded.signature.output.task.value}); prediction drift, performance and the "
            "label-free estimate need one"
        )
        empty = np.full(len(current), np.nan)
        return ModelSide(
            empty,
            np.full(len(current), -1, dtype=np.int64),
            False,
            numeric_sketch(np.empty(0)),
            Calibrated(None, f"not computable: {why}"),
            [why],
        )
    try:
        scores = _score(loaded, current, score_column)
    except InvalidArgumentError as exc:
        notes.append(f"{name} could not score the current data: {exc}")
        scores = np.full(len(current), np.nan)
    reference_rows = _sample(ref.frame(), seed)
    reference_scores = _score(loaded, reference_rows, score_column)
    calibrated = _calibration(
        loaded,
        ref,
        rows=reference_rows,
        scores=reference_scores,
        training=training,
        validation=validation,
        label_column=label_column,
        seed=seed,
    )
    return ModelSide(
        scores=scores,
        labels=labels,
        has_labels=has_labels,
        reference_scores=numeric_sketch(reference_scores[np.isfinite(reference_scores)]),
        calibrated=calibrated,
        notes=notes,
    )


def _calibration(
    loaded: Any,
    ref: Data,
    *,
    rows: pd.DataFrame,
    scores: np.ndarray,
    training: str | None,
    validation: Data | None,
    label_column: str | None,
    seed: int,
) -> Calibrated:
    is_training = ref.version is not None and training is not None and ref.version.ref == training
    # the current data's label column, else the dataset's declared target (the prediction
    # log names its joined labels apart from the datasets' columns)
    reference_label = _label_of(rows, label_column, ref.target)
    if reference_label is not None and not is_training:
        return calibrate(
            label_index(rows[reference_label], loaded.classes), scores, f"reference {ref.label}"
        )
    if validation is not None:
        frame = _sample(validation.frame(), seed)
        target = _label_of(frame, label_column, validation.target)
        if target is not None and target in frame.columns:
            return calibrate(
                label_index(frame[target], loaded.classes),
                _score(loaded, frame, None),
                f"validation data {validation.label}",
            )
    if is_training:
        return Calibrated(
            None,
            f"refused: the reference {ref.label} is the training data of "
            f"{loaded.version.ref}, and an estimate calibrated on training rows is biased "
            "(the model is overconfident there); pass a labeled reference the model did not "
            "train on, or register the version with validation_data",
        )
    return Calibrated(
        None,
        f"not calibrated: the reference {ref.label} has no label column"
        + (f" {label_column!r}" if label_column else " (pass label_column=)")
        + f" and {loaded.version.ref} has no validation data",
    )
