"""Model packages: a manifest plus payload files, each stored by content hash.

Writing: the flavor saves the payload into a fresh folder, every file goes into the artifact
store under its SHA-256 digest, and the manifest (flavor, versions, requirements, signature,
file hashes) is stored last, as JSON; its digest identifies the package.

Reading: the manifest is read (and verified against its digest), then every payload file is
streamed into a local cache folder, hashed as it is read, and checked against the manifest's
hash **before** the flavor deserializes anything. A changed byte means the package is refused
with an :class:`~loopml.core.errors.ArtifactIntegrityError` naming the file. A cached folder is
re-hashed on every load from disk, so tampering with the cache is caught too.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from loopml.core.entities import ModelManifest, ModelSignature, PackageFile
from loopml.core.errors import ArtifactIntegrityError, InvalidArgumentError, NotFoundError
from loopml.core.version import VERSION
from loopml.registry.flavors import library_versions
from loopml.registry.flavors.base import Flavor
from loopml.store.protocols import ArtifactStore

#: Marks a cache folder whose files were all verified when it was filled.
_COMPLETE = ".loopml-complete"
#: Read size when hashing files.
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _requirements() -> tuple[str, ...]:
    from loopml.tracking.capture import installed_packages

    return tuple(line for line in installed_packages().splitlines() if line)


def store_package(
    folder: Path,
    *,
    flavor: Flavor,
    details: Mapping[str, Any],
    signature: ModelSignature,
    artifacts: ArtifactStore,
) -> tuple[ModelManifest, str]:
    """Store the payload files of ``folder`` and then their manifest.

    Returns:
        The manifest and its digest (the package's identity).
    """
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = artifacts.put_file(path)
        files.append(PackageFile(path.relative_to(folder).as_posix(), blob.digest, blob.size))
    if not files:
        raise InvalidArgumentError(
            f"The {flavor.name} flavor wrote no files for this model; nothing can be stored."
        )
    manifest = ModelManifest(
        flavor=flavor.name,
        loopml_version=VERSION,
        python_version=platform.python_version(),
        libraries=library_versions(flavor),
        requirements=_requirements(),
        signature=signature,
        files=tuple(files),
        details=dict(details),
    )
    data = orjson.dumps(manifest.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    return manifest, artifacts.put_bytes(data).digest


def read_manifest(artifacts: ArtifactStore, digest: str, *, ref: str) -> ModelManifest:
    """Read and verify a package manifest.

    Raises:
        ArtifactIntegrityError: The manifest's bytes changed.
        NotFoundError: The manifest is missing from the artifact store.
    """
    try:
        data = artifacts.get_bytes(digest)
    except ArtifactIntegrityError as exc:
        raise ArtifactIntegrityError(
            f"Model {ref} is refused: its manifest (blob {digest[:12]}) no longer matches its "
            f"hash, so nothing in it can be trusted. {exc}"
        ) from None
    except NotFoundError:
        raise NotFoundError(
            f"Model {ref} cannot be loaded: its manifest (blob {digest[:12]}) is missing from "
            "the artifact store. The store was changed or the version was registered against "
            "another store; re-register the model."
        ) from None
    return ModelManifest.from_dict(orjson.loads(data))


def fetch_package(
    artifacts: ArtifactStore, manifest: ModelManifest, cache_root: Path, *, ref: str, key: str
) -> Path:
    """Return a local folder holding the package's files, each checked against the manifest.

    Args:
        artifacts: Where the files are stored.
        manifest: The package's manifest.
        cache_root: The folder that caches packages (one sub-folder per package).
        ref: ``name@version``, for messages.
        key: The package's identity (its manifest digest): the cache folder's name.

    Raises:
        ArtifactIntegrityError: A file's bytes do not match the manifest (the message names it).
        NotFoundError: A file is missing from the artifact store.
    """
    folder = cache_root / key
    if (folder / _COMPLETE).is_file():
        if _cache_intact(folder, manifest):
            return folder
        shutil.rmtree(folder, ignore_errors=True)  # a changed cache is refilled from the store
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache_root))
    try:
        for entry in manifest.files:
            dest = staging / entry.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            _copy_verified(artifacts, entry, dest, ref=ref)
        (staging / _COMPLETE).write_text(key)
        try:
            os.replace(staging, folder)
        except OSError:  # another process filled it first: use theirs
            if not (folder / _COMPLETE).is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _copy_verified(artifacts: ArtifactStore, entry: PackageFile, dest: Path, *, ref: str) -> None:
    """Stream one blob into the staging folder; the store's stream hashes what it returns
    and raises at the end on a mismatch, before the folder is ever renamed into place (so no
    fsync and no second hash are needed here: a torn cache file fails the next load's check
    and is refilled)."""
    try:
        with artifacts.open(entry.digest) as source, dest.open("wb") as sink:
            while chunk := source.read(_CHUNK):
                sink.write(chunk)
    except ArtifactIntegrityError as exc:
        raise ArtifactIntegrityError(
            f"Model {ref} is refused: its file {entry.path!r} does not match the SHA-256 "
            f"recorded in its manifest ({entry.digest[:12]}...), so it was not loaded. The "
            f"stored bytes were changed or damaged after registration. {exc}"
        ) from None
    except NotFoundError:
        raise NotFoundError(
            f"Model {ref} cannot be loaded: its file {entry.path!r} (blob "
            f"{entry.digest[:12]}) is missing from the artifact store. Re-register the model."
        ) from None


def _cache_intact(folder: Path, manifest: ModelManifest) -> bool:
    for entry in manifest.files:
        path = folder / entry.path
        if not path.is_file() or path.stat().st_size != entry.size or _sha256(path) != entry.digest:
            return False
    return True
