"""The ``lightgbm`` flavor: LightGBM scikit-learn wrappers and raw Boosters, in LightGBM's
own text format (no pickle).

The payload is ``model.txt`` (``Booster.save_model``). A saved ``LGBMClassifier`` loads as a
Booster whose probabilities are turned into labels exactly as ``LGBMClassifier.predict``
does: ``classes[argmax(proba)]``, with the classes (strings allowed) kept in the details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError, NotFittedError
from loopml.registry.flavors import import_library, is_from_library
from loopml.registry.flavors.base import Flavor, Predictor
from loopml.registry.flavors.sklearn import SklearnPredictor, plain_classes

__all__ = ["TEXT_FILE", "BoosterPredictor", "LightGBMFlavor"]

#: The payload file.
TEXT_FILE = "model.txt"
_JSON_SCALARS = (str, int, float, bool)


class BoosterPredictor:
    """A gradient-boosted model known only by its scores, behind the :class:`Predictor`
    convention.

    With ``classes``, the scores are probabilities (1-D: the positive class of a binary
    model; rows x classes: a multiclass model) and ``predict`` returns
    ``classes[argmax(proba)]``. Without, ``predict`` returns the scores.

    Args:
        score: Returns the library's raw ``predict`` output for a frame.
        classes: The class labels, in the order of the probability columns.
    """

    def __init__(self, score: Callable[[pd.DataFrame], Any], *, classes: Sequence[Any]) -> None:
        self._score = score
        self.classes: tuple[Any, ...] = tuple(classes)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return one prediction per row."""
        proba = self.predict_proba(frame)
        if proba is None:
            result = np.asarray(self._score(frame))
            return result.ravel() if result.ndim == 2 and result.shape[1] == 1 else result
        labels: np.ndarray = np.asarray(self.classes)[np.argmax(proba, axis=1)]
        return labels

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Return class probabilities (rows x classes), or None for a regressor or ranker."""
        if not self.classes:
            return None
        scores = np.asarray(self._score(frame), dtype=np.float64)
        if scores.ndim == 1:
            return np.column_stack([1.0 - scores, scores])
        return scores


def _classifier_objective(objective: str) -> bool:
    return objective.startswith(("binary", "multiclass", "softmax", "multiclassova", "ova"))


class LightGBMFlavor(Flavor):
    """``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker`` and ``lightgbm.Booster``."""

    name: ClassVar[str] = "lightgbm"
    libraries: ClassVar[tuple[str, ...]] = ("lightgbm",)
    extra: ClassVar[str | None] = "lightgbm"
    uses_pickle: ClassVar[bool] = False

    def detect(self, model: object) -> bool:
        """Tell whether ``model`` is a LightGBM model (wrapper or Booster)."""
        if isinstance(model, type) or not is_from_library(model, "lightgbm"):
            return False
        lgb = import_library("lightgbm", flavor=self)
        return isinstance(model, (lgb.LGBMModel, lgb.Booster))

    def check_fitted(self, model: Any) -> None:
        """Raise :class:`NotFittedError` when a wrapper is not fitted."""
        lgb = import_library("lightgbm", flavor=self)
        if isinstance(model, lgb.LGBMModel) and not model.__sklearn_is_fitted__():
            raise NotFittedError(
                f"The LightGBM estimator {type(model).__name__} is not fitted: "
                "call fit(X, y) before logging it."
            )

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Save the booster in LightGBM's text format to ``model.txt`` in ``folder``.

        Returns:
            ``{"estimator", "format": "text", "objective", "classes"}``: the qualified class
            name, the objective's name and the class labels (empty for regressors).

        Raises:
            InvalidArgumentError: The model has a custom objective function, or class labels
                that are not JSON scalars.
        """
        lgb = import_library("lightgbm", flavor=self)
        kind = type(model)
        estimator = f"{kind.__module__}.{kind.__qualname__}"
        if isinstance(model, lgb.LGBMModel):
            booster = model.booster_
            objective = model.objective_
            classes = plain_classes(getattr(model, "classes_", None))
        else:
            booster = model
            objective = booster.params.get("objective", "regression")
            classes = ()
        if not isinstance(objective, str):
            raise InvalidArgumentError(
                f"The LightGBM model {kind.__name__} has a custom objective function "
                f"({objective!r}); its text format cannot reproduce the predictions. "
                "Wrap the model in a loopml PythonModel to log it with the generic flavor."
            )
        bad = [c for c in classes if not isinstance(c, _JSON_SCALARS)]
        if bad:
            raise InvalidArgumentError(
                f"The class labels of the LightGBM model {kind.__name__} must be strings, "
                f"integers, floats or booleans. Got {bad[0]!r} ({type(bad[0]).__name__}) "
                "instead. Encode the labels as strings or integers before fitting."
            )
        path = folder / TEXT_FILE
        try:
            booster.save_model(str(path))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return {
            "estimator": estimator,
            "format": "text",
            "objective": objective,
            "classes": list(classes),
        }

    def load(
        self, folder: Path, details: Mapping[str, Any], *, trusted: Set[str] = frozenset()
    ) -> Predictor:
        """Load ``model.txt`` into a ``lightgbm.Booster`` and wrap it.

        A raw binary or multiclass Booster gets the classes ``0 .. k-1``.
        """
        lgb = import_library("lightgbm", flavor=self)
        booster = lgb.Booster(model_file=str(folder / TEXT_FILE))
        classes: list[Any] = list(details.get("classes") or [])
        objective = str(details.get("objective") or booster.params.get("objective", ""))
        if (
            not classes
            and _classifier_objective(objective)
            and "Ranker" not in str(details.get("estimator", ""))
        ):
            outputs = int(booster.num_model_per_iteration())
            classes = list(range(max(outputs, 2)))
        return BoosterPredictor(booster.predict, classes=classes)

    def wrap(self, model: Any) -> Predictor:
        """Return the in-memory model as a :class:`Predictor`."""
        lgb = import_library("lightgbm", flavor=self)
        if isinstance(model, lgb.LGBMModel):
            return SklearnPredictor(model)
        objective = str(model.params.get("objective", ""))
        classes: list[Any] = []
        if _classifier_objective(objective):
            classes = list(range(max(int(model.num_model_per_iteration()), 2)))
        return BoosterPredictor(model.predict, classes=classes)
