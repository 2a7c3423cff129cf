"""The ``sklearn`` flavor: scikit-learn estimators and Pipelines, saved with (cloud)pickle.

The payload is ``model.pkl`` (pickle protocol 5). Loading it unpickles, which runs code: the
registry verifies the payload's hash before it calls :meth:`SklearnFlavor.load`.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError, NotFittedError
from loopml.registry.flavors import import_library, is_from_library
from loopml.registry.flavors.base import Flavor, Predictor

__all__ = ["PICKLE_FILE", "SklearnFlavor", "SklearnPredictor", "plain_classes"]

#: The payload file.
PICKLE_FILE = "model.pkl"


def plain_classes(classes: Any) -> tuple[Any, ...]:
    """Return class labels as a tuple of plain Python scalars (``np.int64(1)`` -> ``1``).

    Args:
        classes: A sequence of labels (``classes_``), or None.

    Returns:
        The labels; empty when ``classes`` is None.

    Example:
        >>> plain_classes(np.array([0, 1]))
        (0, 1)
    """
    if classes is None:
        return ()
    return tuple(c.item() if isinstance(c, np.generic) else c for c in classes)


def _qualified_name(model: object) -> str:
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"


#: Classifiers whose ``predict`` is not the argmax of their ``predict_proba``.
_DECISION_NOT_PROBA = frozenset({"SVC", "NuSVC"})


class SklearnPredictor:
    """A fitted scikit-learn estimator behind the :class:`Predictor` convention.

    The frame is passed as a DataFrame when the estimator was fitted on one (it has
    ``feature_names_in_``), else as a NumPy array.

    Args:
        model: A fitted scikit-learn estimator or Pipeline.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes: tuple[Any, ...] = plain_classes(getattr(model, "classes_", None))
        self._named = hasattr(model, "feature_names_in_")

    def _input(self, frame: pd.DataFrame) -> Any:
        return frame if self._named else frame.to_numpy()

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return one prediction per row."""
        result = np.asarray(self.model.predict(self._input(frame)))
        return result.ravel() if result.ndim == 2 and result.shape[1] == 1 else result

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Return class probabilities, or None when the estimator has no ``predict_proba``."""
        if not hasattr(self.model, "predict_proba"):
            return None
        return np.asarray(self.model.predict_proba(self._input(frame)))

    def predict_with_proba(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and probabilities from one pass of the model when its ``predict`` is
        the most probable class (every scikit-learn classifier but SVC/NuSVC, whose Platt
        probabilities may disagree with their decision); else two calls."""
        if not (hasattr(self.model, "predict_proba") and self.classes and self._argmax_safe()):
            return self.predict(frame), self.predict_proba(frame)
        proba = np.asarray(self.model.predict_proba(self._input(frame)))
        labels = np.asarray(getattr(self.model, "classes_", self.classes))
        return labels[proba.argmax(axis=1)], proba

    def _argmax_safe(self) -> bool:
        final = self.model
        while hasattr(final, "steps"):  # a Pipeline (or nested ones): its last step decides
            final = final.steps[-1][1]
        return type(final).__name__ not in _DECISION_NOT_PROBA


class SklearnFlavor(Flavor):
    """scikit-learn estimators and Pipelines (anything deriving ``BaseEstimator`` with a
    ``predict`` method), pickled."""

    name: ClassVar[str] = "sklearn"
    libraries: ClassVar[tuple[str, ...]] = ("scikit-learn",)
    extra: ClassVar[str | None] = "sklearn"
    uses_pickle: ClassVar[bool] = True

    def detect(self, model: object) -> bool:
        """Tell whether ``model`` is a scikit-learn estimator with a ``predict`` method."""
        if isinstance(model, type) or not is_from_library(model, "sklearn"):
            return False
        base = import_library("sklearn.base", flavor=self)
        return isinstance(model, base.BaseEstimator) and callable(getattr(model, "predict", None))

    def check_fitted(self, model: Any) -> None:
        """Raise :class:`NotFittedError` when the estimator is not fitted."""
        validation = import_library("sklearn.utils.validation", flavor=self)
        exceptions = import_library("sklearn.exceptions", flavor=self)
        try:
            validation.check_is_fitted(model)
        except exceptions.NotFittedError as exc:
            raise NotFittedError(
                f"The scikit-learn estimator {type(model).__name__} is not fitted: "
                "call fit(X, y) before logging it."
            ) from exc

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Pickle ``model`` to ``model.pkl`` in ``folder``.

        Returns:
            ``{"estimator": qualified class name, "format": "pickle"}``.

        Raises:
            InvalidArgumentError: The estimator cannot be pickled (a lambda or a class
                defined in ``__main__`` inside it); nothing is left in ``folder``.
        """
        cloudpickle = import_library("cloudpickle", flavor=self)
        path = folder / PICKLE_FILE
        try:
            with path.open("wb") as file:
                # cloudpickle: classes and functions defined in a script or notebook inside
                # the pipeline (a custom transformer, a FunctionTransformer's lambda) are saved
                # by value and load in another process; importable ones stay references.
                cloudpickle.dump(model, file, protocol=5)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            path.unlink(missing_ok=True)
            raise InvalidArgumentError(
                f"The scikit-learn estimator {type(model).__name__} cannot be pickled: {exc}. "
                "Remove what cannot be pickled (open files, locks, connections) from it, or "
                "wrap it in a loopml PythonModel that rebuilds them in load()."
            ) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return {"estimator": _qualified_name(model), "format": "pickle"}

    def load(
        self, folder: Path, details: Mapping[str, Any], *, trusted: Set[str] = frozenset()
    ) -> Predictor:
        """Unpickle ``model.pkl`` (its hash already verified) and wrap it."""
        import_library("sklearn", flavor=self)
        with (folder / PICKLE_FILE).open("rb") as file:
            model = pickle.load(file)  # the payload hash was verified by the caller
        return SklearnPredictor(model)

    def wrap(self, model: Any) -> Predictor:
        """Return the in-memory estimator as a :class:`Predictor`."""
        return SklearnPredictor(model)
