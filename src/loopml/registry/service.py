""":class:`ModelRegistry`: registering, finding, reviewing, moving and loading model versions.

Registration (:mod:`loopml.registry.registration`) does every check before anything is
written, then stores the package and writes the version and its ``model.registered`` event in
one transaction. Loading verifies every package file against its manifest before the flavor
deserializes anything, trusting only the types the loader trusts (skops).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import (
    AliasMove,
    ApprovalStatus,
    DatasetVersion,
    Event,
    ModelManifest,
    ModelVersion,
    RegisteredModel,
)
from loopml.core.errors import (
    ApprovalRequiredError,
    InvalidArgumentError,
    NotFoundError,
    UntrustedTypesError,
    did_you_mean,
)
from loopml.core.ids import RunId, new_event_id
from loopml.core.settings import current_user
from loopml.data.service import DatasetService
from loopml.registry import aliases as alias_log
from loopml.registry.flavors import get_flavor
from loopml.registry.lineage import Lineage, build_lineage
from loopml.registry.loaded import PREDICTORS, Loaded, LoadedModel, Runtime, RuntimeChoice
from loopml.registry.package import fetch_package, read_manifest
from loopml.registry.refs import (
    CHAMPION,
    check_alias,
    check_model_name,
    parse_model_ref,
)
from loopml.registry.registration import RegisterOptions, register_model
from loopml.store.backend import Backend


class ModelRegistry:
    """The model registry over one :class:`~loopml.store.backend.Backend`.

    Args:
        backend: The stores.
        clock: Milliseconds since the epoch (injectable for tests).
    """

    def __init__(self, backend: Backend, *, clock: Clock = now_ms) -> None:
        self.backend = backend
        self.store = backend.models
        self.datasets = DatasetService(backend, clock=clock)
        self._clock = clock

    @property
    def actor(self) -> str:
        """Who is acting: ``LOOPML_USER`` or the login name."""
        return current_user(self.backend.settings)

    def now(self) -> int:
        """The registry clock (ms since the epoch)."""
        return self._clock()

    @property
    def cache_dir(self) -> Path:
        """Where package files are unpacked (and verified) before loading."""
        return self.backend.settings.home / "cache" / "models"

    # -- registration ------------------------------------------------------------------------

    def register(
        self,
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
        run_id: RunId | None = None,
    ) -> ModelVersion:
        """Register ``model`` as the next version of ``name``, produced by run ``run_id``; the
        options are :class:`~loopml.registry.registration.RegisterOptions`, documented at
        :func:`loopml.models.register`."""
        options = RegisterOptions(
            input_example=input_example,
            training_data=training_data,
            validation_data=validation_data,
            flavor=flavor,
            description=description,
            tags=tags,
            code_commit=code_commit,
            trusted_types=trusted_types,
        )
        return register_model(self, model, name, options, run_id=run_id)

    # -- finding -----------------------------------------------------------------------------

    def get(self, ref: str) -> ModelVersion:
        """Return the version named by ``name@3``, ``name@<alias>``, ``name@latest`` or
        ``name``."""
        parsed = parse_model_ref(ref)
        if parsed.version is not None:
            return self.store.get_version(parsed.name, parsed.version)
        if parsed.alias is not None:
            aliases = self.store.get_aliases(parsed.name)
            if parsed.alias not in aliases:
                self.store.list_versions(parsed.name)  # an unknown model says so first
                known = ", ".join(f"{a} -> {v}" for a, v in aliases.items()) or "none"
                raise NotFoundError(
                    f"Model {parsed.name!r} has no alias {parsed.alias!r} (its aliases: "
                    f"{known}).{did_you_mean(parsed.alias, aliases)} Set it with `loopml "
                    f"models alias {parsed.name} {parsed.alias} VERSION`."
                )
            return self.store.get_version(parsed.name, aliases[parsed.alias])
        return self.store.list_versions(parsed.name)[-1]

    def list_models(self) -> list[RegisteredModel]:
        """Return every registered model."""
        return self.store.list_models()

    def versions(self, name: str) -> list[ModelVersion]:
        """Return every version of a model, oldest first."""
        return self.store.list_versions(check_model_name(name))

    def aliases(self, name: str) -> dict[str, int]:
        """Return a model's aliases (alias -> version)."""
        self.store.list_versions(check_model_name(name))
        return self.store.get_aliases(name)

    def manifest(self, ref: str | ModelVersion) -> ModelManifest:
        """Return a version's package manifest (verified against its digest)."""
        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        return read_manifest(self.backend.artifacts, version.manifest_digest, ref=version.ref)

    # -- aliases -----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> AliasMove:
        """Point ``alias`` at ``name@version`` (recorded as an event with who and why).

        Raises:
            NotFoundError: The version does not exist.
            ApprovalRequiredError: ``champion`` to a version that is not approved (unless
                ``allow_unapproved_champion`` is set).
        """
        check_model_name(name)
        check_alias(alias)
        target = self.store.get_version(name, _version_number(version))
        self._check_approved(target, alias)
        return self._move(name, alias, target.version, reason=reason, rollback=False)

    def remove_alias(self, name: str, alias: str, *, reason: str = "") -> AliasMove:
        """Remove an alias (recorded as an event). Raises NotFoundError."""
        check_model_name(name)
        check_alias(alias)
        self.store.list_versions(name)
        return self._move(name, alias, None, reason=reason, rollback=False)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Return the moves of a model's aliases (or of one alias), oldest first."""
        check_model_name(name)
        events = self.backend.events.list_events(
            subject=alias_log.subject_of(name), kind=alias_log.ALIAS_MOVED
        )
        return alias_log.moves_from_events(name, events, alias)

    def rollback(self, name: str, *, reason: str, alias: str = CHAMPION) -> AliasMove:
        """Move ``alias`` back to the version it held before its current one; rolling back
        again walks further back.

        Raises:
            InvalidArgumentError: No reason given.
            ConflictError: The alias has no earlier version to return to.
        """
        from loopml.core.errors import ConflictError

        check_model_name(name)
        check_alias(alias)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidArgumentError(
                f"A rollback of {name}@{alias} needs a reason (who reads the audit log later "
                "needs to know why). Pass reason='...' (CLI: --reason)."
            )
        current, target = alias_log.rollback_target(self.alias_history(name, alias))
        if current is None:
            raise ConflictError(
                f"Model {name!r} has no {alias!r} alias to roll back. Set it with `loopml "
                f"models alias {name} {alias} VERSION`."
            )
        if target is None:
            raise ConflictError(
                f"Cannot roll back {name}@{alias}: it has held only version {current} since "
                "it was set, so there is no earlier version to return to."
            )
        self._check_approved(self.store.get_version(name, target), alias)
        return self._move(name, alias, target, reason=reason, rollback=True)

    def _check_approved(self, version: ModelVersion, alias: str) -> None:
        if alias != CHAMPION or version.approval is ApprovalStatus.APPROVED:
            return
        if self.backend.settings.allow_unapproved_champion:
            return
        raise ApprovalRequiredError(
            f"Cannot point {version.name}@{CHAMPION} at version {version.version}: it is "
            f"{version.approval.value}, and '{CHAMPION}' takes approved versions only. "
            f"Approve it first (`loopml models approve {version.ref} --comment ...`), or set "
            "LOOPML_ALLOW_UNAPPROVED_CHAMPION=true to allow it."
        )

    def _move(
        self, name: str, alias: str, version: int | None, *, reason: str, rollback: bool
    ) -> AliasMove:
        at = self._clock()
        actor = self.actor
        built: list[Event] = []

        def event(previous: int | None) -> Event:
            built.append(
                alias_log.alias_event(
                    name,
                    alias,
                    previous,
                    version,
                    actor=actor,
                    at=at,
                    reason=reason,
                    rollback=rollback,
                )
            )
            return built[-1]

        self.store.set_alias(name, alias, version, at=at, event=event)
        return alias_log.moves_from_events(name, built[-1:])[0]

    # -- review ------------------------------------------------------------------------------

    def approve(self, ref: str, *, comment: str = "") -> ModelVersion:
        """Approve a version. A rejected version needs a comment to be approved.

        Raises:
            InvalidArgumentError: Approving a rejected version without a comment.
        """
        version = self.get(ref)
        if version.approval is ApprovalStatus.REJECTED and not comment.strip():
            raise InvalidArgumentError(
                f"Model {version.ref} was rejected by {version.reviewer} "
                f"({version.review_comment!r}); approving it needs a comment that says why "
                "the rejection no longer holds. Pass comment='...' (CLI: --comment)."
            )
        return self._review(version, ApprovalStatus.APPROVED, comment)

    def reject(self, ref: str, *, comment: str) -> ModelVersion:
        """Reject a version, saying why.

        Raises:
            InvalidArgumentError: No comment given.
        """
        version = self.get(ref)
        if not isinstance(comment, str) or not comment.strip():
            raise InvalidArgumentError(
                f"Rejecting {version.ref} needs a comment that says why. Pass comment='...' "
                "(CLI: --comment)."
            )
        return self._review(version, ApprovalStatus.REJECTED, comment)

    def _review(self, version: ModelVersion, status: ApprovalStatus, comment: str) -> ModelVersion:
        at, actor = self._clock(), self.actor
        event = Event(
            event_id=new_event_id(),
            kind=f"model.{status.value}",
            subject=f"model:{version.ref}",
            actor=actor,
            at=at,
            reason=comment,
            data={"from": version.approval.value, "to": status.value},
        )
        return self.store.set_approval(
            version.name,
            version.version,
            status=status,
            reviewer=actor,
            comment=comment,
            at=at,
            event=event,
        )

    # -- lineage -----------------------------------------------------------------------------

    def lineage(self, ref: str) -> Lineage:
        """Return version -> run -> datasets -> commit for a version."""
        return build_lineage(self, self.get(ref))

    def models_from_dataset(self, ref: str) -> list[tuple[ModelVersion, str]]:
        """Return the model versions trained or validated on a dataset version."""
        dataset = self.datasets.get(ref)
        return self.store.versions_using_dataset(dataset.name, dataset.version)

    # -- exports -----------------------------------------------------------------------------

    def export_onnx(
        self,
        ref: str,
        *,
        holdout: Any = None,
        tolerance: float = 1e-5,
        rows: int = 2000,
    ) -> ModelVersion:
        """Export a scikit-learn version to ONNX, accepted only if it predicts like the
        original on held-out rows; see :func:`loopml.models.export_onnx`."""
        from loopml.registry.exports import export_version

        return export_version(self, self.get(ref), holdout=holdout, tolerance=tolerance, rows=rows)

    # -- loading -----------------------------------------------------------------------------

    def load(
        self,
        ref: str | ModelVersion,
        *,
        runtime: RuntimeChoice = "native",
        unseen: str = "allow",
        extra: str = "drop",
        trusted_types: Sequence[str] = (),
    ) -> LoadedModel:
        """Load a version (cached per process); see :func:`loopml.models.load`."""
        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        chosen = resolve_runtime(version, runtime)
        export = version.export("onnx")
        digest = export.manifest_digest if chosen == "onnx" and export else version.manifest_digest
        trusted = loader_trust(self.backend.settings.trusted_types, trusted_types)

        def load_package() -> Loaded:
            manifest = read_manifest(self.backend.artifacts, digest, ref=version.ref)
            folder = fetch_package(
                self.backend.artifacts, manifest, self.cache_dir, ref=version.ref, key=digest
            )
            flavor = get_flavor(manifest.flavor)
            try:
                return manifest, flavor.load(folder, manifest.details, trusted=trusted)
            except UntrustedTypesError as exc:
                raise _refused(version, exc) from None

        # A package is immutable (named by its digest): a hit needs no read at all. What the
        # loader trusts is part of the key, so a load trusting less checks the types again.
        key = (digest, chosen, trusted)
        manifest, predictor = PREDICTORS.get_or_load(key, load_package)
        return LoadedModel(version, manifest, predictor, runtime=chosen, unseen=unseen, extra=extra)


def loader_trust(setting: str | None, trusted_types: Sequence[str]) -> frozenset[str]:
    """The types a loader trusts beyond skops' defaults: ``LOOPML_TRUSTED_TYPES``
    (comma-separated) and the ``trusted_types`` of the call.

    Raises:
        InvalidArgumentError: ``trusted_types`` is a string or holds something else.

    Example:
        >>> sorted(loader_trust("a.B, c.D", ["e.F"]))
        ['a.B', 'c.D', 'e.F']
    """
    if isinstance(trusted_types, str) or not all(isinstance(t, str) for t in trusted_types):
        raise InvalidArgumentError(
            "The 'trusted_types' parameter of load must be a list of qualified type names "
            f"(e.g. ['sklearn.tree._tree.Tree']). Got {trusted_types!r:.100} instead."
        )
    from_setting = [t.strip() for t in (setting or "").split(",")]
    return frozenset(t for t in (*from_setting, *trusted_types) if t)


def _refused(version: ModelVersion, exc: UntrustedTypesError) -> UntrustedTypesError:
    types = list(exc.types)
    return UntrustedTypesError(
        f"Model {version.ref} is refused: its {version.flavor} payload names types this loader "
        f"does not trust: {types}. Nothing of it was imported or run. The registrant declared "
        "what the model needs, but that is not a decision for the loader: review the types "
        f"(`loopml models show {version.ref} --json`, details.untrusted_types), and if you "
        f"trust them, load with trusted_types={types!r} or set "
        f"LOOPML_TRUSTED_TYPES={','.join(types)}.",
        types=types,
    )


def resolve_runtime(version: ModelVersion, runtime: str) -> Runtime:
    """The runtime a version is loaded with: ``native``, ``onnx``, or for ``auto`` the
    checked ONNX export when the version has one and onnxruntime is installed, else native.

    Raises:
        InvalidArgumentError: ``runtime`` is none of ``native``, ``onnx``, ``auto``.
        NotFoundError: ``onnx`` for a version without an ONNX export.
    """
    if runtime == "native":
        return "native"
    if runtime == "onnx":
        if version.export("onnx") is None:
            raise NotFoundError(
                f"Model {version.ref} has no ONNX export. Create one with `loopml models "
                f"export {version.ref}` (it is checked against the original first)."
            )
        return "onnx"
    if runtime != "auto":
        raise InvalidArgumentError(
            f"The 'runtime' parameter of load must be 'native', 'onnx' or 'auto'. Got "
            f"{runtime!r} instead."
        )
    if version.export("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
        return "native"
    return "onnx"


def _version_number(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidArgumentError(f"A model version is a number from 1. Got {version!r} instead.")
    return version
