""":class:`ModelRegistry`: registering, finding, reviewing, moving and loading model versions.

Registration (:mod:`loopml.registry.registration`) does every check before anything is
written, then stores the package and writes the version and its ``model.registered`` event in
one transaction. Loading verifies every package file against its manifest before the flavor
deserializes anything, trusting only the types the loader trusts (skops).
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import (
    AliasMove,
    ApprovalStatus,
    DatasetVersion,
    ModelExplanation,
    ModelManifest,
    ModelVersion,
    RegisteredModel,
)
from loopml.core.errors import (
    InvalidArgumentError,
    NotFoundError,
    UnapprovedVersionWarning,
    UntrustedTypesError,
    did_you_mean,
)
from loopml.core.ids import RunId
from loopml.core.settings import current_user
from loopml.data.service import DatasetService
from loopml.registry import aliases as alias_log
from loopml.registry.changes import ChangeRules
from loopml.registry.flavors import get_flavor
from loopml.registry.lineage import Lineage, build_lineage
from loopml.registry.loaded import PREDICTORS, Loaded, LoadedModel, Runtime, RuntimeChoice
from loopml.registry.package import fetch_package, read_manifest
from loopml.registry.refs import (
    CHAMPION,
    check_alias,
    check_model_name,
    check_version_number,
    parse_model_ref,
)
from loopml.registry.registration import RegisterOptions, register_model
from loopml.store.backend import Backend
from loopml.store.protocols import ArtifactStore

#: Says which version a bare model name resolved to (INFO; the CLI prints it).
_log = logging.getLogger("loopml.registry")


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
        ``name``.

        A bare ``name`` means the latest version, as ``name@latest`` does. When that version
        is not approved while the model has a champion, an :class:`UnapprovedVersionWarning`
        names both (Python shows each message once; the CLI prints it as a ``warning:``
        line): say ``name@champion``, or ``name@latest`` to mean the latest on purpose.
        Otherwise the version it resolved to is logged at INFO on ``loopml.registry`` (the CLI
        prints it as a ``note:`` line).

        Raises:
            InvalidArgumentError: A malformed reference.
            NotFoundError: No such model, version or alias.
        """
        version = self._resolve(ref)
        if isinstance(ref, str) and "@" not in ref and not self._warn_if_unapproved(version):
            _log.info("%r resolved to %s, its latest version.", ref, version.ref)
        return version

    def _resolve(self, ref: str) -> ModelVersion:
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

    def _warn_if_unapproved(self, latest: ModelVersion) -> bool:
        """Warn when a bare name's latest version is unapproved while a champion exists;
        return whether it warned."""
        if latest.approval is ApprovalStatus.APPROVED:
            return False
        champion = self.store.get_aliases(latest.name).get(CHAMPION)
        return warn_if_unapproved(latest, champion, stacklevel=4)

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
        version = ref if isinstance(ref, ModelVersion) else self._resolve(ref)
        return read_manifest(self.backend.artifacts, version.manifest_digest, ref=version.ref)

    # -- aliases and reviews: each decided in one change of the model (see changes.py) -------

    def _rules(self) -> ChangeRules:
        return ChangeRules(
            actor=self.actor,
            clock=self._clock,
            allow_unapproved_champion=self.backend.settings.allow_unapproved_champion,
        )

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> AliasMove:
        """Point ``alias`` at ``name@version`` (recorded as an event with who and why).

        The approval is checked in the same transaction as the move, under the model's lock,
        so a concurrent review cannot slip in between.

        Raises:
            NotFoundError: The version does not exist.
            ApprovalRequiredError: ``champion`` to a version that is not approved (unless
                ``allow_unapproved_champion`` is set).
        """
        check_model_name(name)
        check_alias(alias)
        number = check_version_number(version)
        rules = self._rules()
        return self.store.change(name, lambda c: rules.set_alias(c, alias, number, reason))

    def remove_alias(self, name: str, alias: str, *, reason: str = "") -> AliasMove:
        """Remove an alias (recorded as an event). Raises NotFoundError."""
        check_model_name(name)
        check_alias(alias)
        self.store.list_versions(name)
        rules = self._rules()
        return self.store.change(name, lambda c: rules.remove_alias(c, alias, reason))

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Return the moves of a model's aliases (or of one alias) in the order they were
        committed, oldest first."""
        check_model_name(name)
        return alias_log.moves_from_events(name, self.store.history(name), alias)

    def rollback(self, name: str, *, reason: str, alias: str = CHAMPION) -> AliasMove:
        """Move ``alias`` back to the version it held before its current one; rolling back
        again walks further back. The history is read, and the target checked, in the
        transaction of the move.

        Raises:
            InvalidArgumentError: No reason given.
            ConflictError: The alias has no earlier version to return to.
            ApprovalRequiredError: Rolling ``champion`` back to a version no longer approved.
        """
        check_model_name(name)
        check_alias(alias)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidArgumentError(
                f"A rollback of {name}@{alias} needs a reason (who reads the audit log later "
                "needs to know why). Pass reason='...' (CLI: --reason)."
            )
        self.store.list_versions(name)  # an unknown model says so (with "Did you mean")
        rules = self._rules()
        return self.store.change(name, lambda c: rules.rollback(c, alias, reason))

    def approve(self, ref: str, *, comment: str = "") -> ModelVersion:
        """Approve a version. A rejected version needs a comment to be approved.

        Raises:
            InvalidArgumentError: Approving a rejected version without a comment.
        """
        found, rules = self._resolve(ref), self._rules()
        return self.store.change(found.name, lambda c: rules.approve(c, found.version, comment))

    def reject(self, ref: str, *, comment: str) -> ModelVersion:
        """Reject a version, saying why.

        The current champion cannot be rejected (unless ``allow_unapproved_champion`` is
        set): move champion first (``rollback`` or ``set_alias``), then reject. This is checked
        in the transaction of the review, so a concurrent champion move cannot slip in.

        Raises:
            InvalidArgumentError: No comment given.
            ConflictError: The version is the current champion.
        """
        found = self._resolve(ref)
        if not isinstance(comment, str) or not comment.strip():
            raise InvalidArgumentError(
                f"Rejecting {found.ref} needs a comment that says why. Pass comment='...' "
                "(CLI: --comment)."
            )
        rules = self._rules()
        return self.store.change(found.name, lambda c: rules.reject(c, found.version, comment))

    # -- lineage -----------------------------------------------------------------------------

    def lineage(self, ref: str) -> Lineage:
        """Return version -> run -> datasets -> commit for a version."""
        return build_lineage(self, self._resolve(ref))

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

        return export_version(
            self, self._resolve(ref), holdout=holdout, tolerance=tolerance, rows=rows
        )

    # -- explanations ------------------------------------------------------------------------

    def explain(
        self,
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
        """Compute a version's global feature importance and record it on the version (one
        explanation per method, each with a ``model.explained`` event); see
        :func:`loopml.models.explain`."""
        from loopml.registry.explain import compute_explanations, record_explanation

        version = self._resolve(ref)
        found = compute_explanations(
            self,
            version,
            data=data,
            target=target,
            methods=methods,
            rows=rows,
            repeats=repeats,
            seed=seed,
            progress=progress,
        )
        return [record_explanation(self, version, e) for e in found]

    def explanations(self, ref: str, *, method: str | None = None) -> list[ModelExplanation]:
        """Return the explanations recorded on a version (of one ``method``, or all), newest
        first; see :func:`loopml.models.explanations`."""
        version = self._resolve(ref)
        found = self.store.list_explanations(version.name, version.version)
        return [e for e in reversed(found) if method is None or e.method == method]

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
        return load_version(
            self.backend.artifacts,
            version,
            cache_dir=self.cache_dir,
            trusted=loader_trust(self.backend.settings.trusted_types, trusted_types),
            runtime=runtime,
            unseen=unseen,
            extra=extra,
        )


def load_version(
    artifacts: ArtifactStore,
    version: ModelVersion,
    *,
    cache_dir: Path,
    trusted: frozenset[str],
    runtime: RuntimeChoice = "native",
    unseen: str = "allow",
    extra: str = "drop",
) -> LoadedModel:
    """Load ``version``'s package from ``artifacts`` (every file verified against the
    manifest before the flavor reads it; cached per process). The embedded registry loads
    from its store, the remote SDK through the server's artifact proxy."""
    chosen = resolve_runtime(version, runtime)
    export = version.export("onnx")
    digest = export.manifest_digest if chosen == "onnx" and export else version.manifest_digest

    def load_package() -> Loaded:
        manifest = read_manifest(artifacts, digest, ref=version.ref)
        folder = fetch_package(artifacts, manifest, cache_dir, ref=version.ref, key=digest)
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


def warn_if_unapproved(latest: ModelVersion, champion: int | None, *, stacklevel: int) -> bool:
    """Warn (:class:`UnapprovedVersionWarning`) when ``latest``, what a bare model name
    resolved to, is not approved while the model's champion is another version; return
    whether it warned. The embedded registry and the remote SDK call it alike."""
    if latest.approval is ApprovalStatus.APPROVED or champion in (None, latest.version):
        return False
    name = latest.name
    warnings.warn(
        f"{name!r} resolved to {latest.ref}, its latest version, which is "
        f"{latest.approval.value} while {name}@{CHAMPION} is version {champion}. Name the "
        f"version you mean: '{name}@{CHAMPION}' for the approved one, or '{name}@latest' "
        "to use the latest on purpose.",
        UnapprovedVersionWarning,
        stacklevel=stacklevel,
    )
    return True


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
