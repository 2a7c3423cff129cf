"""The ``xgboost`` flavor: XGBoost scikit-learn wrappers and raw Boosters, in XGBoost's own
UBJSON format (no pickle).

The payload is ``model.ubj`` (``save_model``). A wrapper loads back into its own class with
``load_model``, so ``predict`` and ``predict_proba`` are XGBoost's. A raw ``Booster`` with a
``binary:logistic`` or ``multi:softprob`` objective predicts the classes ``0 .. k-1``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from loopml.core.errors import InvalidArgumentError, NotFittedError
from loopml.registry.flavors import import_library, is_from_library
from loopml.registry.flavors.base import Flavor, Predictor
from loopml.registry.flavors.lightgbm import BoosterPredictor
from loopml.registry.flavors.sklearn import SklearnPredictor

__all__ = ["UBJ_FILE", "XGBoostFlavor"]

#: The payload file.
UBJ_FILE = "model.ubj"
_PROBABILITY_OBJECTIVES = ("binary:logistic", "multi:softprob")


class _XGBModelPredictor(SklearnPredictor):
    """A wrapper fitted without feature names gets a NumPy array, else the DataFrame."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self._named = model.get_booster().feature_names is not None


def _booster_predictor(xgb: Any, booster: Any) -> BoosterPredictor:
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    named = booster.feature_names is not None

    def score(frame: pd.DataFrame) -> Any:
        return booster.predict(xgb.DMatrix(frame if named else frame.to_numpy()))

    classes: list[int] = []
    if objective in _PROBABILITY_OBJECTIVES:
        classes = list(range(max(int(learner["learner_model_param"]["num_class"]), 2)))
    return BoosterPredictor(score, classes=classes)


class XGBoostFlavor(Flavor):
    """``XGBClassifier``, ``XGBRegressor`` (and the other ``XGBModel`` wrappers) and
    ``xgboost.Booster``."""

    name: ClassVar[str] = "xgboost"
    libraries: ClassVar[tuple[str, ...]] = ("xgboost-cpu", "xgboost")
    extra: ClassVar[str | None] = "xgboost"
    uses_pickle: ClassVar[bool] = False

    def detect(self, model: object) -> bool:
        """Tell whether ``model`` is an XGBoost model (wrapper or Booster)."""
        if isinstance(model, type) or not is_from_library(model, "xgboost"):
            return False
        xgb = import_library("xgboost", flavor=self)
        return isinstance(model, (xgb.XGBModel, xgb.Booster))

    def check_fitted(self, model: Any) -> None:
        """Raise :class:`NotFittedError` when a wrapper is not fitted or a Booster is empty."""
        xgb = import_library("xgboost", flavor=self)
        if isinstance(model, xgb.XGBModel):
            if not model.__sklearn_is_fitted__():
                raise NotFittedError(
                    f"The XGBoost estimator {type(model).__name__} is not fitted: "
                    "call fit(X, y) before logging it."
                )
            return
        try:
            rounds = model.num_boosted_rounds()
        except xgb.core.XGBoostError:
            rounds = 0
        if rounds == 0:
            raise NotFittedError(
                "The XGBoost Booster has no trees: train it with xgboost.train(...) "
                "before logging it."
            )

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Save ``model`` in XGBoost's UBJSON format to ``model.ubj`` in ``folder``.

        Returns:
            ``{"estimator": qualified class name, "format": "ubj"}``.
        """
        kind = type(model)
        path = folder / UBJ_FILE
        try:
            model.save_model(str(path))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return {"estimator": f"{kind.__module__}.{kind.__qualname__}", "format": "ubj"}

    def load(
        self, folder: Path, details: Mapping[str, Any], *, trusted: Set[str] = frozenset()
    ) -> Predictor:
        """Load ``model.ubj`` into the recorded class and wrap it.

        Raises:
            InvalidArgumentError: The recorded estimator is not an XGBoost class.
        """
        xgb = import_library("xgboost", flavor=self)
        path = str(folder / UBJ_FILE)
        estimator = str(details.get("estimator", "xgboost.core.Booster"))
        module_name, _, class_name = estimator.rpartition(".")
        kind: Any = None
        if module_name.partition(".")[0] == "xgboost":
            kind = getattr(importlib.import_module(module_name), class_name, None)
        if not (isinstance(kind, type) and issubclass(kind, (xgb.XGBModel, xgb.Booster))):
            raise InvalidArgumentError(
                f"The 'estimator' of an xgboost model package must be an XGBoost model class. "
                f"Got {estimator!r} instead. The package was not written by the xgboost "
                "flavor: log the model again."
            )
        if issubclass(kind, xgb.Booster):
            return _booster_predictor(xgb, xgb.Booster(model_file=path))
        model = kind()
        model.load_model(path)
        return _XGBModelPredictor(model)

    def wrap(self, model: Any) -> Predictor:
        """Return the in-memory model as a :class:`Predictor`."""
        xgb = import_library("xgboost", flavor=self)
        if isinstance(model, xgb.Booster):
            return _booster_predictor(xgb, model)
        return _XGBModelPredictor(model)
