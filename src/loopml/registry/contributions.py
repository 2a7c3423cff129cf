"""Per-row feature contributions of tree and linear models, per input column.

A row's prediction is split into a base value plus one contribution per input column of the
version's signature (they add up to the model's raw output for the row: the margin, i.e. the
log-odds of a binary classifier's positive class, or the predicted value of a regressor):

- **linear** models (an estimator with ``coef_`` and ``intercept_``, at the end of a
  scikit-learn pipeline or alone): the exact ``coef * (x - mean)``, the mean taken over
  background rows; no ``shap`` needed;
- **tree** models: XGBoost's and LightGBM's own TreeSHAP (``pred_contribs``), or
  ``shap.TreeExplainer`` for scikit-learn's trees and ensembles where ``shap`` is installed.

When the model is a pipeline, the last step is explained on the rows the steps before it
produce, and the contributions of the columns a step derives from one input column (one-hot
columns, say) are added up into that column's, found from the steps' output feature names.
A multiclass model is explained for one class per row (the predicted one).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pandas as pd

    from loopml.registry.loaded import LoadedModel

#: The kinds of model explained per row.
Kind = Literal["linear", "tree"]
#: What is supported, for messages.
SUPPORTED = (
    "linear models (scikit-learn estimators with coef_, alone or at the end of a pipeline) "
    "and tree models (XGBoost, LightGBM; scikit-learn trees and ensembles with 'shap' "
    "installed: pip install 'loopml[explain]')"
)
_TREE_MODULES = ("sklearn.tree", "sklearn.ensemble", "xgboost", "lightgbm")


@dataclass(frozen=True)
class Contributions:
    """Contributions of each input column to each row's raw output.

    Attributes:
        features: The input columns, in the signature's order.
        values: ``(rows, features)`` contributions.
        base: ``(rows,)`` base values (the same for every row but for a multiclass model,
            whose explained class may differ per row).
        explained: What the values add up to with the base, per row: ``margin`` (a
            classifier's log-odds) or ``value`` (a regressor's prediction).
        classes: The class each row is explained for (classification), else empty.
        kind: ``linear`` or ``tree``.
        method: How: ``coef*(x-mean)``, ``xgboost pred_contribs``, ``lightgbm pred_contrib``
            or ``shap.TreeExplainer``.
    """

    features: tuple[str, ...]
    values: np.ndarray
    base: np.ndarray
    explained: str
    classes: tuple[Any, ...]
    kind: Kind
    method: str


def _split(model: Any) -> tuple[Any, Any]:
    """The steps before the last one (None: none) and the last estimator."""
    if hasattr(model, "steps") and len(model.steps) > 1:
        return model[:-1], model.steps[-1][1]
    if hasattr(model, "steps"):
        return None, model.steps[-1][1]
    return None, model


def model_kind(loaded: LoadedModel) -> Kind | None:
    """``linear``, ``tree`` or None (not explained per row) for a loaded version."""
    model = getattr(loaded.raw, "model", None)
    if model is None:
        return None
    _prep, final = _split(model)
    if hasattr(final, "coef_") and hasattr(final, "intercept_"):
        return "linear"
    module = type(final).__module__
    if module.startswith(_TREE_MODULES):
        return "tree"
    return None


def unsupported(loaded: LoadedModel) -> InvalidArgumentError:
    """The error for a version that is not explained per row, naming what is."""
    model = getattr(loaded.raw, "model", None)
    what = type(_split(model)[1]).__name__ if model is not None else loaded.version.flavor
    return InvalidArgumentError(
        f"Model {loaded.version.ref} is a {what}; per-prediction explanations support "
        f"{SUPPORTED}. Its global importance (permutation) works for any model: "
        f"`loopml models explain {loaded.version.ref}`."
    )


class RowExplainer:
    """Explains rows of one loaded version; built once per version (a tree explainer and
    the linear background mean are kept).

    Args:
        loaded: The version.
        background: Rows to take the linear model's mean over (the model's input frame);
            needed for linear models only.

    Raises:
        InvalidArgumentError: The model is neither linear nor a tree model, a scikit-learn
            tree without ``shap`` installed, a linear model without background rows, or a
            pipeline whose steps' output columns cannot be traced back to input columns.
    """

    def __init__(self, loaded: LoadedModel, *, background: pd.DataFrame | None = None) -> None:
        kind = model_kind(loaded)
        if kind is None:
            raise unsupported(loaded)
        self.loaded = loaded
        self.kind: Kind = kind
        self._prep, self._final = _split(getattr(loaded.raw, "model", None))
        self.features = tuple(loaded.signature.input_names)
        self._groups: np.ndarray | None = None
        self._mean: np.ndarray | None = None
        self._shap: Any = None
        module = type(self._final).__module__
        if kind == "linear":
            if background is None or len(background) == 0:
                raise InvalidArgumentError(
                    f"Explaining the linear model {loaded.version.ref} needs background rows "
                    "for the features' means: register it with training_data= or "
                    "validation_data=, or pass background rows."
                )
            self._mean = _dense(self._transform(loaded.prepare(background))).mean(0)
            self.method = "coef*(x-mean)"
        elif module.startswith("xgboost"):
            self.method = "xgboost pred_contribs"
        elif module.startswith("lightgbm"):
            self.method = "lightgbm pred_contrib"
        else:
            if importlib.util.find_spec("shap") is None:
                raise InvalidArgumentError(
                    f"Explaining the {type(self._final).__name__} of {loaded.version.ref} "
                    "needs shap's TreeExplainer: pip install 'loopml[explain]'. (XGBoost and "
                    "LightGBM models and linear models need no shap.)"
                )
            shap = _import_shap()
            try:
                self._shap = shap.TreeExplainer(self._final)
            except Exception as exc:  # shap's own refusal of a model type
                raise InvalidArgumentError(
                    f"shap's TreeExplainer cannot explain the {type(self._final).__name__} "
                    f"of {loaded.version.ref}: {exc}. Per-prediction explanations support "
                    f"{SUPPORTED}."
                ) from None
            self.method = "shap.TreeExplainer"

    def _transform(self, frame: pd.DataFrame) -> Any:
        if self._prep is None:
            return frame if hasattr(self._final, "feature_names_in_") else frame.to_numpy()
        return self._prep.transform(frame)

    def _group_matrix(self, width: int) -> np.ndarray:
        """``(width, features)``: which input column each transformed column comes from."""
        if self._groups is not None and self._groups.shape[0] == width:
            return self._groups
        groups = np.zeros((width, len(self.features)))
        if self._prep is None and width == len(self.features):
            groups[np.arange(width), np.arange(width)] = 1.0
        else:
            for i, owner in enumerate(_owners(self._prep, self.features, width)):
                groups[i, self.features.index(owner)] = 1.0
        self._groups = groups
        return groups

    def explain(self, frame: pd.DataFrame) -> Contributions:
        """Explain the rows of ``frame`` (the model's input columns; checked against the
        signature first)."""
        rows = self.loaded.prepare(frame)
        transformed = self._transform(rows)
        matrix = _dense(transformed)
        classes = tuple(self.loaded.classes)
        values, base = self._raw_values(transformed, matrix)
        # values: (n, width) or (n, width, k); base: scalar, (k,) or (n,)
        picked: tuple[Any, ...] = ()
        if values.ndim == 3:  # one set per class: explain each row's predicted class
            n, k = len(rows), values.shape[2]
            bases = np.broadcast_to(np.asarray(base, float), (n, k))
            choice = (values.sum(axis=1) + bases).argmax(axis=1)
            values = values[np.arange(n), :, choice]
            base = bases[np.arange(n), choice]
            picked = tuple(classes[i] for i in choice) if classes else ()
        elif classes:
            picked = (classes[-1],) * len(rows)
        per_input = values @ self._group_matrix(values.shape[1])
        return Contributions(
            features=self.features,
            values=per_input,
            base=np.broadcast_to(np.asarray(base, float), (len(rows),)).copy(),
            explained=self._explained(bool(classes)),
            classes=picked,
            kind=self.kind,
            method=self.method,
        )

    def _explained(self, classifier: bool) -> str:
        output = getattr(getattr(self._shap, "model", None), "tree_output", None)
        if output == "probability":
            return "probability"
        return "margin" if classifier else "value"

    def _raw_values(self, transformed: Any, matrix: np.ndarray) -> tuple[np.ndarray, Any]:
        final = self._final
        if self.kind == "linear":
            assert self._mean is not None
            coef = np.atleast_2d(np.asarray(final.coef_, float))
            centred = matrix - self._mean
            values = centred[:, :, None] * coef.T[None, :, :]  # (n, width, k)
            base = self._mean @ coef.T + np.atleast_1d(final.intercept_)
            if coef.shape[0] == 1:
                return values[:, :, 0], base[0]
            return values, base
        if self.method == "xgboost pred_contribs":
            import xgboost

            raw = final.get_booster().predict(xgboost.DMatrix(transformed), pred_contribs=True)
            return _bias_last(np.asarray(raw, float))
        if self.method == "lightgbm pred_contrib":
            raw = final.predict(transformed, pred_contrib=True)
            return _lightgbm(np.asarray(raw, float), matrix.shape[1])
        explanation = self._shap(matrix, check_additivity=False)
        values = np.asarray(explanation.values, float)
        base = np.asarray(explanation.base_values, float)
        if values.ndim == 3 and values.shape[2] == 2:  # binary with one set per class
            return values[:, :, 1], base[..., 1] if base.ndim else base
        if values.ndim == 3:
            return values, base
        return values, base


def _import_shap() -> Any:
    """``shap``, imported without the deprecation warnings its plotting module's import
    raises with newer matplotlib (loopml never plots with it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    return shap


def _bias_last(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """XGBoost's ``(n, width + 1)`` or ``(n, k, width + 1)`` into values and base."""
    if raw.ndim == 3:
        return np.transpose(raw[:, :, :-1], (0, 2, 1)), raw[:, :, -1]
    return raw[:, :-1], raw[:, -1]


def _lightgbm(raw: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """LightGBM's ``(n, k * (width + 1))`` into values and base."""
    k = raw.shape[1] // (width + 1)
    if k == 1:
        return raw[:, :-1], raw[:, -1]
    shaped = raw.reshape(len(raw), k, width + 1)
    return np.transpose(shaped[:, :, :-1], (0, 2, 1)), shaped[:, :, -1]


def _dense(transformed: Any) -> np.ndarray:
    if hasattr(transformed, "toarray"):
        transformed = transformed.toarray()
    if hasattr(transformed, "to_numpy"):
        transformed = transformed.to_numpy()
    return np.asarray(transformed, dtype=float)


def _owners(prep: Any, features: tuple[str, ...], width: int) -> list[str]:
    """The input column each of the ``width`` columns ``prep`` outputs comes from, read from
    its output feature names (``cat__city_paris`` comes from ``city``)."""
    try:
        names = [str(n) for n in prep.get_feature_names_out(list(features))]
    except Exception as exc:  # a step without get_feature_names_out
        raise InvalidArgumentError(
            "The pipeline's steps before its model do not name their output columns "
            f"(get_feature_names_out failed: {exc}), so contributions cannot be traced back "
            f"to input columns. Per-prediction explanations support {SUPPORTED}, with "
            "preprocessing steps that name their outputs (scikit-learn's transformers do)."
        ) from None
    if len(names) != width:
        raise InvalidArgumentError(
            f"The pipeline's steps name {len(names)} output columns but produce {width}; "
            "contributions cannot be traced back to input columns."
        )
    by_length = sorted(features, key=len, reverse=True)
    owners = []
    for name in names:
        tail = name.split("__", 1)[1] if "__" in name else name
        owner = next(
            (f for f in by_length if tail == f or tail.startswith(f"{f}_")),
            None,
        )
        if owner is None:
            raise InvalidArgumentError(
                f"The pipeline's output column {name!r} cannot be traced back to one of the "
                f"input columns ({', '.join(features[:10])}); contributions need each output "
                "column named after the input it comes from."
            )
        owners.append(owner)
    return owners
