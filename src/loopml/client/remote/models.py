""":class:`RemoteModels`: the model registry of a ``loopml server``, with the methods of
:class:`~loopml.registry.ModelRegistry`.

Reads, reviews and alias moves are requests to the server's registry, which enforces every
rule and records the token's user as the actor. Loading downloads the package through the
artifact proxy (each file checked against its manifest) and loads it here. Registering
packages the model here, exactly as the embedded registry does (every check, the round trip
included), uploads the files, and asks the server to register the package by its digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.client.remote.paths import needs_artifacts, seg
from loopml.core.clock import now_ms
from loopml.core.entities import (
    AliasMove,
    DatasetVersion,
    ModelExplanation,
    ModelManifest,
    ModelVersion,
    RegisteredModel,
)
from loopml.core.ids import RunId
from loopml.core.settings import Settings, current_user
from loopml.registry.refs import (
    CHAMPION,
    check_alias,
    check_model_name,
    check_version_number,
    parse_model_ref,
)
from loopml.store.protocols import ArtifactStore
from loopml.store.remote import Transport, new_idempotency_key

if TYPE_CHECKING:
    from loopml.registry.lineage import Lineage
    from loopml.registry.loaded import LoadedModel, RuntimeChoice

__all__ = ["RemoteModels"]

#: Says which version a bare model name resolved to (INFO; the CLI prints it), as embedded.
_log = logging.getLogger("loopml.registry")


class RemoteModels:
    """The registry of a ``loopml server`` (stands for :class:`~loopml.registry.ModelRegistry`).

    Args:
        transport: The server.
        settings: The client's settings (the package cache, the trusted types).
        artifacts: The server's artifact proxy (loading and registering need it).
        datasets: The server's datasets (registering with ``training_data`` reads them).
    """

    def __init__(
        self,
        transport: Transport,
        settings: Settings,
        *,
        artifacts: ArtifactStore | None = None,
        datasets: Any = None,
    ) -> None:
        self.transport = transport
        self.settings = settings
        self.artifacts = artifacts
        self.datasets = datasets

    @property
    def actor(self) -> str:
        """Who this client says it is (the server records the token's user instead)."""
        return current_user(self.settings)

    def now(self) -> int:
        """This client's clock (ms since the epoch; the server stamps what it records)."""
        return now_ms()

    @property
    def cache_dir(self) -> Path:
        """Where package files are unpacked (and verified) before loading."""
        return self.settings.home / "cache" / "models"

    def _version_path(self, ref: str) -> str:
        parsed = parse_model_ref(ref)
        return f"/models/{seg(parsed.name)}/versions/{seg(str(parsed).partition('@')[2])}"

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
        """Register ``model`` as the next version of ``name`` on the server; see
        :func:`loopml.models.register`.

        The model is checked and packaged here, as the embedded registry does (the round trip
        included); its files go through the artifact proxy, and the server registers the
        package by its manifest's digest (the token's user is the registrant).
        """
        from loopml.registry.registration import RegisterOptions, package_model

        check_model_name(name)
        artifacts = needs_artifacts(self.artifacts, "ModelRegistry.register")
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
        package = package_model(model, name, options, datasets=self.datasets, artifacts=artifacts)
        body = {
            "manifest_digest": package.digest,
            "run_id": run_id,
            "training_data": None if package.train is None else package.train.ref,
            "validation_data": None if package.valid is None else package.valid.ref,
            "code_commit": code_commit,
            "description": description,
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        }
        path = f"/models/{seg(name)}/versions"
        return self.transport.post(path, ModelVersion, body, idempotency_key=new_idempotency_key())

    # -- finding -----------------------------------------------------------------------------

    def get(self, ref: str) -> ModelVersion:
        """The version named by ``name@3``, ``name@<alias>``, ``name@latest`` or ``name``
        (a bare name warns as the embedded registry does; see
        :meth:`ModelRegistry.get <loopml.registry.ModelRegistry.get>`)."""
        from loopml.registry.service import warn_if_unapproved

        version = self.transport.get(self._version_path(ref), ModelVersion)
        if isinstance(ref, str) and "@" not in ref:
            champion = self.aliases(version.name).get(CHAMPION)
            if not warn_if_unapproved(version, champion, stacklevel=3):
                _log.info("%r resolved to %s, its latest version.", ref, version.ref)
        return version

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model."""
        return self.transport.get("/models", list[RegisteredModel])

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        name = check_model_name(name)
        return self.transport.get(f"/models/{seg(name)}/versions", list[ModelVersion])

    def aliases(self, name: str) -> dict[str, int]:
        """A model's aliases (alias -> version)."""
        name = check_model_name(name)
        return self.transport.get(f"/models/{seg(name)}/aliases", dict[str, int])

    def manifest(self, ref: str | ModelVersion) -> ModelManifest:
        """A version's package manifest (verified by the server against its digest)."""
        text = ref.ref if isinstance(ref, ModelVersion) else ref
        return self.transport.get(self._version_path(text) + "/manifest", ModelManifest)

    # -- aliases and reviews -----------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> AliasMove:
        """Point ``alias`` at ``name@version``; ``champion`` needs an approver's token and an
        approved version (ApprovalRequiredError otherwise)."""
        name, alias = check_model_name(name), check_alias(alias)
        body = {"version": check_version_number(version), "reason": reason}
        path = f"/models/{seg(name)}/aliases/{seg(alias)}"
        return self.transport.post(path, AliasMove, body, idempotency_key=new_idempotency_key())

    def remove_alias(self, name: str, alias: str, *, reason: str = "") -> AliasMove:
        """Remove an alias (recorded as an event)."""
        name, alias = check_model_name(name), check_alias(alias)
        answer = self.transport.request(
            "DELETE",
            f"/models/{seg(name)}/aliases/{seg(alias)}",
            params={"reason": reason},
            idempotency_key=new_idempotency_key(),
        )
        from loopml.store.remote import decode

        return decode(AliasMove, answer.json())

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """The moves of a model's aliases (or of one alias), oldest first."""
        name = check_model_name(name)
        return self.transport.get(
            f"/models/{seg(name)}/alias-history", list[AliasMove], alias=alias
        )

    def rollback(self, name: str, *, reason: str, alias: str = CHAMPION) -> AliasMove:
        """Move ``alias`` back to the version it held before its current one."""
        name, alias = check_model_name(name), check_alias(alias)
        path = f"/models/{seg(name)}/aliases/{seg(alias)}/rollback"
        body = {"reason": reason}
        return self.transport.post(path, AliasMove, body, idempotency_key=new_idempotency_key())

    def approve(self, ref: str, *, comment: str = "") -> ModelVersion:
        """Approve a version (an approver's token)."""
        path = self._version_path(ref) + "/approve"
        body = {"comment": comment}
        return self.transport.post(path, ModelVersion, body, idempotency_key=new_idempotency_key())

    def reject(self, ref: str, *, comment: str) -> ModelVersion:
        """Reject a version, saying why (an approver's token)."""
        path = self._version_path(ref) + "/reject"
        body = {"comment": comment}
        return self.transport.post(path, ModelVersion, body, idempotency_key=new_idempotency_key())

    # -- lineage -----------------------------------------------------------------------------

    def lineage(self, ref: str) -> Lineage:
        """Version -> run -> datasets -> commit."""
        from loopml.registry.lineage import Lineage

        return self.transport.get(self._version_path(ref) + "/lineage", Lineage)

    def models_from_dataset(self, ref: str) -> list[tuple[ModelVersion, str]]:
        """The model versions trained or validated on a dataset version."""
        from loopml.data.refs import parse_ref

        parsed = parse_ref(ref)
        selector = "latest" if parsed.version is None else str(parsed.version)
        path = f"/datasets/{seg(parsed.name)}/versions/{seg(selector)}/models"
        return self.transport.get(path, list[tuple[ModelVersion, str]])

    # -- exports -----------------------------------------------------------------------------

    def export_onnx(
        self,
        ref: str,
        *,
        holdout: Any = None,
        tolerance: float = 1e-5,
        rows: int = 2000,
    ) -> ModelVersion:
        """Export a scikit-learn version to ONNX here, checked against the original on
        held-out rows (as embedded), upload the copy and record it on the server; see
        :func:`loopml.models.export_onnx`."""
        from loopml.registry.exports import package_export

        artifacts = needs_artifacts(self.artifacts, "ModelRegistry.export_onnx")
        version = self.get(ref)
        digest, check = package_export(
            self, version, holdout=holdout, tolerance=tolerance, rows=rows, artifacts=artifacts
        )
        path = self._version_path(version.ref) + "/exports"
        body = {"manifest_digest": digest, "check": check}
        return self.transport.post(path, ModelVersion, body, idempotency_key=new_idempotency_key())

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
        """Compute a version's global importance here (the model is loaded here, as
        embedded) and record it on the server, which never loads the model; see
        :func:`loopml.models.explain`."""
        from loopml.registry.explain import compute_explanations

        version = self.get(ref)
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
        path = self._version_path(version.ref) + "/explanations"
        keep = ("explanation_id", "method", "dataset", "rows", "features", "details")
        return [
            self.transport.post(path, ModelExplanation, {k: e.to_dict()[k] for k in keep})
            for e in found
        ]

    def explanations(self, ref: str, *, method: str | None = None) -> list[ModelExplanation]:
        """The explanations recorded on a version, newest first."""
        path = self._version_path(ref) + "/explanations"
        return self.transport.get(path, list[ModelExplanation], method=method)

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
        """Load a version here, its package downloaded through the artifact proxy (each file
        verified); see :func:`loopml.models.load`."""
        from loopml.registry.service import load_version, loader_trust

        artifacts = needs_artifacts(self.artifacts, "ModelRegistry.load")
        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        return load_version(
            artifacts,
            version,
            cache_dir=self.cache_dir,
            trusted=loader_trust(self.settings.trusted_types, trusted_types),
            runtime=runtime,
            unseen=unseen,
            extra=extra,
        )
