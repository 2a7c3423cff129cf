"""Registering a model: its options (:class:`RegisterOptions`, defined once), every check
made before anything is written, and the ``model.registered`` event.

Registration checks the name, the flavor, that the model is fitted, the datasets, the
signature, that the model accepts the input example, and that the saved package predicts
exactly like the object in memory. Only then is the package stored (content-addressed, so an
interrupted registration leaves no version behind, only unreferenced blobs) and the version
and its event written in one transaction.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.core.entities import (
    ColumnSchema,
    DatasetVersion,
    Event,
    ModelManifest,
    ModelSignature,
    ModelVersion,
)
from loopml.core.errors import (
    InvalidArgumentError,
    ModelExportError,
    UntrustedTypesError,
)
from loopml.core.ids import RunId, new_event_id
from loopml.registry.enforce import InputEnforcer
from loopml.registry.flavors import detect_flavor, get_flavor
from loopml.registry.flavors.base import Flavor, Predictor
from loopml.registry.package import store_package
from loopml.registry.signature import infer_inputs, infer_output, inputs_from_schema, to_frame

if TYPE_CHECKING:
    from loopml.registry.service import ModelRegistry
    from loopml.store.protocols import ArtifactStore

__all__ = [
    "CHECK_ROWS",
    "Package",
    "RegisterOptions",
    "package_model",
    "record_version",
    "register_model",
]

#: Rows of the training data used to check a model when no input example is given.
CHECK_ROWS = 20


@dataclass(frozen=True, kw_only=True)
class RegisterOptions:
    """What a registration takes besides the model and its name.

    The one definition of these options: :meth:`ModelRegistry.register
    <loopml.registry.service.ModelRegistry.register>`, :func:`loopml.models.register` and
    ``ActiveRun.log_model`` take them as keywords of the same names, types and defaults (a
    test holds their signatures to these fields) and build one of these. Each is documented
    at :func:`loopml.models.register`.

    Raises:
        InvalidArgumentError: A value of the wrong type.

    Example:
        >>> RegisterOptions(description="baseline", tags={"team": "risk"}).description
        'baseline'
    """

    input_example: Any = None
    training_data: DatasetVersion | str | None = None
    validation_data: DatasetVersion | str | None = None
    flavor: str | None = None
    description: str = ""
    tags: Mapping[str, Any] | None = None
    code_commit: str | None = None
    trusted_types: Sequence[str] = ()

    def __post_init__(self) -> None:
        values: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        for label in ("flavor", "code_commit"):
            if values[label] is not None and not isinstance(values[label], str):
                _bad(label, "a string or None", values[label])
        if not isinstance(values["description"], str):
            _bad("description", "a string", values["description"])
        if values["tags"] is not None and not isinstance(values["tags"], Mapping):
            _bad("tags", "a mapping of names to values, or None", values["tags"])
        types = values["trusted_types"]
        if (
            isinstance(types, str)
            or not isinstance(types, Sequence | Set)
            or not all(isinstance(t, str) and t for t in types)
        ):
            _bad("trusted_types", "a list of qualified type names", types)
        object.__setattr__(self, "trusted_types", tuple(self.trusted_types))


def _bad(label: str, expected: str, value: Any) -> None:
    example = " (e.g. ['sklearn.tree._tree.Tree'])" if label == "trusted_types" else ""
    raise InvalidArgumentError(
        f"The {label!r} parameter of register must be {expected}{example}. Got "
        f"{value!r:.100} ({type(value).__name__}) instead."
    )


@dataclass(frozen=True)
class Package:
    """A model saved, checked and stored as a package, not yet a version.

    Attributes:
        manifest: The package's manifest.
        digest: The manifest's digest (the package's identity in the artifact store).
        train: The training dataset version, if given.
        valid: The validation dataset version, if given.
    """

    manifest: ModelManifest
    digest: str
    train: DatasetVersion | None
    valid: DatasetVersion | None


def register_model(
    registry: ModelRegistry,
    model: Any,
    name: str,
    options: RegisterOptions,
    *,
    run_id: RunId | None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name``; see :func:`loopml.models.register`."""
    if run_id is not None:
        registry.backend.tracking.get_run(run_id)  # an unknown run stops it before any work
    package = package_model(
        model, name, options, datasets=registry.datasets, artifacts=registry.backend.artifacts
    )
    return record_version(
        registry,
        name,
        package,
        run_id=run_id,
        code_commit=options.code_commit,
        description=options.description,
        tags=options.tags,
    )


def package_model(
    model: Any,
    name: str,
    options: RegisterOptions,
    *,
    datasets: Any,
    artifacts: ArtifactStore,
) -> Package:
    """Check ``model`` (its flavor, that it is fitted, its datasets, its signature, that it
    accepts the example and predicts the same once saved and loaded back) and store its
    package in ``artifacts``. The embedded registry stores it in its own store, the remote
    SDK through the server's artifact proxy.

    Args:
        model: The fitted model.
        name: The registered model's name.
        options: What the registration was given.
        datasets: Where dataset refs are read (``get``, ``read_table``): the dataset service
            or its remote twin.
        artifacts: Where the package's files go.
    """
    from loopml.registry.refs import check_model_name

    check_model_name(name)
    chosen = _flavor(model, options)
    chosen.check_fitted(model)
    train = _dataset(datasets, options.training_data, "training_data")
    valid = _dataset(datasets, options.validation_data, "validation_data")
    example = _example(datasets, options.input_example, train)
    if options.input_example is not None:
        inputs = infer_inputs(options.input_example, schema=None if train is None else train.schema)
    elif train is not None:
        inputs = inputs_from_schema(train.schema)
    else:
        raise InvalidArgumentError(
            f"Cannot infer the signature of model {name!r}: pass input_example= (a few "
            "rows of the model's input, e.g. X.head()) or training_data= (the dataset "
            "version it was trained on, e.g. 'credit@3')."
        )
    frame = InputEnforcer(inputs).enforce(example)
    predictor = chosen.wrap(model)
    predictions, proba = call_on_example(predictor, frame, ref=name)
    inputs = probe_missing_values(predictor, frame, inputs)
    signature = ModelSignature(
        inputs=inputs,
        output=infer_output(predictions, classes=predictor.classes, has_proba=proba is not None),
    )
    with tempfile.TemporaryDirectory(prefix="loopml-package-") as tmp:
        folder = Path(tmp)
        details = chosen.save(model, folder)
        check_round_trip(
            chosen,
            folder,
            details,
            frame=frame,
            predictions=predictions,
            proba=proba,
            name=name,
            trusted=frozenset(options.trusted_types),
        )
        manifest, digest = store_package(
            folder, flavor=chosen, details=details, signature=signature, artifacts=artifacts
        )
    return Package(manifest=manifest, digest=digest, train=train, valid=valid)


def record_version(
    registry: ModelRegistry,
    name: str,
    package: Package,
    *,
    run_id: RunId | None,
    code_commit: str | None,
    description: str,
    tags: Mapping[str, Any] | None,
) -> ModelVersion:
    """Write a stored package as the next version of ``name`` with its event (one
    transaction), and the run's dataset inputs. The actor is the registry's (on a server:
    the token's user)."""
    run = None if run_id is None else registry.backend.tracking.get_run(run_id)
    if code_commit is None and run is not None:
        code_commit = run.tags.get("loopml.git.commit")
    manifest, train, valid = package.manifest, package.train, package.valid
    draft = ModelVersion(
        name=name,
        version=0,
        flavor=manifest.flavor,
        manifest_digest=package.digest,
        signature=manifest.signature,
        size_bytes=manifest.size_bytes,
        created_at=registry.now(),
        created_by=registry.actor,
        run_id=run_id,
        training_data=None if train is None else train.ref,
        validation_data=None if valid is None else valid.ref,
        code_commit=code_commit,
        description=description,
        tags={str(k): str(v) for k, v in (tags or {}).items()},
    )
    version = registry.store.create_version(draft, on_created=registered_event)
    if run_id is not None:
        for dataset, role in ((train, "train"), (valid, "validation")):
            if dataset is not None:
                registry.datasets.log_input(run_id, dataset, role)
    return version


def _flavor(model: Any, options: RegisterOptions) -> Flavor:
    flavor = options.flavor
    chosen = get_flavor(flavor) if flavor is not None else detect_flavor(model)
    if flavor is not None and not chosen.detect(model):
        raise InvalidArgumentError(
            f"The {type(model).__name__} object is not a {chosen.name!r} model; leave "
            "'flavor' unset to detect it."
        )
    if options.trusted_types and chosen.uses_pickle:
        raise InvalidArgumentError(
            f"The 'trusted_types' parameter of register applies to formats that check types "
            f"before loading (flavor='skops'); the {chosen.name!r} flavor pickles the model, "
            "and unpickling runs whatever the payload names. Pass flavor='skops' to save a "
            "scikit-learn model in a format that checks them, or drop trusted_types."
        )
    return chosen


def _dataset(datasets: Any, ref: str | DatasetVersion | None, label: str) -> DatasetVersion | None:
    if ref is None or isinstance(ref, DatasetVersion):
        return ref
    if not isinstance(ref, str):
        raise InvalidArgumentError(
            f"The {label!r} parameter must be a dataset ref like 'credit@3' or a "
            f"DatasetVersion. Got {type(ref).__name__} instead."
        )
    found: DatasetVersion = datasets.get(ref)
    return found


def _example(datasets: Any, example: Any, train: DatasetVersion | None) -> Any:
    if example is not None:
        return to_frame(example)
    if train is None:
        return None
    table = datasets.read_table(train).slice(0, CHECK_ROWS)
    return table.to_pandas()


def registered_event(version: ModelVersion) -> Event:
    """The audit event of a newly registered version (written in the same transaction)."""
    links: dict[str, str] = {}
    if version.run_id:
        links["run"] = version.run_id
    if version.training_data:
        links["train"] = version.training_data
    if version.validation_data:
        links["validation"] = version.validation_data
    return Event(
        event_id=new_event_id(),
        kind="model.registered",
        subject=f"model:{version.ref}",
        actor=version.created_by,
        at=version.created_at,
        reason=version.description,
        links=links,
        data={
            "flavor": version.flavor,
            "size_bytes": version.size_bytes,
            "manifest_digest": version.manifest_digest,
            "task": version.signature.output.task.value,
        },
    )


def call_on_example(predictor: Predictor, frame: pd.DataFrame, *, ref: str) -> tuple[Any, Any]:
    """Run the model on the example; a model that rejects it is a bad example."""
    try:
        predictions = np.asarray(predictor.predict(frame))
        proba = predictor.predict_proba(frame)
    except Exception as exc:  # the model's own error, whatever its library raises
        raise InvalidArgumentError(
            f"Model {ref!r} fails on its input example ({type(exc).__name__}: {exc}). The "
            f"example's columns are {list(frame.columns)}; pass rows shaped like the data the "
            "model was fitted on (without the target)."
        ) from exc
    if predictions.shape[:1] != (len(frame),):
        raise InvalidArgumentError(
            f"Model {ref!r} returned {predictions.shape} predictions for {len(frame)} example "
            "rows; predict must return one value per row."
        )
    return predictions, proba


def check_round_trip(
    flavor: Flavor,
    folder: Path,
    details: Mapping[str, Any],
    *,
    frame: pd.DataFrame,
    predictions: Any,
    proba: Any,
    name: str,
    trusted: Set[str] = frozenset(),
) -> None:
    """Load the saved payload back (trusting the types the registrant declared) and require
    the same predictions as the original."""
    try:
        reloaded = flavor.load(folder, details, trusted=trusted)
    except UntrustedTypesError as exc:
        raise InvalidArgumentError(
            f"Model {name!r} was not registered: saved with the {flavor.name} flavor it holds "
            f"types that skops does not trust by default and that were not declared: "
            f"{list(exc.types)}. If they are yours and you trust them, pass "
            f"trusted_types={list(exc.types)!r} to register; every loader will have to trust "
            "them too (load(..., trusted_types=...) or LOOPML_TRUSTED_TYPES)."
        ) from None
    again = np.asarray(reloaded.predict(frame))
    same = _equal(again, predictions)
    if same and proba is not None:
        again_proba = reloaded.predict_proba(frame)
        same = again_proba is not None and _equal(np.asarray(again_proba), np.asarray(proba))
    if not same:
        raise ModelExportError(
            f"Model {name!r} was not registered: after saving it with the {flavor.name} "
            "flavor and loading it back, it predicts differently on the input example. The "
            "model keeps state the flavor does not save; wrap it in a loopml PythonModel."
        )


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    return bool(np.array_equal(a, b))


def probe_missing_values(
    predictor: Predictor, frame: pd.DataFrame, inputs: tuple[ColumnSchema, ...]
) -> tuple[ColumnSchema, ...]:
    """Find which input columns the model can take a missing value in, and mark the others
    ``nullable=False`` so a null in them is the caller's error (a 422 naming the column),
    not a model failure.

    One call with a row per column (each with that column missing) settles it when the model
    accepts them all (trees, imputing pipelines); otherwise each column is tried alone.
    """
    candidates = [i for i, column in enumerate(inputs) if column.nullable]
    if not candidates:
        return inputs
    first = frame.iloc[0].to_dict()
    records = [{**first, inputs[i].name: None} for i in candidates]
    try:  # the same conversion a request goes through (nullable ints become floats, ...)
        base = InputEnforcer(inputs).enforce(records)
    except Exception:  # pragma: no cover - a nullable signature accepts missing values
        return inputs
    if _accepts(predictor, base):
        return inputs
    refused = {i for row, i in enumerate(candidates) if not _accepts(predictor, base.iloc[[row]])}
    return tuple(
        dataclasses.replace(column, nullable=False) if i in refused else column
        for i, column in enumerate(inputs)
    )


def _accepts(predictor: Predictor, frame: pd.DataFrame) -> bool:
    try:
        values = np.asarray(predictor.predict(frame))
    except Exception:  # the model's library refused missing values: that is the answer
        return False
    return values.shape[:1] == (len(frame),)
