"""Global feature importance of a registered version, recorded as an attachment of it.

Two methods, computed where the model is loaded (the embedded registry, or the remote SDK's
client: a server never unpickles a model) and recorded on the version with a
``model.explained`` event, as ONNX exports are:

- ``permutation``: scikit-learn's :func:`~sklearn.inspection.permutation_importance` on
  labelled rows (seeded; the drop of the score when a column is shuffled, with its spread
  over the repeats). Any model: it only predicts.
- ``shap``: the mean absolute SHAP value of each input column over the rows, for tree and
  linear models (:mod:`loopml.registry.contributions`); tree models other than XGBoost and
  LightGBM need ``shap`` installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.core.entities import (
    DatasetVersion,
    Event,
    FeatureImportance,
    ModelExplanation,
    ModelVersion,
    TaskKind,
)
from loopml.core.entities.explanations import EXPLANATION_METHODS
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.registry.contributions import RowExplainer, model_kind
from loopml.registry.labels import encode_labels

if TYPE_CHECKING:
    import pandas as pd

    from loopml.registry.loaded import LoadedModel
    from loopml.registry.service import ModelRegistry

#: Rows sampled (seeded) from the data by default.
DEFAULT_ROWS = 2000
#: Shuffles of each column by default.
DEFAULT_REPEATS = 5
#: Rows SHAP values are computed on, at most (tree explainers cost more per row).
SHAP_ROWS = 500

#: Called with (done, total) as the permutations are scored.
Progress = Callable[[int, int], None]

_log = logging.getLogger("loopml.registry")


def compute_explanations(
    registry: Any,
    version: ModelVersion,
    *,
    data: Any = None,
    target: str | None = None,
    methods: Sequence[str] | None = None,
    rows: int = DEFAULT_ROWS,
    repeats: int = DEFAULT_REPEATS,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[ModelExplanation]:
    """Compute the global importance of ``version``'s inputs (nothing is stored).

    Args:
        registry: Where the version is loaded and the dataset read (``load``, ``datasets``,
            ``actor``, ``now``): the registry, or its remote twin.
        version: The version.
        data: A dataset ref (``census-eval@1``), a :class:`DatasetVersion`, or a DataFrame
            holding the inputs and the target; default: the version's validation dataset.
        target: The label column; default: the dataset's declared target.
        methods: ``permutation`` and/or ``shap``; default: ``permutation``, plus ``shap``
            for tree and linear models where it can be computed.
        rows: Rows sampled (seeded) from the data, at most.
        repeats: Shuffles per column.
        seed: Seeds the sample and the shuffles.
        progress: Called with (done, total) as permutations are scored.

    Returns:
        One explanation per method, not yet recorded.

    Raises:
        InvalidArgumentError: Bad counts, an unknown method, no data (the version has no
            validation dataset), no target, no labelled rows, or ``shap`` asked for a model
            it does not cover.
    """
    wanted = _methods(methods)
    for label, value, least in (("rows", rows, 10), ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InvalidArgumentError(
                f"The {label!r} parameter of explain must be an int >= {least}. Got "
                f"{value!r} instead."
            )
    loaded = registry.load(version)
    frame, source, target = _rows(registry, version, data, target, rows=rows, seed=seed)
    inputs = loaded.prepare(frame)
    found = []
    if wanted is None or "permutation" in wanted:
        found.append(
            _permutation(
                loaded,
                inputs,
                frame[target],
                target=target,
                repeats=repeats,
                seed=seed,
                progress=progress,
            )
        )
    if (wanted is None and model_kind(loaded) is not None) or (wanted and "shap" in wanted):
        try:
            found.append(_shap(loaded, inputs, seed))
        except InvalidArgumentError:
            if wanted is not None:
                raise
            _log.info("No SHAP importance for %s (shap not installed?).", version.ref)
    at, actor = registry.now(), registry.actor
    return [
        ModelExplanation(
            explanation_id=new_event_id(),
            model=version.ref,
            method=method,
            dataset=source,
            rows=count,
            features=features,
            created_at=at,
            created_by=actor,
            details=details,
        )
        for method, count, features, details in found
    ]


def record_explanation(
    registry: ModelRegistry, version: ModelVersion, explanation: ModelExplanation
) -> ModelExplanation:
    """Record ``explanation`` of ``version`` with its ``model.explained`` event; who and when
    are the registry's (on a server, the token's user and the server's clock).

    Raises:
        InvalidArgumentError: It is of another version, its method is unknown, or its
            features are not the version's input columns.
        NotFoundError: Its dataset does not exist.
        AlreadyExistsError: Its id is taken.
    """
    if explanation.model != version.ref:
        raise InvalidArgumentError(
            f"The explanation is of {explanation.model}, not {version.ref}; record it on "
            "the version it explains."
        )
    _methods([explanation.method])
    names = {f.feature for f in explanation.features}
    inputs = set(version.signature.input_names)
    if names != inputs or len(names) != len(explanation.features):
        raise InvalidArgumentError(
            f"An explanation of {version.ref} must give each of its input columns once "
            f"({', '.join(sorted(inputs)[:10])}); got {len(explanation.features)} features "
            f"({', '.join(sorted(names - inputs)[:5]) or 'none'} unknown)."
        )
    if explanation.dataset is not None:
        registry.datasets.get(explanation.dataset)
    stamped = replace(explanation, created_at=registry.now(), created_by=registry.actor)
    top = [f.feature for f in stamped.features[:5]]
    event = Event(
        event_id=new_event_id(),
        kind="model.explained",
        subject=f"model:{version.ref}",
        actor=stamped.created_by,
        at=stamped.created_at,
        reason=f"{stamped.method} importance on {stamped.rows} rows; top: {', '.join(top)}",
        links={"dataset": stamped.dataset} if stamped.dataset else {},
        data={
            "explanation": stamped.explanation_id,
            "method": stamped.method,
            "rows": stamped.rows,
            "top": top,
        },
    )
    return registry.store.add_explanation(version.name, version.version, stamped, event=event)


def _methods(methods: Sequence[str] | None) -> set[str] | None:
    if methods is None:
        return None
    if isinstance(methods, str):
        methods = [methods]
    unknown = [m for m in methods if m not in EXPLANATION_METHODS]
    if unknown or not methods:
        raise InvalidArgumentError(
            f"The 'methods' parameter of explain must name some of "
            f"{', '.join(EXPLANATION_METHODS)}. Got {list(methods)!r} instead."
        )
    return set(methods)


def _rows(
    registry: Any, version: ModelVersion, data: Any, target: str | None, *, rows: int, seed: int
) -> tuple[pd.DataFrame, str | None, str]:
    """The labelled rows (a seeded sample of ``rows`` at most), their dataset's ref (None
    for a DataFrame) and the target column."""
    if data is None:
        if version.validation_data is None:
            raise InvalidArgumentError(
                f"Explaining {version.ref} needs labelled rows: it has no validation dataset, "
                "so pass data= (a dataset ref like 'credit-test@1' or a DataFrame; CLI: "
                "--data)."
            )
        data = version.validation_data
    source: str | None = None
    if isinstance(data, str | DatasetVersion):
        dataset = registry.datasets.get(data) if isinstance(data, str) else data
        frame = registry.datasets.read_table(dataset).to_pandas()
        source = dataset.ref
        target = target or dataset.schema.target
    else:
        frame = data
    if not target:
        raise InvalidArgumentError(
            f"Explaining {version.ref} needs the label column: pass target='...' (the "
            "dataset declares none)."
        )
    if target not in frame.columns:
        raise InvalidArgumentError(
            f"The target {target!r} is not a column of the rows ({source or 'DataFrame'}); "
            f"its columns are {', '.join(map(str, list(frame.columns)[:20]))}."
        )
    frame = frame[frame[target].notna()]
    if len(frame) > rows:
        frame = frame.sample(rows, random_state=seed)
    if len(frame) == 0:
        raise InvalidArgumentError(f"{source or 'The rows'} have no labelled rows to explain on.")
    return frame.reset_index(drop=True), source, target


class _Fitted:
    """A loaded version behind scikit-learn's estimator convention (``fit`` is a no-op)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    def fit(self, *_args: Any) -> _Fitted:
        return self


def _scorer(loaded: LoadedModel) -> tuple[str, Callable[[Any, Any, Any], float]]:
    """The score permutation importance measures the drop of, by task."""
    from sklearn import metrics

    task = loaded.signature.output.task
    if task is TaskKind.REGRESSION:
        return "r2", lambda _e, x, y: float(metrics.r2_score(y, loaded.raw.predict(x)))
    if task is TaskKind.BINARY and loaded.signature.output.has_proba:

        def auc(_e: Any, x: Any, y: Any) -> float:
            return float(metrics.roc_auc_score(y, np.asarray(loaded.raw.predict_proba(x))[:, 1]))

        return "roc_auc", auc

    def accuracy(_e: Any, x: Any, y: Any) -> float:
        predicted, _known, _unseen = encode_labels(
            _series(loaded.raw.predict(x)), tuple(loaded.classes)
        )
        return float(np.mean(predicted == y))

    return "accuracy", accuracy


def _series(values: Any) -> pd.Series:
    import pandas as pd

    return pd.Series(np.asarray(values).ravel())


def _permutation(
    loaded: LoadedModel,
    inputs: pd.DataFrame,
    labels: pd.Series,
    *,
    target: str,
    repeats: int,
    seed: int,
    progress: Progress | None,
) -> tuple[str, int, tuple[FeatureImportance, ...], dict[str, Any]]:
    from sklearn.inspection import permutation_importance

    if loaded.signature.output.task is TaskKind.REGRESSION:
        y = labels.to_numpy(dtype=float)
    else:
        y, known, _unseen = encode_labels(labels, tuple(loaded.classes))
        inputs, y = inputs[known].reset_index(drop=True), y[known]
        if len(y) == 0:
            raise InvalidArgumentError(
                f"No row's {target!r} is a class {loaded.version.ref} knows "
                f"({list(loaded.classes)[:10]})."
            )
    name, score = _scorer(loaded)
    total, done = 1 + repeats * inputs.shape[1], [0]

    def counted(estimator: Any, x: Any, yy: Any) -> float:
        value = score(estimator, x, yy)
        done[0] += 1
        if progress is not None:
            progress(done[0], total)
        return value

    try:  # the model's own code: what it raises is the model failing on these rows
        baseline = score(None, inputs, y)
        result = permutation_importance(
            _Fitted(loaded), inputs, y, scoring=counted, n_repeats=repeats, random_state=seed
        )
    except Exception as exc:
        raise InvalidArgumentError(
            f"Model {loaded.version.ref} fails on the rows to explain ({type(exc).__name__}: "
            f"{exc}); explain it on rows it can score (data=...)."
        ) from exc
    features = tuple(
        FeatureImportance(str(c), float(m), float(s))
        for c, m, s in zip(
            inputs.columns, result.importances_mean, result.importances_std, strict=True
        )
    )
    details = {
        "scoring": name,
        "baseline_score": baseline,
        "repeats": repeats,
        "seed": seed,
        "target": target,
    }
    return "permutation", len(y), _ranked(features), details


def _shap(
    loaded: LoadedModel, inputs: pd.DataFrame, seed: int
) -> tuple[str, int, tuple[FeatureImportance, ...], dict[str, Any]]:
    explainer = RowExplainer(loaded, background=inputs)
    rows = inputs if len(inputs) <= SHAP_ROWS else inputs.sample(SHAP_ROWS, random_state=seed)
    found = explainer.explain(rows)
    magnitude = np.abs(found.values)
    features = tuple(
        FeatureImportance(f, float(m), float(s))
        for f, m, s in zip(found.features, magnitude.mean(0), magnitude.std(0), strict=True)
    )
    details = {"explainer": found.method, "output": found.explained, "kind": found.kind}
    return "shap", len(rows), _ranked(features), details


def _ranked(features: Sequence[FeatureImportance]) -> tuple[FeatureImportance, ...]:
    return tuple(sorted(features, key=lambda f: (-f.importance, f.feature)))
