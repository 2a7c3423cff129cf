"""What the remote proxies share: the error for a method that runs only on the server's
host, the path segments of names, and the server's artifact store."""

from __future__ import annotations

from urllib.parse import quote

from loopml.core.errors import LoopmlError, StoreError
from loopml.store.protocols import ArtifactStore

__all__ = ["needs_artifacts", "seg", "store_only"]


def seg(text: object) -> str:
    """``text`` as one path segment (quoted: a name never adds a segment)."""
    return quote(str(text), safe="")


def store_only(method: str, why: str = "") -> LoopmlError:
    """The error of a method the remote SDK cannot run: it needs the store itself."""
    return LoopmlError(
        f"{method} runs only against the store, not through a loopml server "
        f"(LOOPML_SERVER_URL is set){': ' + why if why else ''}. Run it on the server's host "
        "with the store's own settings (LOOPML_DB_URL / LOOPML_HOME, and LOOPML_SERVER_URL "
        "unset)."
    )


def needs_artifacts(artifacts: ArtifactStore | None, method: str) -> ArtifactStore:
    """The artifact proxy, or the error saying ``method`` needs it."""
    if artifacts is None:
        raise StoreError(
            f"{method} moves files through the server's artifact proxy, which this client "
            "was built without. Use loopml.LoopmlClient() with LOOPML_SERVER_URL set."
        )
    return artifacts
