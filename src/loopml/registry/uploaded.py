"""Registering a package a client uploaded (the remote SDK's registration, on the server).

The client checks and packages the model (:func:`~loopml.registry.registration.package_model`,
the round trip included) and uploads the files through the artifact proxy; the server then
registers the package by its manifest's digest: it reads the manifest (verified against its
digest), requires every payload file to be stored, resolves the datasets and the run, and
writes the version and its event with the token's user as the actor. The server never loads
the payload: a package is data to the server, so an editor cannot make it run code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loopml.core.entities import ModelManifest, ModelVersion
from loopml.core.errors import InvalidArgumentError, LoopmlError, NotFoundError
from loopml.core.ids import RunId
from loopml.registry.exports import record_export
from loopml.registry.flavors import get_flavor
from loopml.registry.package import read_manifest
from loopml.registry.refs import check_model_name
from loopml.registry.registration import Package, record_version

if TYPE_CHECKING:
    from loopml.registry.service import ModelRegistry

__all__ = ["register_export_uploaded", "register_uploaded", "stored_manifest"]


def stored_manifest(registry: ModelRegistry, name: str, digest: str) -> ModelManifest:
    """The uploaded package ``digest``'s manifest, once it and every file it lists are
    stored (the manifest verified against its digest, its flavor known).

    Raises:
        NotFoundError: The manifest or one of its files is not stored (naming them).
        InvalidArgumentError: The blob is not a manifest, or names an unknown flavor.
    """
    artifacts = registry.backend.artifacts
    if not artifacts.exists(digest):
        raise NotFoundError(
            f"Model {name!r}: the package manifest {digest} is not stored on the server. "
            "Upload the package's files and then its manifest through the artifact proxy "
            "first."
        )
    try:
        manifest = read_manifest(artifacts, digest, ref=f"{name} (upload)")
    except LoopmlError:
        raise
    except Exception as exc:  # the blob is not a manifest (JSON of another shape)
        raise InvalidArgumentError(
            f"Model {name!r}: blob {digest[:12]} is not a package manifest "
            f"({type(exc).__name__}: {exc}). Give the digest of the manifest that packaging "
            "wrote."
        ) from None
    get_flavor(manifest.flavor)
    missing = [f for f in manifest.files if not artifacts.exists(f.digest)]
    if missing:
        listed = ", ".join(f"{f.path} ({f.digest[:12]})" for f in missing[:5])
        raise NotFoundError(
            f"Model {name!r}: {len(missing)} file(s) of package {digest[:12]} are not stored "
            f"on the server: {listed}. Upload every file of the package through the artifact "
            "proxy first, then register it."
        )
    return manifest


def register_export_uploaded(
    registry: ModelRegistry,
    ref: str,
    *,
    manifest_digest: str,
    check: Mapping[str, Any],
) -> ModelVersion:
    """Record the uploaded ONNX package ``manifest_digest`` as the export of ``ref``, with the
    check the client made (its ``rows``, ``tolerance``, differences and ``holdout``).

    Raises:
        NotFoundError: The version, the manifest or one of its files is missing.
        InvalidArgumentError: The package is not ONNX, or its signature is not the version's.
    """
    version = registry.get(ref)
    manifest = stored_manifest(registry, version.name, manifest_digest)
    if manifest.flavor != "onnx" or manifest.signature != version.signature:
        raise InvalidArgumentError(
            f"Package {manifest_digest[:12]} is not an ONNX copy of {version.ref}: it is a "
            f"{manifest.flavor!r} package"
            + ("" if manifest.signature == version.signature else " with another signature")
            + ". Export with export_onnx, which packages the copy with the version's signature."
        )
    return record_export(registry, version, manifest_digest, check)


def register_uploaded(
    registry: ModelRegistry,
    name: str,
    *,
    manifest_digest: str,
    run_id: RunId | None = None,
    training_data: str | None = None,
    validation_data: str | None = None,
    code_commit: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register the stored package ``manifest_digest`` as the next version of ``name``.

    Raises:
        NotFoundError: The manifest, one of its files, a dataset or the run is missing (the
            message names it; upload the package's files first).
        ArtifactIntegrityError: The manifest's bytes do not match its digest.
        InvalidArgumentError: A bad name, or a manifest naming an unknown flavor.
    """
    check_model_name(name)
    if run_id is not None:
        registry.backend.tracking.get_run(run_id)
    manifest = stored_manifest(registry, name, manifest_digest)
    train = None if training_data is None else registry.datasets.get(training_data)
    valid = None if validation_data is None else registry.datasets.get(validation_data)
    package = Package(manifest=manifest, digest=manifest_digest, train=train, valid=valid)
    return record_version(
        registry,
        name,
        package,
        run_id=run_id,
        code_commit=code_commit,
        description=description,
        tags=tags,
    )
