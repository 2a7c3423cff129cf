"""Content hashing. loopml names stored bytes by their SHA-256 digest (64 hex digits)."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

ALGORITHM = "sha256"
CHUNK_SIZE = 1 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")


def hash_bytes(data: bytes) -> str:
    """Return the hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """Hash a binary stream to its end.

    Returns:
        The hex digest and the number of bytes read.
    """
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def is_digest(value: str) -> bool:
    """Tell whether ``value`` is a well-formed hex SHA-256 digest."""
    return _DIGEST.fullmatch(value) is not None
