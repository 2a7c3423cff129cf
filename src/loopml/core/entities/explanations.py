"""Explanation entities: the global feature importance recorded on a model version.

An explanation is an attachment of an immutable :class:`~loopml.core.entities.ModelVersion`,
as its ONNX exports are: computed once on some rows (a dataset version's, or the caller's),
recorded with who computed it, when and how, and never changed. A version may carry several
(one per method, or one per dataset); readers take the newest of the method they want.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.jsonable import Jsonable

#: The methods of a global explanation: permutation importance (any model) and the mean
#: absolute SHAP value (tree and linear models, where ``shap`` is installed).
EXPLANATION_METHODS = ("permutation", "shap")


@dataclass(frozen=True)
class FeatureImportance(Jsonable):
    """How much one input column matters to a model, globally.

    Attributes:
        feature: The input column (a name of the version's signature).
        importance: For ``permutation``, the mean drop of the score when the column is
            shuffled (in the score's units; can be slightly negative for a useless column);
            for ``shap``, the mean absolute SHAP value over the rows (in the model output's
            units: log-odds for a classifier's trees, the target's units for a regressor).
        spread: The standard deviation over the repeats (``permutation``), or over the rows
            of the absolute SHAP values (``shap``).
    """

    feature: str
    importance: float
    spread: float = 0.0


@dataclass(frozen=True)
class ModelExplanation(Jsonable):
    """The global feature importance of a model version, computed on some rows.

    Attributes:
        explanation_id: 32 hex digits.
        model: The version explained (``name@version``).
        method: ``permutation`` or ``shap`` (:data:`EXPLANATION_METHODS`).
        dataset: The dataset version the rows came from (``census-eval@1``), or None for rows
            the caller passed.
        rows: How many rows it was computed on.
        features: Every input column, most important first.
        created_at: Milliseconds since the epoch.
        created_by: Who computed it.
        details: How (JSON-ready): for ``permutation`` the ``scoring``, its
            ``baseline_score``, ``repeats``, ``seed`` and ``target``; for ``shap`` the
            ``explainer`` and the ``output`` explained.
    """

    explanation_id: str
    model: str
    method: str
    dataset: str | None
    rows: int
    features: tuple[FeatureImportance, ...]
    created_at: int
    created_by: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def top(self, count: int = 10) -> tuple[FeatureImportance, ...]:
        """The ``count`` most important features."""
        return self.features[:count]
