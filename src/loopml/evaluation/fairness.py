"""Fairness measures for declared sensitive columns, with fairlearn.

For a binary classifier and each sensitive column: demographic parity difference and ratio
(selection rates across groups) and equalized odds difference and ratio (true and false
positive rates across groups), plus each group's support, selection rate, TPR and FPR. A
numeric sensitive column with more than ``MAX_GROUPS`` values is cut into quartiles first
(said in the group names). Other tasks, a missing column or a single group give results with
``value=None`` and the reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities import FairnessResult

#: The measures reported for each sensitive column.
MEASURES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)
#: A numeric column with more distinct values than this is cut into quartiles.
MAX_GROUPS = 20


def _import_fairlearn() -> Any:
    try:
        import fairlearn.metrics as fm
    except ImportError as exc:  # pragma: no cover - fairlearn is in the evaluation extra
        raise ImportError(
            "Fairness measures need fairlearn. Install it with:\n    pip install "
            "'loopml[evaluation]'"
        ) from exc
    return fm


def _groups(series: pd.Series) -> pd.Series:
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and series.nunique(dropna=True) > MAX_GROUPS:
        binned = pd.qcut(series, 4, duplicates="drop")
        return binned.astype(str).where(series.notna(), "missing")
    return series.astype(str).where(series.notna(), "missing")


def _not_computable(columns: Sequence[str], reason: str) -> list[FairnessResult]:
    return [FairnessResult(c, m, None, reason=reason) for c in columns for m in MEASURES]


def fairness(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    task: str,
    y: np.ndarray,
    pred: np.ndarray,
) -> list[FairnessResult]:
    """Measure fairness over each sensitive column.

    Args:
        frame: The evaluated rows (holding the sensitive columns).
        columns: The sensitive columns.
        task: The model's task; only ``binary`` is measured.
        y: True class indices (1 is the positive class).
        pred: Predicted class indices.

    Returns:
        One result per column and measure, in order.
    """
    if not columns:
        return []
    if task != "binary":
        return _not_computable(
            columns, f"fairness measures need a binary classifier; this model is {task}"
        )
    fm = _import_fairlearn()
    out: list[FairnessResult] = []
    for column in columns:
        if column not in frame.columns:
            out.extend(_not_computable([column], f"column {column!r} is not in the dataset"))
            continue
        groups = _groups(frame[column]).to_numpy()
        if len(set(groups.tolist())) < 2:
            out.extend(
                _not_computable([column], f"column {column!r} has one group only on these rows")
            )
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fairlearn/narwhals deprecation chatter
            frame_metrics = fm.MetricFrame(
                metrics={
                    "selection_rate": fm.selection_rate,
                    "tpr": fm.true_positive_rate,
                    "fpr": fm.false_positive_rate,
                    "support": fm.count,
                },
                y_true=y,
                y_pred=pred,
                sensitive_features=groups,
            )
            by_group = frame_metrics.by_group
            table = {
                str(group): {
                    key: (None if pd.isna(value) else float(value)) for key, value in row.items()
                }
                for group, row in by_group.iterrows()
            }
            values = {
                "demographic_parity_difference": fm.demographic_parity_difference(
                    y, pred, sensitive_features=groups
                ),
                "demographic_parity_ratio": fm.demographic_parity_ratio(
                    y, pred, sensitive_features=groups
                ),
                "equalized_odds_difference": fm.equalized_odds_difference(
                    y, pred, sensitive_features=groups
                ),
                "equalized_odds_ratio": fm.equalized_odds_ratio(y, pred, sensitive_features=groups),
            }
        for measure in MEASURES:
            value = float(values[measure])
            if np.isnan(value):
                out.append(
                    FairnessResult(
                        column,
                        measure,
                        None,
                        table,
                        "undefined on these rows (a group has no positives or no negatives)",
                    )
                )
            else:
                out.append(FairnessResult(column, measure, value, table))
    return out
