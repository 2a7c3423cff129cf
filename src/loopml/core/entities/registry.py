"""Registry entities: model versions, their signature and package manifest, exports.

A :class:`ModelVersion` is immutable once registered: its package (a manifest plus payload
files, each stored by content hash) never changes. What moves is around it: aliases
(``champion``, ``challenger``, ...) point at versions, and the approval status of a version
is reviewed; every such move is an :class:`~loopml.core.entities.events.Event`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.entities.data import ColumnSchema
from loopml.core.ids import RunId
from loopml.core.jsonable import Jsonable


class ApprovalStatus(enum.StrEnum):
    """The review state of a model version."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class TaskKind(enum.StrEnum):
    """What a model predicts, which decides its outputs and how it is evaluated."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    OTHER = "other"

    @property
    def is_classification(self) -> bool:
        """True for binary and multiclass classifiers."""
        return self in (TaskKind.BINARY, TaskKind.MULTICLASS)


@dataclass(frozen=True)
class ModelOutput(Jsonable):
    """What ``predict`` returns.

    Attributes:
        task: The kind of prediction.
        dtype: Arrow type (as text) of the values ``predict`` returns.
        classes: Class labels of a classifier, in the order of ``predict_proba``'s columns
            (JSON scalars: str, int, float or bool); empty for other tasks.
        has_proba: Whether the model offers ``predict_proba``.
    """

    task: TaskKind
    dtype: str
    classes: tuple[Any, ...] = ()
    has_proba: bool = False


@dataclass(frozen=True)
class ModelSignature(Jsonable):
    """The columns a model takes and what it returns.

    Input columns reuse the dataset :class:`~loopml.core.entities.data.ColumnSchema` (Arrow
    type, role, nullability, known categories), so a signature and a dataset schema compare
    directly.

    Attributes:
        inputs: Input columns, in the order the model expects them.
        output: What ``predict`` returns.
    """

    inputs: tuple[ColumnSchema, ...]
    output: ModelOutput

    @property
    def input_names(self) -> tuple[str, ...]:
        """The input column names, in order."""
        return tuple(column.name for column in self.inputs)


@dataclass(frozen=True)
class PackageFile(Jsonable):
    """One payload file of a model package.

    Attributes:
        path: Relative path inside the package (``/``-separated).
        digest: SHA-256 of its bytes (64 hex digits); the file's blob in the artifact store.
        size: Size in bytes.
    """

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class ModelManifest(Jsonable):
    """The description of a model package: how to load it and what it needs.

    Attributes:
        flavor: The flavor that wrote and loads the payload (``sklearn``, ``xgboost``, ...).
        loopml_version: The loopml version that wrote the package.
        python_version: The Python version it was written with.
        libraries: Versions of the libraries the flavor needs (``{"scikit-learn": "1.5.2"}``).
        requirements: Installed distributions when the model was logged (``name==version``).
        signature: Inputs and output.
        files: The payload files with their hashes, checked before anything is loaded.
        details: Flavor-specific facts (estimator class, file format, ...), JSON-ready.
    """

    flavor: str
    loopml_version: str
    python_version: str
    libraries: Mapping[str, str]
    requirements: tuple[str, ...]
    signature: ModelSignature
    files: tuple[PackageFile, ...]
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        """Total size of the payload files."""
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class ModelExport(Jsonable):
    """A converted copy of a version (ONNX), accepted after an equivalence check.

    Attributes:
        format: ``onnx``.
        manifest_digest: The export's package manifest in the artifact store.
        created_at: Milliseconds since the epoch.
        created_by: Who exported it.
        check: The equivalence check: ``rows``, ``tolerance``, ``max_abs_diff``,
            ``label_mismatches`` (JSON-ready).
    """

    format: str
    manifest_digest: str
    created_at: int
    created_by: str
    check: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion(Jsonable):
    """One immutable version of a registered model, with its lineage and review.

    Attributes:
        name: The registered model's name.
        version: 1, 2, ... per name, assigned by the store.
        flavor: The flavor of its package.
        manifest_digest: Its package manifest in the artifact store.
        signature: Inputs and output (also in the manifest; kept here for queries).
        size_bytes: Total size of the package's payload.
        created_at: Milliseconds since the epoch.
        created_by: Who registered it.
        run_id: The run that produced it, if any.
        training_data: The training dataset version (``credit@3``), if known.
        validation_data: The validation dataset version, if known.
        code_commit: The git commit of the code that trained it, if known.
        description: Free text.
        tags: Free key/value labels.
        approval: The review status.
        reviewer: Who approved or rejected it.
        review_comment: Why.
        reviewed_at: When (ms since the epoch).
        exports: Converted copies (ONNX), oldest first.
    """

    name: str
    version: int
    flavor: str
    manifest_digest: str
    signature: ModelSignature
    size_bytes: int
    created_at: int
    created_by: str
    run_id: RunId | None = None
    training_data: str | None = None
    validation_data: str | None = None
    code_commit: str | None = None
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    approval: ApprovalStatus = ApprovalStatus.PENDING
    reviewer: str | None = None
    review_comment: str = ""
    reviewed_at: int | None = None
    exports: tuple[ModelExport, ...] = ()

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def export(self, format: str) -> ModelExport | None:
        """Return the newest export in ``format``, or None."""
        found = [e for e in self.exports if e.format == format]
        return found[-1] if found else None


@dataclass(frozen=True)
class RegisteredModel(Jsonable):
    """A model name with its versions' summary and current aliases.

    Attributes:
        name: The registered name.
        created_at: When its first version was registered (ms since the epoch).
        latest_version: The highest version number.
        versions: How many versions it has.
        aliases: Alias name -> version number.
    """

    name: str
    created_at: int
    latest_version: int
    versions: int
    aliases: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AliasMove(Jsonable):
    """One move of an alias, read from its ``alias.moved`` event.

    Attributes:
        name: The registered model.
        alias: The alias that moved.
        from_version: The version it pointed at before (None when it was new).
        to_version: The version it points at after (None when it was removed).
        actor: Who moved it.
        at: When (ms since the epoch).
        reason: Why.
        rollback: True when the move was a rollback.
        event_id: The event that records it.
    """

    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: int
    reason: str
    rollback: bool
    event_id: str
