"""``loopml.models``: register, find, review, move, roll back and load model versions.

Example:
    >>> import loopml
    >>> v = loopml.models.register(model, "credit-default", input_example=X.head(),
    ...                            training_data="credit@3")  # doctest: +SKIP
    >>> loopml.models.approve(v.ref, comment="beats the champion on every slice")  # doctest: +SKIP
    >>> loopml.models.set_alias("credit-default", "champion", v.version)  # doctest: +SKIP
    >>> model = loopml.models.load("credit-default@champion")  # doctest: +SKIP
    >>> model.predict_proba(new_rows)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from loopml.client.fluent import _get_client, active_run
from loopml.core.entities import (
    AliasMove,
    DatasetVersion,
    ModelExplanation,
    ModelManifest,
    ModelVersion,
    RegisteredModel,
)
from loopml.registry import Lineage, LoadedModel, PythonModel
from loopml.registry.loaded import RuntimeChoice

if TYPE_CHECKING:
    from loopml.governance.cards import ModelCard

__all__ = [
    "LoadedModel",
    "PythonModel",
    "alias_history",
    "approve",
    "card",
    "explain",
    "explanations",
    "export_onnx",
    "get",
    "lineage",
    "list_models",
    "load",
    "manifest",
    "models_from_dataset",
    "register",
    "reject",
    "remove_alias",
    "rollback",
    "set_alias",
    "versions",
]


def register(
    model: Any,
    name: str,
    *,
    input_example: Any = None,
    training_data: DatasetVersion | str | None = None,
    validation_data: DatasetVersion | str | None = None,
    flavor: str | None = None,
    description: str = "",
    tags: Mapping[str, Any] | None = None,
    code_commit: str | None = None,
    trusted_types: Sequence[str] = (),
) -> ModelVersion:
    """Register ``model`` as the next immutable version of ``name``.

    The options are defined once, in :class:`~loopml.registry.RegisterOptions`; this function,
    ``ModelRegistry.register`` and ``ActiveRun.log_model`` take them as the same keywords.

    The flavor is detected (scikit-learn estimators and Pipelines, XGBoost, LightGBM, ONNX,
    or any object with ``predict`` / a :class:`PythonModel`); ``flavor="skops"`` saves a
    scikit-learn model in skops' format instead of a pickle. The signature (input columns,
    types, roles, known categories; output type and class labels) is inferred from
    ``input_example`` and, where the columns are in it, from the training dataset's schema.
    Before anything is stored, the model must accept the example and its saved package must
    predict exactly like the object. Inside an active run, the version records the run, its
    code commit, and the datasets as the run's inputs.

    Args:
        model: A fitted model.
        name: Registered model name (letters, digits, ``_ - .``).
        input_example: A few input rows (DataFrame, dict of columns, records, Arrow table),
            without the target.
        training_data: The dataset version it was trained on (``credit@3``); its schema
            fills the signature and its profile is the reference monitoring compares to.
        validation_data: The dataset version it was validated on.
        flavor: Force a flavor by name instead of detecting it (``"skops"`` for a
            scikit-learn model that loads without running untrusted code).
        description: Free text.
        tags: Free key/value labels.
        code_commit: The code's git commit (default: the run's).
        trusted_types: With ``flavor="skops"``: the types (qualified names) the model needs
            beyond skops' defaults, declared trusted by you. Recorded in the manifest for
            reviewers; loaders still trust only their own list (see :func:`load`).

    Returns:
        The version (``version.ref`` is ``name@N``), pending approval.

    Raises:
        InvalidArgumentError: A bad name, an unsupported object (the message lists the
            flavors), no way to infer the signature, or an example the model rejects.
        NotFittedError: The estimator is not fitted.
        NotFoundError: A dataset version or the run does not exist.
    """
    run = active_run()
    return _get_client().models.register(
        model,
        name,
        input_example=input_example,
        training_data=training_data,
        validation_data=validation_data,
        run_id=None if run is None else run.run_id,
        flavor=flavor,
        description=description,
        tags=tags,
        code_commit=code_commit,
        trusted_types=trusted_types,
    )


def load(
    ref: str,
    *,
    runtime: RuntimeChoice = "native",
    unseen: str = "allow",
    extra: str = "drop",
    trusted_types: Sequence[str] = (),
) -> LoadedModel:
    """Load a version by ``name@3``, ``name@champion``, ``name@latest`` or ``name``.

    Every package file is checked against its manifest's SHA-256 before anything is
    deserialized; a changed byte raises :class:`~loopml.core.errors.ArtifactIntegrityError`
    naming the file. Loaded models are cached per process: loading again costs one metadata
    lookup.

    Args:
        ref: The version.
        runtime: ``native`` (the model's own library), ``onnx`` (its checked ONNX export),
            or ``auto`` (the ONNX export when there is one and onnxruntime is installed;
            :attr:`LoadedModel.runtime` says which was chosen).
        unseen: Categories not seen in training: ``allow`` (the model decides), ``error``,
            or ``null`` (treated as missing).
        extra: Input columns the model does not take: ``drop`` or ``error``.
        trusted_types: Types (qualified names) a ``skops`` model may hold beyond skops'
            defaults, trusted by you for this load, on top of ``LOOPML_TRUSTED_TYPES``. The
            types the registrant declared are never trusted on their own.

    Returns:
        A :class:`LoadedModel`: ``predict(data)`` returns a 1-D array, ``predict_proba(data)``
        a DataFrame with one column per class.

    Raises:
        UntrustedTypesError: A ``skops`` model names types neither skops nor this loader
            trusts (``error.types``); nothing of it was imported or run.
        ArtifactIntegrityError: A package file changed after registration.
    """
    return _get_client().models.load(
        ref, runtime=runtime, unseen=unseen, extra=extra, trusted_types=trusted_types
    )


def get(ref: str) -> ModelVersion:
    """Return the version a ref names."""
    return _get_client().models.get(ref)


def list_models() -> list[RegisteredModel]:
    """Return every registered model, with version counts and aliases."""
    return _get_client().models.list_models()


def versions(name: str) -> list[ModelVersion]:
    """Return every version of a model, oldest first."""
    return _get_client().models.versions(name)


def manifest(ref: str) -> ModelManifest:
    """Return a version's package manifest (flavor, library versions, requirements, files)."""
    return _get_client().models.manifest(ref)


def set_alias(name: str, alias: str, version: int, *, reason: str = "") -> AliasMove:
    """Point ``alias`` at ``name@version``; the move is an event with who, when and why.
    ``champion`` takes approved versions only (unless ``allow_unapproved_champion``)."""
    return _get_client().models.set_alias(name, alias, version, reason=reason)


def remove_alias(name: str, alias: str, *, reason: str = "") -> AliasMove:
    """Remove an alias (recorded as an event)."""
    return _get_client().models.remove_alias(name, alias, reason=reason)


def alias_history(name: str, alias: str | None = None) -> list[AliasMove]:
    """Return the moves of a model's aliases (or one alias), oldest first."""
    return _get_client().models.alias_history(name, alias)


def rollback(name: str, *, reason: str, alias: str = "champion") -> AliasMove:
    """Move ``champion`` (or ``alias``) back to the version it held before; rolling back
    twice walks further back."""
    return _get_client().models.rollback(name, reason=reason, alias=alias)


def approve(ref: str, *, comment: str = "") -> ModelVersion:
    """Approve a version (a rejected one needs a comment)."""
    return _get_client().models.approve(ref, comment=comment)


def reject(ref: str, *, comment: str) -> ModelVersion:
    """Reject a version, saying why."""
    return _get_client().models.reject(ref, comment=comment)


def lineage(ref: str) -> Lineage:
    """Return version -> run -> datasets -> commit."""
    return _get_client().models.lineage(ref)


def models_from_dataset(ref: str) -> list[tuple[ModelVersion, str]]:
    """Return the model versions trained or validated on a dataset version, with the role."""
    return _get_client().models.models_from_dataset(ref)


def explain(
    ref: str,
    *,
    data: Any = None,
    target: str | None = None,
    methods: Sequence[str] | None = None,
    rows: int = 2000,
    repeats: int = 5,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[ModelExplanation]:
    """Compute a version's global feature importance and record it on the version, an
    attachment of the immutable version as its ONNX exports are (with a ``model.explained``
    event). Through a ``loopml server`` the model is loaded and explained here and the result
    recorded on the server.

    Args:
        ref: ``name@version`` (or an alias).
        data: Labelled rows: a dataset ref (``credit-test@1``), a DatasetVersion or a
            DataFrame; default: the version's validation dataset.
        target: The label column; default: the dataset's declared target.
        methods: ``permutation`` (scikit-learn's permutation importance: the drop of the
            score when a column is shuffled; any model) and/or ``shap`` (mean absolute SHAP
            value; tree and linear models). Default: permutation, plus shap where it applies.
        rows: Rows sampled (seeded) from the data, at most.
        repeats: Shuffles per column (the spread is their standard deviation).
        seed: Seeds the sample and the shuffles.
        progress: Called with (done, total) as the permutations are scored.

    Returns:
        The recorded explanations, one per method; each lists every input column, most
        important first.

    Raises:
        InvalidArgumentError: No data (the version has no validation dataset: pass data=),
            no target, bad counts, or ``shap`` asked for a model it does not cover.

    Example:
        >>> found = loopml.models.explain("credit@3", data="credit-test@1")  # doctest: +SKIP
        >>> [(f.feature, round(f.importance, 3)) for f in found[0].top(3)]  # doctest: +SKIP
    """
    return _get_client().models.explain(
        ref,
        data=data,
        target=target,
        methods=methods,
        rows=rows,
        repeats=repeats,
        seed=seed,
        progress=progress,
    )


def explanations(ref: str, *, method: str | None = None) -> list[ModelExplanation]:
    """Return the explanations recorded on a version (of one ``method``: ``permutation`` or
    ``shap``; or all), newest first."""
    return _get_client().models.explanations(ref, method=method)


def export_onnx(
    ref: str, *, holdout: Any = None, tolerance: float = 1e-5, rows: int = 2000
) -> ModelVersion:
    """Export a scikit-learn version to ONNX, accepted only when it predicts like the
    original on held-out rows (the version's validation dataset, or ``holdout``): class
    probabilities within ``tolerance`` and the same labels (regression: relative error
    within ``tolerance``). The check is recorded on the version; load the copy with
    ``load(ref, runtime="onnx")``.

    Raises:
        ModelExportError: The conversion failed or the copy differs (the message gives the
            counts; ``error.report`` holds the check).
    """
    return _get_client().models.export_onnx(ref, holdout=holdout, tolerance=tolerance, rows=rows)


@overload
def card(ref: str, *, format: None = None) -> ModelCard: ...
@overload
def card(ref: str, *, format: Literal["md", "html"]) -> str: ...


def card(ref: str, *, format: Literal["md", "html"] | None = None) -> ModelCard | str:
    """Compose the model card of a version (an alias works), from what the store holds.

    The card gathers the version's intended use (its description), training data with its
    profile, evaluations with their slices and intervals, fairness, gate results, derived
    limitations, lineage, approvals, alias history and explanations; see
    :class:`~loopml.governance.ModelCard`. It works the same through ``loopml server``.

    Args:
        ref: ``name@3``, ``name@champion``, ``name@latest`` or ``name``.
        format: None for the :class:`~loopml.governance.ModelCard` itself; ``"md"`` for
            Markdown, ``"html"`` for a self-contained HTML page.

    Returns:
        The card, or its text in ``format``.

    Raises:
        NotFoundError: No such model or version.
        InvalidArgumentError: An unknown format.

    Example:
        >>> text = loopml.models.card("credit-default@champion", format="md")  # doctest: +SKIP
    """
    from loopml.governance.cards import check_card_format, compose_card

    chosen = None if format is None else check_card_format(format)
    client = _get_client()
    composed = compose_card(
        ref,
        models=client.models,
        evaluations=client.evaluations,
        events=lambda subject: client.events(subject=subject, limit=None),
    )
    return composed if chosen is None else composed.render(chosen)
