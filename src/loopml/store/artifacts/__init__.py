"""Content-addressed artifacts over a small fsspec seam.

- :mod:`loopml.store.artifacts.cas`: :class:`ContentAddressedStore`, the
  :class:`~loopml.store.protocols.ArtifactStore` (stored once by SHA-256, written atomically,
  verified on every read).
- :mod:`loopml.store.artifacts.fs`: :class:`ObjectFS`, whole objects by key under a local
  folder or any fsspec URL.

Importing this package does not import fsspec; it is loaded when a remote URL is opened.

Example:
    >>> store = open_artifact_store("memory://artifacts-doc-example")
    >>> blob = store.put_bytes(b"model bytes")
    >>> store.get_bytes(blob.digest)
    b'model bytes'
    >>> store.delete(blob.digest)
"""

from __future__ import annotations

from loopml.store.artifacts.cas import ContentAddressedStore
from loopml.store.artifacts.fs import ObjectFS

__all__ = ["ContentAddressedStore", "ObjectFS", "open_artifact_store"]


def open_artifact_store(url: str) -> ContentAddressedStore:
    """Open the artifact store at ``url``: a local folder or any fsspec URL.

    A local folder is created on the first write.

    Args:
        url: A folder path (``~`` expanded) or an fsspec URL (``file://``, ``s3://``,
            ``gs://``, ``az://``, ``memory://``, ...).

    Returns:
        The store.

    Raises:
        InvalidArgumentError: ``url`` is empty or has an unknown scheme.
        PermissionDeniedError: A local folder cannot be created there (a file is in the way).
        ImportError: The fsspec implementation for the scheme is not installed.
    """
    return ContentAddressedStore(url)
