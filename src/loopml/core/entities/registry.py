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
class ModelOutput:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "task": self.task.value,
            "dtype": self.dtype,
            "classes": list(self.classes),
            "has_proba": self.has_proba,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelOutput:
        """Build from :meth:`to_dict` output."""
        return cls(
            task=TaskKind(data["task"]),
            dtype=str(data["dtype"]),
            classes=tuple(data.get("classes", ())),
            has_proba=bool(data.get("has_proba", False)),
        )


@dataclass(frozen=True)
class ModelSignature:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "inputs": [column.to_dict() for column in self.inputs],
            "output": self.output.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        """Build from :meth:`to_dict` output."""
        return cls(
            inputs=tuple(ColumnSchema.from_dict(column) for column in data["inputs"]),
            output=ModelOutput.from_dict(data["output"]),
        )


@dataclass(frozen=True)
class PackageFile:
    """One payload file of a model package.

    Attributes:
        path: Relative path inside the package (``/``-separated).
        digest: SHA-256 of its bytes (64 hex digits); the file's blob in the artifact store.
        size: Size in bytes.
    """

    path: str
    digest: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"path": self.path, "digest": self.digest, "size": self.size}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PackageFile:
        """Build from :meth:`to_dict` output."""
        return cls(path=str(data["path"]), digest=str(data["digest"]), size=int(data["size"]))


@dataclass(frozen=True)
class ModelManifest:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "flavor": self.flavor,
            "loopml_version": self.loopml_version,
            "python_version": self.python_version,
            "libraries": dict(self.libraries),
            "requirements": list(self.requirements),
            "signature": self.signature.to_dict(),
            "files": [f.to_dict() for f in self.files],
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelManifest:
        """Build from :meth:`to_dict` output."""
        return cls(
            flavor=str(data["flavor"]),
            loopml_version=str(data["loopml_version"]),
            python_version=str(data["python_version"]),
            libraries={str(k): str(v) for k, v in data.get("libraries", {}).items()},
            requirements=tuple(str(r) for r in data.get("requirements", ())),
            signature=ModelSignature.from_dict(data["signature"]),
            files=tuple(PackageFile.from_dict(f) for f in data["files"]),
            details=dict(data.get("details", {})),
        )


@dataclass(frozen=True)
class ModelExport:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "format": self.format,
            "manifest_digest": self.manifest_digest,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "check": dict(self.check),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelExport:
        """Build from :meth:`to_dict` output."""
        return cls(
            format=str(data["format"]),
            manifest_digest=str(data["manifest_digest"]),
            created_at=int(data["created_at"]),
            created_by=str(data["created_by"]),
            check=dict(data.get("check", {})),
        )


@dataclass(frozen=True)
class ModelVersion:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "version": self.version,
            "flavor": self.flavor,
            "manifest_digest": self.manifest_digest,
            "signature": self.signature.to_dict(),
            "size_bytes": self.size_bytes,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "run_id": self.run_id,
            "training_data": self.training_data,
            "validation_data": self.validation_data,
            "code_commit": self.code_commit,
            "description": self.description,
            "tags": dict(self.tags),
            "approval": self.approval.value,
            "reviewer": self.reviewer,
            "review_comment": self.review_comment,
            "reviewed_at": self.reviewed_at,
            "exports": [e.to_dict() for e in self.exports],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        """Build from :meth:`to_dict` output."""
        run_id = data.get("run_id")
        reviewed_at = data.get("reviewed_at")
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            flavor=str(data["flavor"]),
            manifest_digest=str(data["manifest_digest"]),
            signature=ModelSignature.from_dict(data["signature"]),
            size_bytes=int(data["size_bytes"]),
            created_at=int(data["created_at"]),
            created_by=str(data["created_by"]),
            run_id=None if run_id is None else RunId(str(run_id)),
            training_data=data.get("training_data"),
            validation_data=data.get("validation_data"),
            code_commit=data.get("code_commit"),
            description=str(data.get("description", "")),
            tags={str(k): str(v) for k, v in data.get("tags", {}).items()},
            approval=ApprovalStatus(data.get("approval", "pending")),
            reviewer=data.get("reviewer"),
            review_comment=str(data.get("review_comment", "")),
            reviewed_at=None if reviewed_at is None else int(reviewed_at),
            exports=tuple(ModelExport.from_dict(e) for e in data.get("exports", ())),
        )


@dataclass(frozen=True)
class RegisteredModel:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "created_at": self.created_at,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "aliases": dict(self.aliases),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredModel:
        """Build from :meth:`to_dict` output."""
        return cls(
            name=str(data["name"]),
            created_at=int(data["created_at"]),
            latest_version=int(data["latest_version"]),
            versions=int(data["versions"]),
            aliases={str(k): int(v) for k, v in data.get("aliases", {}).items()},
        )


@dataclass(frozen=True)
class AliasMove:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "rollback": self.rollback,
            "event_id": self.event_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AliasMove:
        """Build from :meth:`to_dict` output."""
        before, after = data.get("from_version"), data.get("to_version")
        return cls(
            name=str(data["name"]),
            alias=str(data["alias"]),
            from_version=None if before is None else int(before),
            to_version=None if after is None else int(after),
            actor=str(data["actor"]),
            at=int(data["at"]),
            reason=str(data.get("reason", "")),
            rollback=bool(data.get("rollback", False)),
            event_id=str(data["event_id"]),
        )
